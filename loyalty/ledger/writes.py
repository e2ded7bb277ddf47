"""Writes to the ledger: credits, holds, spends, debits, revocations and debt.

Every function that writes must run inside a transaction that has locked the wallet
(`lock_wallet`), so concurrent writers to one wallet queue up and never overdraw it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from tortoise.expressions import F

from loyalty import clock, sql
from loyalty.enums import EntryKind
from loyalty.errors import BadInput, NotFound, RuleViolation
from loyalty.models import Draw, Entry, Lot, Wallet


@dataclass(frozen=True)
class Revocation:
    """What cancelling an order's accruals did (LB-09, LB-10)."""

    revoked: int
    spent: int


async def lock_wallet(wallet_id: int) -> Wallet:
    """The wallet row, locked until the transaction ends (FOR UPDATE on PostgreSQL).

    SQLite has no row locks: there every transaction holds the database's write lock from
    its start (BEGIN IMMEDIATE, set up by the composition layer), which is stronger.
    """
    wallet = await Wallet.select_for_update().get_or_none(id=wallet_id)
    if wallet is None:
        raise NotFound(f"no wallet {wallet_id}")
    return wallet


async def credit(
    wallet: Wallet,
    *,
    kind: EntryKind,
    amount: int,
    rule: str | None,
    rules_version: str,
    activates_at: datetime | None = None,
    expires_at: datetime | None = None,
    order_id: str | None = None,
    event_id: str | None = None,
    campaign_id: int | None = None,
    description: str | None = None,
    plugin: str | None = None,
) -> Entry:
    """Credit `amount` bonuses as a new lot and its entry; pays the wallet's debt first (LB-10).

    The entry shows the full amount even where part of it went to the debt; `plugin`
    names the plugin whose `rule` made the credit (PL-04). The caller holds the
    wallet's lock.
    """
    if amount <= 0:
        raise BadInput("a credit must be a positive number of bonuses")
    now = clock.now()
    starts = activates_at or now
    paid_off = min(wallet.debt, amount)
    lot = await Lot.create(
        wallet_id=wallet.id,
        kind=kind,
        amount=amount,
        remaining=amount - paid_off,
        activates_at=starts,
        expires_at=expires_at,
        rule=rule,
        rules_version=rules_version,
        order_id=order_id,
        event_id=event_id,
        campaign_id=campaign_id,
        created_at=now,
    )
    if paid_off:
        wallet.debt -= paid_off
        await Wallet.filter(id=wallet.id).update(debt=F("debt") - paid_off)
    return await Entry.create(
        wallet_id=wallet.id,
        kind=kind,
        amount=amount,
        at=now,
        activates_at=starts,
        expires_at=expires_at,
        description=description,
        order_id=order_id,
        campaign_id=campaign_id,
        lot_id=lot.id,
        rule=rule,
        plugin=plugin,
        rules_version=rules_version,
    )


async def extend_expiry(wallet: Wallet, until: datetime) -> int:
    """Move the expiry of every still-valid lot of the wallet out to `until` (MG-06).

    A rolling-expiry program calls it with each accrual, in the same transaction as
    the ACCRUAL entry that explains it: the whole balance then burns `validity` after
    the latest accrual. Lots already expired stay expired (they burned); no lot's
    validity is shortened. Amounts do not change, so the ledger sums are untouched.
    The caller holds the wallet's lock. Returns how many lots moved.
    """
    return await Lot.filter(wallet_id=wallet.id, expires_at__gt=clock.now(), expires_at__lt=until).update(
        expires_at=until
    )


async def _draw(wallet: Wallet, amount: int, *, order_id: str | None, entry_id: int | None) -> None:
    """Take `amount` from active lots, soonest-expiring first; RULE LB-08 when short."""
    now = clock.now()
    lots = await Lot.filter(wallet_id=wallet.id, remaining__gt=0, activates_at__lte=now).values(
        "id", "remaining", "expires_at", "activates_at"
    )
    active = [
        lot
        for lot in lots
        if lot["expires_at"] is None or sql.as_datetime(lot["expires_at"]) > now  # type: ignore[operator]
    ]
    # Soonest-expiring first; lots that never expire last; then oldest first.
    active.sort(key=lambda lot: (lot["expires_at"] is None, sql.as_datetime(lot["expires_at"]) or now, lot["id"]))
    total = sum(lot["remaining"] for lot in active)
    # LB-10: while a debt lasts, only the active bonuses beyond it may be spent.
    if total - wallet.debt < amount:
        owed = f" less a debt of {wallet.debt}" if wallet.debt else ""
        raise RuleViolation("LB-08", f"only {max(total - wallet.debt, 0)} spendable bonuses ({total} active{owed})")
    left = amount
    draws = []
    for lot in active:
        if left == 0:
            break
        take = min(left, lot["remaining"])
        changed = await Lot.filter(id=lot["id"], remaining__gte=take).update(remaining=F("remaining") - take)
        if changed != 1:  # the wallet lock makes this impossible; refuse rather than overdraw
            raise RuleViolation("LB-13", "a lot changed under the wallet lock")
        draws.append(
            Draw(
                lot_id=lot["id"], wallet_id=wallet.id, amount=take, order_id=order_id, entry_id=entry_id, created_at=now
            )
        )
        left -= take
    await Draw.bulk_create(draws)


async def hold(wallet: Wallet, amount: int, order_id: str) -> None:
    """Hold `amount` active bonuses for an unpaid order (no entry until it is paid)."""
    if amount > 0:
        await _draw(wallet, amount, order_id=order_id, entry_id=None)


async def take_held(
    wallet: Wallet, order_id: str, *, rules_version: str, rule: str | None, description: str | None
) -> Entry | None:
    """Turn an order's hold into one SPEND entry (payment); None when it held nothing."""
    held = await Draw.filter(order_id=order_id, entry_id__isnull=True).values("amount")
    total = sum(int(draw["amount"]) for draw in held)
    if total == 0:
        return None
    entry = await Entry.create(
        wallet_id=wallet.id,
        kind=EntryKind.SPEND,
        amount=-total,
        at=clock.now(),
        order_id=order_id,
        description=description,
        rule=rule,
        rules_version=rules_version,
    )
    await Draw.filter(order_id=order_id, entry_id__isnull=True).update(entry_id=entry.id)
    return entry


async def release_held(order_id: str) -> int:
    """Give an unpaid order's held bonuses back to the lots they came from (LB-20).

    A lot that expired meanwhile gets them back too, and they burn with it.
    """
    draws = await Draw.filter(order_id=order_id, entry_id__isnull=True).values("id", "lot_id", "amount")
    for draw in draws:
        await Lot.filter(id=draw["lot_id"]).update(remaining=F("remaining") + draw["amount"])
    await Draw.filter(id__in=[d["id"] for d in draws]).delete()
    return sum(d["amount"] for d in draws)


async def debit(
    wallet: Wallet,
    amount: int,
    *,
    kind: EntryKind,
    rules_version: str,
    rule: str | None,
    description: str | None,
) -> Entry:
    """Take `amount` active bonuses at once, soonest-expiring first, with one entry."""
    if amount <= 0:
        raise BadInput("a debit must be a positive number of bonuses")
    entry = await Entry.create(
        wallet_id=wallet.id,
        kind=kind,
        amount=-amount,
        at=clock.now(),
        description=description,
        rule=rule,
        rules_version=rules_version,
    )
    await _draw(wallet, amount, order_id=None, entry_id=entry.id)
    return entry


async def revoke_order(
    wallet: Wallet,
    order_id: str,
    *,
    kinds: Sequence[EntryKind],
    rule: str,
    rules_version: str,
    refund_id: int | None,
    description: str,
    pending_only: bool = False,
) -> Revocation:
    """Cancel every bonus the order credited in this wallet, spent or not (LB-09).

    `pending_only`: only the lots not active yet (GA-03: a reward cancelled only while it
    waits for its event).

    What is still in the lots leaves them; the part already spent is returned as
    `spent` for the caller to withhold from money or owe as debt (LB-10). Bonuses
    that already burned are gone and are not revoked twice: what is left in a lot
    whose validity has ended burned at its end (LB-04), whether or not `burn_expired`
    has written that BURN yet, so it stays in the lot for that job to write.
    """
    now = clock.now()
    # The lots locked (the caller holds the wallet's lock; wallet before lots, as the burn
    # job takes them), and the BURN entries read only after: a burn that committed
    # first is seen in both, one still running waits or skips, never counted twice.
    marks = ", ".join(f"${n + 3}" for n in range(len(kinds)))
    lock = " FOR UPDATE" if sql.is_postgres() else ""
    pending = f" AND activates_at > ${len(kinds) + 3}" if pending_only else ""
    lots = await sql.fetch(
        f"SELECT id, amount, remaining, expires_at FROM lot WHERE wallet_id = $1 AND order_id = $2"
        f" AND kind IN ({marks}){pending} ORDER BY id{lock}",
        wallet.id,
        order_id,
        *[kind.value for kind in kinds],
        *([now] if pending_only else []),
    )
    if not lots:
        return Revocation(revoked=0, spent=0)
    burned: dict[int, int] = defaultdict(int)
    for row in await Entry.filter(lot_id__in=[lot["id"] for lot in lots], kind=EntryKind.BURN).values(
        "lot_id", "amount"
    ):
        burned[row["lot_id"]] += -row["amount"]
    for lot in lots:
        expires = sql.as_datetime(lot["expires_at"])
        if expires is not None and expires <= now:
            burned[lot["id"]] += lot["remaining"]  # burned by time, BURN entry not written yet
            lot["remaining"] = 0
    live = [lot["id"] for lot in lots if lot["remaining"] > 0]
    revoked = sum(lot["amount"] - burned[lot["id"]] for lot in lots)
    still_there = sum(lot["remaining"] for lot in lots)
    await Lot.filter(id__in=live).update(remaining=0)
    if revoked:
        await Entry.create(
            wallet_id=wallet.id,
            kind=EntryKind.REVOKE,
            amount=-revoked,
            at=clock.now(),
            order_id=order_id,
            refund_id=refund_id,
            description=description,
            rule=rule,
            rules_version=rules_version,
        )
    return Revocation(revoked=revoked, spent=revoked - still_there)


async def withhold(
    wallet: Wallet,
    spent: int,
    money: Decimal,
    *,
    order_id: str,
    refund_id: int | None,
    rules_version: str,
) -> tuple[int, int]:
    """Settle revoked bonuses already spent: withhold from `money`, owe the rest (LB-10).

    Returns (withheld, debt). The WITHHOLD entry is positive: the money paid them back.
    """
    withheld = min(spent, int(money))  # 1 bonus = 1 unit of currency; whole units only
    owed = spent - withheld
    if withheld:
        await _withhold_entry(
            wallet, withheld, order_id, refund_id, rules_version, "spent bonuses withheld from the refund"
        )
    if owed:
        wallet.debt += owed
        await Wallet.filter(id=wallet.id).update(debt=F("debt") + owed)
    return withheld, owed


async def repay_debt(
    wallet: Wallet,
    owed: int,
    money: Decimal,
    *,
    order_id: str,
    refund_id: int,
    rules_version: str,
) -> int:
    """Withhold up to `owed` of the wallet's debt from `money` a refund pays (LB-10).

    The WITHHOLD entry is positive and the debt falls by as much, so the ledger sums
    still agree. The caller holds the wallet's lock. Returns the bonuses withheld.
    """
    repaid = min(owed, wallet.debt, int(money))
    if repaid <= 0:
        return 0
    await _withhold_entry(
        wallet, repaid, order_id, refund_id, rules_version, "debt of the purchase withheld from the refund"
    )
    wallet.debt -= repaid
    await Wallet.filter(id=wallet.id).update(debt=F("debt") - repaid)
    return repaid


async def _withhold_entry(
    wallet: Wallet, amount: int, order_id: str, refund_id: int | None, rules_version: str, description: str
) -> None:
    """The positive WITHHOLD entry (LB-10): bonuses the refund's money paid back."""
    await Entry.create(
        wallet_id=wallet.id,
        kind=EntryKind.WITHHOLD,
        amount=amount,
        at=clock.now(),
        order_id=order_id,
        refund_id=refund_id,
        description=description,
        rule="LB-10",
        rules_version=rules_version,
    )
