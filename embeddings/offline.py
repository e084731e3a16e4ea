"""Offline guard: set the hub flags before any Hugging Face library is imported."""

import os

_FLAGS = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "TOKENIZERS_PARALLELISM": "false",
}


def force_offline() -> None:
    """Set the environment flags that keep Hugging Face libraries off the network."""
    for key, value in _FLAGS.items():
        os.environ[key] = value
