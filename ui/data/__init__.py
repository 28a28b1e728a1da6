"""The Data page's sections, one per kind of data, and the list of saved datasets."""
