"""Pretrained causal language models: loading (with one LoRA merge), decoding settings, streaming and prediction."""
