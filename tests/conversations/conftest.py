"""Conversation tests share the fake model fixtures of tests/conftest.py."""
