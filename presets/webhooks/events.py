"""The events an endpoint may subscribe to; `emit` refuses any other name, so a typo fails loudly."""

from __future__ import annotations

VERSION_SUBMITTED = "preset.version_submitted"
VERSION_APPROVED = "preset.version_approved"
VERSION_REJECTED = "preset.version_rejected"
LABEL_MOVED = "preset.label_moved"
EXPERIMENT_STARTED = "experiment.started"
EXPERIMENT_STOPPED = "experiment.stopped"
EXPERIMENT_PROMOTED = "experiment.promoted"

EVENTS = (
    VERSION_SUBMITTED,
    VERSION_APPROVED,
    VERSION_REJECTED,
    LABEL_MOVED,
    EXPERIMENT_STARTED,
    EXPERIMENT_STOPPED,
    EXPERIMENT_PROMOTED,
)
