"""The ledger: lots, entries, holds and debt of one wallet, and the burns of all.

Invariants (checked after every test scenario):
  for each wallet, sum(entries) == sum(lots.remaining) + held - debt, where held is
  what unpaid orders' draws hold; 0 <= lot.remaining <= lot.amount.

Balances are computed from time, never stored: a lot is active while
activates_at <= now < expires_at. Every function that writes must run inside a
transaction that has locked the wallet (`lock_wallet`), so concurrent writers to one
wallet queue up and never overdraw it.
"""

from __future__ import annotations

import base64
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from tortoise.expressions import F

from loyalty import clock, sql
from loyalty.errors import BadInput, NotFound, RuleViolation
from loyalty.models import Draw, Entry, EntryKind, Lot, Wallet

PAGE_LIMIT = 100


@dataclass(frozen=True)
class Balance:
    """A wallet's bonuses now: spendable, not yet active, held by unpaid orders, owed."""

    active: int = 0
    pending: int = 0
    held: int = 0
    debt: int = 0


@dataclass(frozen=True)
class BurnForecast:
    """The next instant active bonuses burn, and how many burn then."""

    at: datetime
    amount: int


@dataclass(frozen=True)
class Revocation:
    """What cancelling an order's accruals did (LB-09, LB-10)."""

    revoked: int
    spent: int


@dataclass(frozen=True)
class Page:
    """A page of ledger entries, newest first."""

    entries: list[Entry]
    has_next: bool


async def lock_wallet(wallet_id: int) -> Wallet:
    """The wallet row, locked until the transaction ends (FOR UPDATE on PostgreSQL).

    SQLite has no row locks; there the ORM serialises whole transactions instead.
    """
    wallet = await Wallet.select_for_update().get_or_none(id=wallet_id)
    if wallet is None:
        raise NotFound(f"no wallet {wallet_id}")
    return wallet


async def balances(wallet_ids: Sequence[int]) -> dict[int, Balance]:
    """Balances of many wallets in one query (for dataloaders); missing ids get zeros."""
    if not wallet_ids:
        return {}
    now = clock.now()
    ids = list(dict.fromkeys(wallet_ids))
    marks = ", ".join(f"${i + 3}" for i in range(len(ids)))
    rows = await sql.fetch(
        f"""
        SELECT w.id AS wallet_id, w.debt AS debt,
          (SELECT COALESCE(SUM(l.remaining), 0) FROM lot l WHERE l.wallet_id = w.id
             AND l.remaining > 0 AND l.activates_at <= $1
             AND (l.expires_at IS NULL OR l.expires_at > $2)) AS active,
          (SELECT COALESCE(SUM(l.remaining), 0) FROM lot l WHERE l.wallet_id = w.id
             AND l.remaining > 0 AND l.activates_at > $1) AS pending,
          (SELECT COALESCE(SUM(d.amount), 0) FROM draw d WHERE d.wallet_id = w.id
             AND d.entry_id IS NULL AND d.order_id IS NOT NULL) AS held
        FROM wallet w WHERE w.id IN ({marks})
        """,
        now,
        now,
        *ids,
    )
    found = {
        int(r["wallet_id"]): Balance(
            active=int(r["active"]), pending=int(r["pending"]), held=int(r["held"]), debt=int(r["debt"])
        )
        for r in rows
    }
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
    if sum(lot["remaining"] for lot in active) < amount:
        raise RuleViolation("LB-08", f"only {sum(lot['remaining'] for lot in active)} active bonuses")
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
    refund_id: int,
    description: str,
) -> Revocation:
    """Cancel every bonus the order credited in this wallet, spent or not (LB-09).

    What is still in the lots leaves them; the part already spent is returned as
    `spent` for the caller to withhold from money or owe as debt (LB-10). Bonuses
    that already burned are gone and are not revoked twice: what is left in a lot
    whose validity has ended burned at its end (LB-04), whether or not `burn_expired`
    has written that BURN yet, so it stays in the lot for that job to write.
    """
    now = clock.now()
    lots = await Lot.filter(wallet_id=wallet.id, order_id=order_id, kind__in=list(kinds)).values(
        "id", "amount", "remaining", "expires_at"
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
    refund_id: int,
    rules_version: str,
) -> tuple[int, int]:
    """Settle revoked bonuses already spent: withhold from `money`, owe the rest (LB-10).

    Returns (withheld, debt). The WITHHOLD entry is positive: the money paid them back.
    """
    withheld = min(spent, int(money))  # 1 bonus = 1 unit of currency; whole units only
    owed = spent - withheld
    if withheld:
        await Entry.create(
            wallet_id=wallet.id,
            kind=EntryKind.WITHHOLD,
            amount=withheld,
            at=clock.now(),
            order_id=order_id,
            refund_id=refund_id,
            description="spent bonuses withheld from the refund",
            rule="LB-10",
            rules_version=rules_version,
        )
    if owed:
        wallet.debt += owed
        await Wallet.filter(id=wallet.id).update(debt=F("debt") + owed)
    return withheld, owed


def _cursor(entry_id: int) -> str:
    return base64.urlsafe_b64encode(f"entry:{entry_id}".encode()).decode()


def entry_cursor(entry: Entry) -> str:
    """The opaque cursor of an entry in a history page."""
    return _cursor(entry.id)


def _after(cursor: str | None) -> int | None:
    if not cursor:
        return None
    try:
        kind, _, value = base64.urlsafe_b64decode(cursor.encode()).decode().partition(":")
        if kind != "entry":
            raise ValueError(kind)
        return int(value)
    except ValueError:
        raise BadInput("after is not a cursor of this list") from None


async def history(wallet_id: int, first: int, after: str | None = None) -> Page:
    """The wallet's entries, newest first, `first` of them after the cursor (LB-05)."""
    if first < 0 or first > PAGE_LIMIT:
        raise BadInput(f"first must be between 0 and {PAGE_LIMIT}")
    query = Entry.filter(wallet_id=wallet_id)
    before = _after(after)
    if before is not None:
        query = query.filter(id__lt=before)
    rows = await query.order_by("-id").limit(first + 1)
    page = rows[:first]
    # A credit's validity "as known now": its lot's, which a rolling program (MG-06) or a
    # postponed event (LB-03) moves. The entries themselves stay as written.
    lot_ids = [entry.lot_id for entry in page if entry.lot_id is not None and entry.amount > 0]
    if lot_ids:
        current = {
            row["id"]: row for row in await Lot.filter(id__in=lot_ids).values("id", "activates_at", "expires_at")
        }
        for entry in page:
            if entry.lot_id in current and entry.amount > 0:
                entry.activates_at = current[entry.lot_id]["activates_at"]
                entry.expires_at = current[entry.lot_id]["expires_at"]
    return Page(entries=page, has_next=len(rows) > first)


_BURN_PG = """
WITH due AS (
  SELECT id, wallet_id, remaining, expires_at, rules_version, campaign_id FROM lot
  WHERE expires_at <= $1 AND remaining > 0 AND id > $2
  ORDER BY id LIMIT $3
  FOR UPDATE SKIP LOCKED
), burn AS (
  INSERT INTO entry (wallet_id, kind, amount, at, description, campaign_id, lot_id, rule, rules_version)
  SELECT wallet_id, 'BURN', -remaining, expires_at, 'bonuses expired', campaign_id, id, 'LB-04', rules_version
  FROM due
), zero AS (
  UPDATE lot SET remaining = 0 FROM due WHERE lot.id = due.id
)
SELECT COUNT(*) AS n, MAX(id) AS last FROM due
"""


async def _burn_chunk_sqlite(now: datetime, after: int, chunk: int) -> tuple[int, int | None]:
    ids = await sql.fetch(
        "SELECT id FROM lot WHERE expires_at <= $1 AND remaining > 0 AND id > $2 ORDER BY id LIMIT $3",
        now,
        after,
        chunk,
    )
    if not ids:
        return 0, None
    last = int(ids[-1]["id"])
    await sql.execute(
        "INSERT INTO entry (wallet_id, kind, amount, at, description, campaign_id, lot_id, rule, rules_version)"
        " SELECT wallet_id, 'BURN', -remaining, expires_at, 'bonuses expired', campaign_id, id, 'LB-04',"
        " rules_version FROM lot WHERE expires_at <= $1 AND remaining > 0 AND id > $2 AND id <= $3",
        now,
        after,
        last,
    )
    await sql.execute(
        "UPDATE lot SET remaining = 0 WHERE expires_at <= $1 AND remaining > 0 AND id > $2 AND id <= $3",
        now,
        after,
        last,
    )
    return len(ids), last


async def burn_expired(chunk: int = 50_000) -> int:
    """Write BURN entries for every lot whose validity ended with bonuses left (LB-04).

    Balances are already right without it; this makes history and reports (a
    campaign's bonusBurned, CA-05) show the burns. Each BURN entry carries the lot, its
    campaign, the instant of expiry as its time, and what was left in the lot.

    Set-based: each chunk of `chunk` lots (in id order) is one statement on PostgreSQL
    (INSERT the entries and zero the lots together), three on SQLite, in its own
    transaction. Idempotent: a burned lot has nothing left to burn. Safe alongside
    spends and other burn runs: lots locked by them are skipped (SKIP LOCKED) and
    left for the next run. Returns how many lots burned.
    """
    from tortoise.transactions import in_transaction

    now = clock.now()
    burned = 0
    after = 0
    postgres = sql.is_postgres()
    while True:
        async with in_transaction():
            if postgres:
                rows = await sql.fetch(_BURN_PG, now, after, int(chunk))
                count, last = int(rows[0]["n"]), rows[0]["last"]
            else:
                count, last = await _burn_chunk_sqlite(now, after, int(chunk))
        if not count or last is None:
            return burned
        burned += count
        if count < chunk:
            return burned
        after = int(last)
