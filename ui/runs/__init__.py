"""The Runs page: live progress, evaluation, comparisons, writing samples and the queue."""
