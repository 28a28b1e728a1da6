"""Data common to every task: reading uploads, the prepared-dataset store, splits and the built-in sample datasets."""
