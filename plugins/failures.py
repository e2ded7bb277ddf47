"""Plugin failures by plugin, hook and what the PL-03 policy did with them.

`plugins.policy` calls `record` where it applies the policy; the counter is on
prometheus-client's default registry, so the gateway's /metrics and each worker's
metrics port both show it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from prometheus_client import Counter

FAILURES = Counter(
    "loyalty_plugin_failures",
    "Plugin hooks that raised or answered wrongly, by plugin, hook and policy "
    "(refused: the operation was refused; skipped: an optional plugin was left out; ignored: a notification).",
    ["plugin", "hook", "policy"],
)


# The failures of one hook call, where the caller wants them (an outbox delivery).
_collected: ContextVar[list[tuple[str, str]] | None] = ContextVar("collected_failures", default=None)


def record(plugin: str, hook: str, policy: str, why: str = "") -> None:
    """Count one failure of `plugin` in `hook`, handled as `policy` (refused, skipped or ignored)."""
    FAILURES.labels(plugin, hook, policy).inc()
    collected = _collected.get()
    if collected is not None:
        collected.append((plugin, why))


@contextmanager
def collecting() -> Iterator[list[tuple[str, str]]]:
    """The (plugin, why) of every failure recorded inside the block."""
    found: list[tuple[str, str]] = []
    token = _collected.set(found)
    try:
        yield found
    finally:
        _collected.reset(token)
