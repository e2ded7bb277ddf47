"""A cap on request bodies: 413 before the gateway reads more than it allows.

A body that says it is too long (`Content-Length`) is refused unread; one sent in chunks
is counted as it arrives and refused once past the cap. The answer is JSON in the
contract's error shape (code BAD_INPUT), so a client reads it like any other refusal.
The cap (LOYALTY_MAX_BODY_BYTES, default 4 MiB) leaves room for a 100,000-id audience.
"""

from __future__ import annotations

import json
from typing import Any

Scope = dict[str, Any]
Message = dict[str, Any]


class BodyTooLarge(Exception):
    """The body went past the cap while the app read it."""


class BodyLimit:
    """ASGI middleware: HTTP requests whose bodies exceed `max_bytes` answer 413."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self.refuse(send)
            return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message: Message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if started:  # the app answered before reading it all; nothing more to say
                return
            await self.refuse(send)

    async def refuse(self, send: Any) -> None:
        body = json.dumps(
            {
                "errors": [
                    {
                        "message": f"the request body is larger than {self.max_bytes} bytes",
                        "extensions": {"code": "BAD_INPUT"},
                    }
                ]
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})
