"""Cost controls live in chatpresets.llm.cost_controls (presets check them too); kept for importers here."""

from __future__ import annotations

from chatpresets.llm.cost_controls import CostControls, ModelNotAllowed, controls_for

__all__ = ["CostControls", "ModelNotAllowed", "controls_for"]
