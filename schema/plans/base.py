"""What every plan shares: its input, its way out (`Unplanned`) and the variables' checks."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from loyalty.access import Caller, Role
from loyalty.participants import Identity
from loyalty.programs import Catalog
from schema.bounds import BOUNDS

INT_MIN, INT_MAX = -(2**31), 2**31 - 1  # GraphQL's Int


class Unplanned(Exception):
    """The plan cannot answer this request exactly: Strawberry answers it."""


@dataclass(frozen=True)
class PlanInput:
    """What a plan may use: the programs, the caller (read on demand; raises
    UNAUTHENTICATED for a bad token) and the erasure key, where configured."""

    catalog: Catalog
    read_caller: Callable[[], Caller | None]
    erasure_key: bytes | None


def only(variables: Mapping[str, Any], names: Collection[str]) -> None:
    """Unplanned where the request sends a variable the document does not declare."""
    if any(name not in names for name in variables):
        raise Unplanned("an undeclared variable")


def string(variables: Mapping[str, Any], name: str, coordinate: str, *, required: bool) -> str | None:
    """A String or ID variable as graphql-core and `schema.bounds` would take it, or Unplanned."""
    return text(variables.get(name), coordinate, required=required)


def text(value: object, coordinate: str, *, required: bool = True) -> str | None:
    """A String or ID as graphql-core takes it from JSON (an ID sent as a number: Unplanned),
    within its bound."""
    if value is None:
        if required:
            raise Unplanned(f"{coordinate} is missing")
        return None
    if not isinstance(value, str):
        raise Unplanned(f"{coordinate} is not a string")
    bound = BOUNDS[coordinate].length
    if bound is not None and len(value) > bound:
        raise Unplanned(f"{coordinate} is out of bounds")
    return value


def integer(variables: Mapping[str, Any], name: str) -> int:
    """A required Int variable, or Unplanned."""
    value = variables.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or not INT_MIN <= value <= INT_MAX:
        raise Unplanned(f"${name} is not an Int")
    return value


def participant(context: PlanInput) -> Identity:
    """The calling participant's identity, as `participant_caller` and `me` need it, or Unplanned."""
    caller = context.read_caller()
    if caller is None or caller.role is not Role.PARTICIPANT or caller.identity is None:
        raise Unplanned("not a participant's token")
    if not context.erasure_key:
        raise Unplanned("no erasure key: `me` answers UNAVAILABLE")
    return caller.identity


def moment(value: datetime | None) -> str | None:
    """A DateTime as Strawberry serializes it."""
    return None if value is None else value.isoformat()
