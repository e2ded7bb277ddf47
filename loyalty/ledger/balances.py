"""The read side of the ledger: what a wallet holds now and when its bonuses next burn (LB-05).

Balances are computed from time, never stored: a lot is active while
activates_at <= now < expires_at.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from loyalty import clock, sql
from loyalty.models import Lot


@dataclass(frozen=True)
class Balance:
    """A wallet's bonuses now: spendable, not yet active, held by unpaid orders, owed."""

    active: int = 0
    pending: int = 0
    held: int = 0
    debt: int = 0

    @property
    def spendable(self) -> int:
        """What may be spent now: the active bonuses less the debt while it lasts (LB-10)."""
        return max(self.active - self.debt, 0)


@dataclass(frozen=True)
class BurnForecast:
    """The next instant active bonuses burn, and how many burn then."""

    at: datetime
    amount: int


def balance_terms(wallet: str, now: str) -> str:
    """The SELECT terms of a balance at `now` (a placeholder) for the wallet row named
    `wallet`: `active`, `pending` and `held` (its debt is the row's own column)."""
    return f"""
      (SELECT COALESCE(SUM(l.remaining), 0) FROM lot l WHERE l.wallet_id = {wallet}.id
         AND l.remaining > 0 AND l.activates_at <= {now}
         AND (l.expires_at IS NULL OR l.expires_at > {now})) AS active,
      (SELECT COALESCE(SUM(l.remaining), 0) FROM lot l WHERE l.wallet_id = {wallet}.id
         AND l.remaining > 0 AND l.activates_at > {now}) AS pending,
      (SELECT COALESCE(SUM(d.amount), 0) FROM draw d WHERE d.wallet_id = {wallet}.id
         AND d.entry_id IS NULL AND d.order_id IS NOT NULL) AS held"""


def balance_of(row: dict[str, Any], debt: int) -> Balance:
    """The Balance a row of `balance_terms` holds."""
    return Balance(active=int(row["active"]), pending=int(row["pending"]), held=int(row["held"]), debt=debt)


async def balances(wallet_ids: Sequence[int]) -> dict[int, Balance]:
    """Balances of many wallets in one query (for dataloaders); missing ids get zeros."""
    if not wallet_ids:
        return {}
    ids = list(dict.fromkeys(wallet_ids))
    marks = ", ".join(f"${i + 2}" for i in range(len(ids)))
    rows = await sql.fetch(
        f"SELECT w.id AS wallet_id, w.debt AS debt, {balance_terms('w', '$1')} FROM wallet w WHERE w.id IN ({marks})",
        clock.now(),
        *ids,
    )
    found = {int(r["wallet_id"]): balance_of(r, int(r["debt"])) for r in rows}
    return {wallet_id: found.get(wallet_id, Balance()) for wallet_id in ids}


async def balance(wallet_id: int) -> Balance:
    """One wallet's balance now (LB-05)."""
    return (await balances([wallet_id]))[wallet_id]


async def next_burns(wallet_ids: Sequence[int]) -> dict[int, BurnForecast | None]:
    """For each wallet, the earliest future burn of active bonuses and its amount (LB-05)."""
    if not wallet_ids:
        return {}
    now = clock.now()
    ids = list(dict.fromkeys(wallet_ids))
    lots = await Lot.filter(wallet_id__in=ids, remaining__gt=0, activates_at__lte=now, expires_at__gt=now).values(
        "wallet_id", "expires_at", "remaining"
    )
    earliest: dict[int, BurnForecast] = {}
    for lot in lots:
        at = sql.as_datetime(lot["expires_at"])
        assert at is not None
        seen = earliest.get(lot["wallet_id"])
        if seen is None or at < seen.at:
            earliest[lot["wallet_id"]] = BurnForecast(at=at, amount=lot["remaining"])
        elif at == seen.at:
            earliest[lot["wallet_id"]] = BurnForecast(at=at, amount=seen.amount + lot["remaining"])
    return {wallet_id: earliest.get(wallet_id) for wallet_id in ids}
