"""Encoders and the registry that names them."""

from medsearch.models.registry import DEFAULT_MODEL, ModelSpec, list_models, load_encoder, resolve

__all__ = ["DEFAULT_MODEL", "ModelSpec", "list_models", "load_encoder", "resolve"]
