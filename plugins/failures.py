"""Plugin failures by plugin, hook and what the PL-03 policy did with them.

`plugins.policy` calls `record` where it applies the policy; the counter is on
prometheus-client's default registry, so the gateway's /metrics and each worker's
metrics port both show it.
"""

from __future__ import annotations

from prometheus_client import Counter

FAILURES = Counter(
    "loyalty_plugin_failures",
    "Plugin hooks that raised or answered wrongly, by plugin, hook and policy "
    "(refused: the operation was refused; skipped: an optional plugin was left out; ignored: a notification).",
    ["plugin", "hook", "policy"],
)


def record(plugin: str, hook: str, policy: str) -> None:
    """Count one failure of `plugin` in `hook`, handled as `policy` (refused, skipped or ignored)."""
    FAILURES.labels(plugin, hook, policy).inc()
