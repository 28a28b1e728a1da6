"""Causal language models, one stack for the Prompt lab, the Playground and training samples: loading (with the one
LoRA merge), decoding settings, stop handling, writing (with the one context rule) and the predictor."""
