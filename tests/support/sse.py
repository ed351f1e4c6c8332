"""A small server-sent-events reader over a raw asyncio connection (a real HTTP client, no mocks)."""

from __future__ import annotations

import asyncio
import json
from typing import Any


class SSEStream:
    """``GET`` an event stream; ``await next_event()`` yields ``(event, data)``; ``close()`` hangs up."""

    def __init__(self, port: int, path: str, headers: dict[str, str]) -> None:
        self.port = port
        self.path = path
        self.headers = headers
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.status: int | None = None
        self.response_headers: dict[str, str] = {}
        self.comments: list[str] = []
        self.chunked = False
        self._buffer = b""

    async def open(self) -> SSEStream:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        lines = [f"GET {self.path} HTTP/1.1", f"Host: 127.0.0.1:{self.port}", "Accept: text/event-stream"]
        lines += [f"{k}: {v}" for k, v in self.headers.items()]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        await self.writer.drain()
        status_line = await self.reader.readline()
        self.status = int(status_line.split()[1])
        while True:
            line = (await self.reader.readline()).decode().strip()
            if not line:
                break
            key, _, value = line.partition(":")
            self.response_headers[key.strip().lower()] = value.strip()
        self.chunked = self.response_headers.get("transfer-encoding", "").lower() == "chunked"
        return self

    async def _read_more(self) -> None:
        assert self.reader is not None
        if self.chunked:
            size_line = await self.reader.readline()
            if not size_line:
                raise EOFError("stream closed")
            size = int(size_line.strip() or b"0", 16)
            if size == 0:
                raise EOFError("stream ended")
            chunk = await self.reader.readexactly(size + 2)
            self._buffer += chunk[:-2]
        else:
            chunk = await self.reader.read(65536)
            if not chunk:
                raise EOFError("stream closed")
            self._buffer += chunk

    async def next_block(self, timeout: float = 10.0) -> str:
        async def read() -> str:
            while b"\n\n" not in self._buffer:
                await self._read_more()
            block, self._buffer = self._buffer.split(b"\n\n", 1)
            return block.decode()

        return await asyncio.wait_for(read(), timeout)

    async def next_event(self, timeout: float = 10.0) -> tuple[str, Any]:
        """The next event with data (comments and ``retry:`` lines are recorded and skipped)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            block = await self.next_block(max(0.01, deadline - loop.time()))
            event, data = "message", []
            for line in block.split("\n"):
                if line.startswith(":"):
                    self.comments.append(line[1:].strip())
                elif line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].strip())
            if data:
                return event, json.loads("\n".join(data))

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            try:
                await self.writer.wait_closed()
            except (ConnectionError, OSError):
                pass
