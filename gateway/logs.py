"""Structured logs: one JSON object a line, with the request's id, operation and caller's role.

Fields: time, level, logger, message, and where known request_id, operation, role,
error_id (of a masked error), a few named extras (EXTRAS) and exc_info. Nothing else of
a record is written: an `extra` that is not listed never reaches the log.

No personal data: our own log calls name ids, never contacts or names. Third-party
DEBUG lines carry SQL parameters and call arguments (tortoise.db_client, aiosqlite,
asyncpg), so `PersonalDataFilter` drops them below INFO whatever the level; strawberry
logs no GraphQL errors (schema.GatewaySchema), because their messages may echo
variables; uvicorn's access log (client addresses) is replaced by our "request done" line.
Last, e-mail addresses and international phone numbers are masked in every message and
traceback (`scrub`), for the exception text of a library we do not control.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

import orjson

from gateway import request_context

# Named extras our log calls pass; any other attribute of a record is left out.
EXTRAS = ("method", "path", "status", "duration_ms", "outcome", "plugin", "hook", "job", "queue")

# Loggers whose records below INFO may hold SQL parameters or call arguments.
_CHATTY = ("tortoise", "aiosqlite", "asyncpg", "db_client", "httpcore", "hpack")

_OURS = "loyalty"  # the handler is tagged so configure() can find and replace its own

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_PHONE = re.compile(r"\+\d[\d ().-]{6,}\d")


def scrub(text: str) -> str:
    """`text` with e-mail addresses and +-prefixed phone numbers masked."""
    # An address holds an "@", a number a "+": most lines hold neither, so no regex runs.
    if "@" in text:
        text = _EMAIL.sub("<email>", text)
    if "+" in text:
        text = _PHONE.sub("<phone>", text)
    return text


# orjson as json.dumps(default=str) wrote (but compact): datetimes and dataclasses
# through `str` rather than orjson's own forms.
_ORJSON = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


class JsonFormatter(logging.Formatter):
    """A record as one line of JSON."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": scrub(record.getMessage()),
        }
        facts = request_context.current()
        if facts is not None:
            line["request_id"] = facts.request_id
            line["operation"] = facts.operation
            line["role"] = facts.role
        error_id = record.__dict__.get("error_id")
        if error_id is not None:
            line["error_id"] = error_id
        attributes = record.__dict__
        for name in EXTRAS:
            value = attributes.get(name)
            if value is not None:
                line[name] = value
        if record.exc_info:
            line["exc_info"] = scrub(self.formatException(record.exc_info))
        try:
            return orjson.dumps(line, default=str, option=_ORJSON).decode()
        except orjson.JSONEncodeError:  # a lone surrogate, an integer past 64 bits
            return json.dumps(line, default=str, ensure_ascii=False)


class PersonalDataFilter(logging.Filter):
    """Drops the DEBUG lines of database drivers and HTTP clients (they carry parameters)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.INFO:
            return True
        return not record.name.startswith(_CHATTY)


def handler(stream: TextIO | None = None) -> logging.Handler:
    """A handler writing JSON lines to `stream` (stderr by default)."""
    out = logging.StreamHandler(stream or sys.stderr)
    out.setFormatter(JsonFormatter())
    out.addFilter(PersonalDataFilter())
    out.set_name(_OURS)
    return out


def configure(level: str | int = "INFO", stream: TextIO | None = None) -> logging.Handler:
    """JSON lines on the root logger; uvicorn's and arq's loggers sent there too. Idempotent."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _OURS]:
        root.removeHandler(old)
    # uvicorn and arq configure handlers of their own (plain text) before our code runs.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "arq"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    logging.getLogger("uvicorn.access").disabled = True  # client addresses; see "request done"
    # A JSON line names no thread, process, source file or line: so no record looks them
    # up (the caller's frame is searched for on every call otherwise).
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    logging._srcfile = None  # type: ignore[assignment]
    out = handler(stream)
    root.addHandler(out)
    root.setLevel(level if isinstance(level, int) else level.upper())
    return out
