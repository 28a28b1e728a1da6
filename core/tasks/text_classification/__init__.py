"""Text classification: checking labelled texts, the classifier models and the training pipeline."""
