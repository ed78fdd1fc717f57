"""PII detection (`detectors.detect`) and reversible redaction (`redact`), offline and Django-free."""
