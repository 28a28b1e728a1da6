"""Settings as frozen dataclasses: the knob field and its checks, the one catalog of tasks and models, TrainConfig and
presets."""
