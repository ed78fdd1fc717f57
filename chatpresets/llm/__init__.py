"""The model layer every app may use: the catalogue, token counting and an organisation's cost controls.

It imports no app of the project, so presets can check a model and a context budget when a preset
is saved, and conversations use the same rules when it runs.
"""
