"""The model catalogue lives in chatpresets.llm.catalogue (presets check models too); kept for importers here."""

from __future__ import annotations

from chatpresets.llm.catalogue import ModelSpec, catalogue, default_model, get_model

__all__ = ["ModelSpec", "catalogue", "default_model", "get_model"]
