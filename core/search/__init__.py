"""Find good settings for me: an Optuna search over the settings that matter, within a time budget, whose every
try is an ordinary run through the job queue (`python -m core.search.driver SEARCH_DIR`)."""
