"""Image classification: image files, safe zips, transforms, datasets, models and the training pipeline."""
