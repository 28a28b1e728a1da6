"""The training engine: the run folder contract, the Trainer set-up, the worker process, process control, metrics,
the baseline ladder written with every evaluation, and charts."""
