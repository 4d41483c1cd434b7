"""Deepfake detectors, one file per model, each registering a spec in :mod:`.registry`."""

from core.models.registry import ModelSpec, build, get_spec, list_models, register

__all__ = ["ModelSpec", "build", "get_spec", "list_models", "register"]
