"""Classifying with a prompt: the recipe, worked examples, scoring, evaluation, comparisons and saved recipes."""
