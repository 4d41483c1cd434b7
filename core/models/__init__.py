"""The three detectors (CNN, Capsule Network, Xception), chosen by name from a registry."""

from core.models.registry import build, get_builder, list_models, register

__all__ = ["build", "get_builder", "list_models", "register"]
