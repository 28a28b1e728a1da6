"""AI Playground's engine: data, configs, models, training runs and inference.

The boundary: nothing in this package imports streamlit. Pages are a skin over these modules, and the training
worker (`python -m core.engine.worker RUN_DIR`) runs them without any UI at all.
"""
