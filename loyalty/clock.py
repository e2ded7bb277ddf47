"""The one clock of the gateway: every "now" in the domain comes from here.

Tests freeze and move it; production reads the system clock in UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

_frozen: datetime | None = None


def now() -> datetime:
    """The current instant, timezone-aware UTC (frozen when a test froze it)."""
    return _frozen if _frozen is not None else datetime.now(UTC)


def freeze(at: datetime) -> None:
    """Stop the clock at `at` (must carry a timezone)."""
    global _frozen
    if at.tzinfo is None:
        raise ValueError("the clock keeps aware datetimes only")
    _frozen = at.astimezone(UTC)


def advance(delta: timedelta) -> datetime:
    """Move a frozen clock forward (freezing it at the real now first if it runs)."""
    freeze(now() + delta)
    return now()


def unfreeze() -> None:
    """Let the clock follow the system clock again."""
    global _frozen
    _frozen = None


# The longest validity a lot may be given, in days: about 100 years. A later end would
# overflow the timestamps (year 9999) long before it meant anything to a participant.
MAX_VALID_DAYS = 36_600
