"""Model access every app may use; it imports no other app (only chatpresets' errors and env).

  catalogue.py      the model catalogue (ModelSpec, prices, context windows)
  tokens.py         token counting: the only tiktoken import
  cost_controls.py  an organisation's allowed models and answer/context ceilings
  gateway.py        streaming and completing calls: the only openai import
  pii/              PII detectors, reversible redaction and the PII modes

Presets check a model and a context budget with it when a preset is saved, and conversations use
the same rules when it runs.
"""
