"""Writes to the ledger: the wallet's lock, credits, revocations and debt (spends: `spends`).

Every function that writes must run inside a transaction that has locked the wallet
(`lock_wallet`), so concurrent writers to one wallet queue up and never overdraw it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from tortoise.expressions import F

from loyalty import clock, sql
from loyalty.enums import EntryKind, ParticipantStatus, WalletStatus, standing
from loyalty.errors import BadInput, NotFound
from loyalty.models import Entry, Lot, Wallet


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
    lock = " FOR UPDATE" if sql.is_postgres() else ""
    rows = await sql.fetch(f"SELECT {sql.columns(Wallet, 'w', '')} FROM wallet w WHERE w.id = $1{lock}", wallet_id)
    wallet = sql.as_model(Wallet, rows[0]) if rows else None
    if wallet is None:
        raise NotFound(f"no wallet {wallet_id}")
    return wallet


async def lock_wallet_standing(wallet_id: int) -> tuple[Wallet, WalletStatus]:
    """The wallet locked as `lock_wallet` locks it, and its standing read with it: BLOCKED
    under a block of either kind (the wallet's own or its participant's, MG-13)."""
    lock = " FOR UPDATE OF w" if sql.is_postgres() else ""
    rows = await sql.fetch(
        f"SELECT {sql.columns(Wallet, 'w', '')}, p.status AS participant_status"
        f" FROM wallet w JOIN participant p ON p.id = w.participant_id WHERE w.id = $1{lock}",
        wallet_id,
    )
    wallet = sql.as_model(Wallet, rows[0]) if rows else None
    if wallet is None:
        raise NotFound(f"no wallet {wallet_id}")
    return wallet, standing(ParticipantStatus(rows[0]["participant_status"]), wallet.status)


@dataclass(frozen=True)
class NewLot:
    """One credit to write as a lot and its entry (`credit_lots`)."""

    kind: EntryKind
    amount: int
    rule: str | None
    rules_version: str
    activates_at: datetime | None = None
    expires_at: datetime | None = None
    order_id: str | None = None
    event_id: str | None = None
    campaign_id: int | None = None
    description: str | None = None
    plugin: str | None = None


_LOT_COLUMNS = (
    "wallet_id, kind, amount, remaining, activates_at, expires_at, rule, rules_version, order_id, event_id,"
    " campaign_id, created_at"
)
_ENTRY_COLUMNS = (
    "wallet_id, kind, amount, at, activates_at, expires_at, description, order_id, campaign_id, lot_id, rule,"
    " plugin, rules_version"
)


@dataclass(frozen=True)
class Alongside:
    """A statement of the caller's to run with the credits (`credit_lots`): `text` with
    its parameters written {0}, {1}, ... for `params`."""

    text: str
    params: tuple[Any, ...]

    def marked(self, first: int) -> str:
        """The text, its parameters numbered from `$first`."""
        return self.text.format(*(f"${first + n}" for n in range(len(self.params))))


async def credit_lots(wallet: Wallet, credits: Sequence[NewLot], alongside: Alongside | None = None) -> list[int]:
    """Write each credit as a lot and its entry, paying the wallet's debt first (LB-10).

    The debt is paid off credit by credit, in order; each entry shows its full amount.
    On PostgreSQL every lot, entry and the debt's change are one statement, and so is
    `alongside` (a data-modifying CTE; on SQLite the statement after). It runs with no
    credits too. The caller holds the wallet's lock. Returns the entries' ids.
    """
    if not credits:
        if alongside is not None:
            await sql.execute(alongside.marked(1), *alongside.params)
        return []
    if any(c.amount <= 0 for c in credits):
        raise BadInput("a credit must be a positive number of bonuses")
    now = clock.now()
    debt, rows = wallet.debt, []
    for c in credits:
        paid_off = min(debt, c.amount)
        debt -= paid_off
        starts = c.activates_at or now
        lot = (c.kind.value, c.amount, c.amount - paid_off, starts, c.expires_at, c.rule, c.rules_version)
        rows.append((*lot, c.order_id, c.event_id, c.campaign_id, c.description, c.plugin))
    paid = wallet.debt - debt
    if sql.is_postgres():
        ids = await _credit_postgres(wallet.id, now, rows, paid, alongside)
    else:
        ids = await _credit_sqlite(wallet.id, now, rows, paid)
        if alongside is not None:
            await sql.execute(alongside.marked(1), *alongside.params)
    wallet.debt = debt
    return ids


async def _credit_postgres(
    wallet_id: int, now: datetime, rows: list[tuple[Any, ...]], paid: int, alongside: Alongside | None
) -> list[int]:
    # $1 wallet, $2 now, then 12 per credit: kind, amount, remaining, activates, expires, rule,
    # rules_version, order, event, campaign, description, plugin.
    lots, entries, params = [], [], [wallet_id, now]
    for n, row in enumerate(rows):
        p = [f"${len(params) + i + 1}" for i in range(12)]
        params.extend(row)
        lot = f"$1, {p[0]}, {p[1]}, {p[2]}, {p[3]}, {p[4]}, {p[5]}, {p[6]}, {p[7]}, {p[8]}, {p[9]}, $2"
        lots.append(f"l{n} AS (INSERT INTO lot ({_LOT_COLUMNS}) VALUES ({lot}) RETURNING id)")
        entry = f"$1, {p[0]}, {p[1]}, $2, {p[3]}, {p[4]}, {p[10]}, {p[7]}, {p[9]}, (SELECT id FROM l{n}), {p[5]}, {p[11]}, {p[6]}"
        entries.append(f"({entry})")
    if paid:
        params.append(paid)
        lots.append(f"debt AS (UPDATE wallet SET debt = debt - ${len(params)} WHERE id = $1)")
    if alongside is not None:
        lots.append(f"alongside AS ({alongside.marked(len(params) + 1)})")
        params.extend(alongside.params)
    statement = f"WITH {', '.join(lots)} INSERT INTO entry ({_ENTRY_COLUMNS}) VALUES {', '.join(entries)} RETURNING id"
    return [int(r["id"]) for r in await sql.fetch(statement, *params)]


async def _credit_sqlite(wallet_id: int, now: datetime, rows: list[tuple[Any, ...]], paid: int) -> list[int]:
    ids = []
    for kind, amount, remaining, starts, expires, rule, version, order, event, campaign, text, plugin in rows:
        lot = await sql.fetch(
            f"INSERT INTO lot ({_LOT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id",
            *(wallet_id, kind, amount, remaining, starts, expires, rule, version, order, event, campaign, now),
        )
        entry = await sql.fetch(
            f"INSERT INTO entry ({_ENTRY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
            " RETURNING id",
            *(
                wallet_id,
                kind,
                amount,
                now,
                starts,
                expires,
                text,
                order,
                campaign,
                lot[0]["id"],
                rule,
                plugin,
                version,
            ),
        )
        ids.append(int(entry[0]["id"]))
    if paid:
        await sql.execute("UPDATE wallet SET debt = debt - $2 WHERE id = $1", wallet_id, paid)
    return ids


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
    new = NewLot(
        kind=kind,
        amount=amount,
        rule=rule,
        rules_version=rules_version,
        activates_at=activates_at,
        expires_at=expires_at,
        order_id=order_id,
        event_id=event_id,
        campaign_id=campaign_id,
        description=description,
        plugin=plugin,
    )
    [entry_id] = await credit_lots(wallet, [new])
    return await Entry.get(id=entry_id)


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
