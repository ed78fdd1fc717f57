"""Token counting with tiktoken (the only module that imports it), from the bundled encoding files.

A chat message costs its role and content tokens plus a fixed framing overhead, and every
request pays a small priming cost for the reply, following OpenAI's published accounting.
"""

from __future__ import annotations

from functools import lru_cache

import tiktoken
from django.core.exceptions import ImproperlyConfigured

from chatpresets.llm.catalogue import catalogue

MESSAGE_OVERHEAD = 3
REPLY_PRIMING = 3
KNOWN_ENCODINGS = ("o200k_base", "cl100k_base")


@lru_cache(maxsize=8)
def encoding(name: str) -> tiktoken.Encoding:
    if name not in KNOWN_ENCODINGS:
        raise ValueError(f"unsupported encoding {name!r}; bundled: {', '.join(KNOWN_ENCODINGS)}")
    return tiktoken.get_encoding(name)


def load_catalogue_encodings() -> None:
    """Load the catalogue's encodings now (about a second and a half each): the web server and the
    worker do at start, so a process's first turn does not wait for it. Other commands load them
    when used. A bad catalogue or an unknown encoding is left to fail where a request uses it, as before.
    """
    try:
        names = {spec.encoding for spec in catalogue().values()}
    except ImproperlyConfigured:
        return
    for name in sorted(names & set(KNOWN_ENCODINGS)):
        encoding(name)


def count_text(text: str, encoding_name: str) -> int:
    return len(encoding(encoding_name).encode(text, disallowed_special=()))


def truncate_text(text: str, max_tokens: int, encoding_name: str) -> str:
    """The longest prefix of `text` of at most `max_tokens` tokens."""
    tokens = encoding(encoding_name).encode(text, disallowed_special=())
    return text if len(tokens) <= max_tokens else encoding(encoding_name).decode(tokens[: max(0, max_tokens)])


def count_message(role: str, content: str, encoding_name: str) -> int:
    """Tokens one stored message adds to a prompt; computed once, when the message is written."""
    return count_text(content, encoding_name) + count_text(role, encoding_name) + MESSAGE_OVERHEAD
