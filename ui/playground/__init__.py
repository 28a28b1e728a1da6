"""The Playground: predictions from trained models, one view per task."""
