"""Decode an uploaded query image under the server's limits: bounded concurrency, decoded-byte cap, reduced size.

Each decode may hold up to ``max_decoded_bytes`` (plus working copies of a reduced image), so at most
``max_concurrent_decodes`` run at once; the others wait their turn on an asyncio semaphore (waiting costs no
thread). A file whose header declares more is refused before decoding: ImageTooLarge -> 413.
"""

from __future__ import annotations

import asyncio

from fastapi.concurrency import run_in_threadpool

from medsearch.serve.settings import ServeSettings


class DecodeSlots:
    def __init__(self, settings: ServeSettings):
        self.settings = settings
        self._slots: asyncio.Semaphore | None = None

    @property
    def slots(self) -> asyncio.Semaphore:
        if self._slots is None:  # created on first use, inside the server's event loop
            self._slots = asyncio.Semaphore(max(int(self.settings.max_concurrent_decodes), 1))
        return self._slots

    async def decode(self, data: bytes, name: str):
        from medsearch.imaging import load_image_bytes

        async with self.slots:
            return await run_in_threadpool(load_image_bytes, data, name, max_bytes=self.settings.max_decoded_bytes,
                                           max_side=self.settings.decode_max_side)
