"""A/B experiments: traffic of one preset split between approved versions, measured per variant.

models.py      Experiment and ExperimentVariant (variants and weights frozen once started)
assignment.py  the deterministic, sticky bucket of a unit (user or conversation): no lookup table
statistics.py  confidence intervals, the primary metric's test, sample-ratio mismatch (scipy.stats)
services.py    create, start (or resume), pause, stop, promote: each audited as `experiment.*`
selectors.py   the running experiment a new conversation of a preset joins
admin.py       the read-only staff view

The metrics come from conversations' tables (conversations/experiment_metrics.py), and the API
lives with them (conversations/api/experiments.py): presets may not import conversations.
"""
