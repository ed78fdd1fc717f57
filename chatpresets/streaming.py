"""Streamed HTTP bodies built from database reads, served without holding the whole body.

Under ASGI Django collects a synchronous iterator whole before sending it; an asynchronous one is
sent chunk by chunk. So each chunk is produced in a worker thread (it reads the database) and sent
before the next is read: memory per response is one chunk, however long the body.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator

from channels.db import database_sync_to_async


async def streamed(make_chunks: Callable[[], Iterator[str]]) -> AsyncIterator[bytes]:
    """Each chunk is produced in a worker thread (it reads the database) and sent before the next."""
    chunks = await database_sync_to_async(make_chunks)()
    next_chunk = database_sync_to_async(lambda: next(chunks, None))
    while (chunk := await next_chunk()) is not None:
        yield chunk.encode()
