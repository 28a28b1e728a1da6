"""Tables: column roles, preprocessing, the dataset split, the table network and the training pipeline."""
