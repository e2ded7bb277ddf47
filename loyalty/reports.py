"""Reports for partners: what their plugin rules accrued (PL-04, PartnerReport)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from loyalty import sql
from loyalty.enums import EntryKind
from loyalty.errors import BadInput
from loyalty.programs import Catalog


@dataclass(frozen=True)
class RuleLine:
    """One rule's accruals in the period: distinct orders credited and bonuses credited."""

    rule: str
    orders: int
    bonus_accrued: int


async def partner_report(catalog: Catalog, partner_id: str, start: datetime, end: datetime) -> list[RuleLine]:
    """What the partner's plugins' rules credited as ACCRUAL entries written in [start, end).

    A partner's plugins are those plugins.toml gives to it (`partner`, or the owner of
    the plugin's programs). Later revocations do not reduce the figures. One grouped
    query; lines ordered by rule name; empty when nothing was credited.
    """
    if start.tzinfo is None or end.tzinfo is None:
        raise BadInput("from and to need a time zone offset")
    if end <= start:
        raise BadInput("to must be after from")
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    plugins = sorted(catalog.plugins_of(partner_id))
    if not plugins:
        return []
    marks = ", ".join(f"${n + 4}" for n in range(len(plugins)))
    rows = await sql.fetch(
        "SELECT rule, COUNT(DISTINCT order_id) AS orders, SUM(amount) AS bonus FROM entry"
        f" WHERE kind = $1 AND at >= $2 AND at < $3 AND rule IS NOT NULL AND plugin IN ({marks})"
        " GROUP BY rule ORDER BY rule",
        EntryKind.ACCRUAL.value,
        start,
        end,
        *plugins,
    )
    return [RuleLine(rule=str(r["rule"]), orders=int(r["orders"]), bonus_accrued=int(r["bonus"])) for r in rows]
