"""Text generation: the text data, tokenizers, training blocks, models, callbacks and the training pipeline."""
