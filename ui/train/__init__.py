"""The Train page: the form that builds one TrainConfig."""
