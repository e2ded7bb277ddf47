"""The request being served: its id, operation, caller's role and outcome, for logs and metrics.

`RequestScope` (pure ASGI middleware, so it sees the response's status and headers)
puts one `RequestFacts` in a context variable per HTTP request. Resolvers, dataloader
batches and the GraphQL extension fill it in; tasks started while serving copy the
context, so their log lines carry the request id too. The in-process job runner starts
from an empty context (workers.queue), so jobs never wear a request's id.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("loyalty.requests")

HEADER = b"x-request-id"
# A client's id is kept when it is short and plain (it goes into headers and log lines).
_SAFE_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


@dataclass
class RequestFacts:
    """What the log lines and metrics of one request say about it."""

    request_id: str
    operation: str | None = None
    role: str | None = None
    outcome: str | None = None
    error_id: str | None = None


_current: ContextVar[RequestFacts | None] = ContextVar("loyalty_request", default=None)


def current() -> RequestFacts | None:
    """The request being served, or None (start-up, jobs, the CLI)."""
    return _current.get()


def note_role(role: str) -> None:
    """Record the caller's role, once the token is read."""
    facts = _current.get()
    if facts is not None:
        facts.role = role


def request_id_from(header: str | None) -> str:
    """The client's X-Request-ID when sane, else a new one."""
    if header and _SAFE_ID.fullmatch(header):
        return header
    return os.urandom(16).hex()  # 32 hex digits, as uuid4().hex, without building a UUID


# Called when a request is done: its facts, method, path, status and seconds taken.
Observer = Callable[[RequestFacts, str, str, int, float], None]


class RequestScope:
    """Gives each HTTP request its id (returned in X-Request-ID), times it, and logs one line when done.

    Requests to `quiet` paths (probes, scrapes) are logged at DEBUG, the rest at INFO.
    """

    def __init__(self, app: Any, observe: Observer | None = None, quiet: tuple[str, ...] = ()) -> None:
        self.app = app
        self.observe = observe
        self.quiet = quiet

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent = next((value for name, value in scope["headers"] if name == HEADER), None)
        facts = RequestFacts(request_id_from(sent.decode("latin-1") if sent is not None else None))
        token = _current.set(facts)
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != HEADER]
                message = {**message, "headers": [*headers, (HEADER, facts.request_id.encode())]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            method, path = scope.get("method", ""), scope.get("path", "")
            if self.observe is not None:
                self.observe(facts, method, path, status, seconds)
            log.log(
                logging.DEBUG if path in self.quiet else logging.INFO,
                "request done",
                extra={
                    "method": method,
                    "path": path,
                    "status": status,
                    "duration_ms": round(seconds * 1000, 1),
                    "outcome": facts.outcome,
                },
            )
            _current.reset(token)
