"""Replays before approval: a version in review and the approved version answer the same user turns.

models.py    PromptSet, Replay, ReplayItem (both answers of one turn or prompt, side by side)
sources.py   what is replayed: recent turns, chosen conversations' turns, a prompt set (read only)
services.py  start and cancel (reviewers only), prompt sets; every change audited
runner.py    the run: each item through both versions by the metered call, within the token budget
selectors.py reads for the API and pages, and the totals with their differences
admin.py     read-only admin
"""
