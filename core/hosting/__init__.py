"""Sharing one installation: its settings, the people who sign in, the job queue, the GPUs and which are free."""
