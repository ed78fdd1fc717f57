"""Test-only code: the OpenAI-compatible fake model server that tests, benchmarks and `manage.py fake_llm` run."""
