"""The Prompt lab's panels: models, classify, evaluate, draws, compare and free writing."""
