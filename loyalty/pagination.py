"""Opaque cursors and page sizes of the lists read newest first (ledger history, campaigns).

A cursor is the URL-safe base64 of "kind:id": the id of the last row seen, and the
kind of list it belongs to, so a cursor of one list is refused by another.
"""

from __future__ import annotations

import base64

from loyalty.errors import BadInput

PAGE_LIMIT = 100


def check_first(first: int) -> None:
    """Refuse (BAD_INPUT) a page size outside 0..PAGE_LIMIT."""
    if first < 0 or first > PAGE_LIMIT:
        raise BadInput(f"first must be between 0 and {PAGE_LIMIT}")


def cursor(kind: str, row_id: int) -> str:
    """The opaque cursor of the row `row_id` in a list of `kind`."""
    return base64.urlsafe_b64encode(f"{kind}:{row_id}".encode()).decode()


def after(kind: str, value: str | None) -> int | None:
    """The row id a cursor of a list of `kind` points at; None for no cursor.

    BAD_INPUT when it is not a cursor of that list.
    """
    if not value:
        return None
    try:
        found, _, number = base64.urlsafe_b64decode(value.encode()).decode().partition(":")
        if found != kind:
            raise ValueError(found)
        return int(number)
    except ValueError:
        raise BadInput("after is not a cursor of this list") from None
