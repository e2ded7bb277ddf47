"""Spends: bonuses taken out of active lots, soonest-expiring first (LB-06, LB-08, LB-10, LB-20).

An unpaid order's hold is a set of `Draw`s with no entry; paying turns them into one
SPEND entry, cancelling gives them back. A staff debit takes its draws with its entry
at once. Every function runs inside a transaction that holds the wallet's lock
(`writes.lock_wallet`), but `held_with`, which takes it itself. On PostgreSQL each step is
one statement: the lots are chosen, taken and drawn by one conditional `UPDATE ...
RETURNING`, so the lock is held for as few round trips as there are steps; a hold with
the order it is for (`held_statement`) is one statement in autocommit, the wallet's lock
held for its execution only, no round trip and no Python in between.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from loyalty import clock, sql
from loyalty.enums import EntryKind, ParticipantStatus, WalletStatus, standing
from loyalty.errors import BadInput, RuleViolation
from loyalty.models import Entry, Wallet

# The active lots of wallet $1 at $2.
_ACTIVE = "wallet_id = $1 AND remaining > 0 AND activates_at <= $2 AND (expires_at IS NULL OR expires_at > $2)"


def _take(lots: str, amount: str = "$3", debt: str = "$4") -> str:
    """`active`: the active lots in `lots`, soonest-expiring first (never-expiring last,
    then oldest first); `take`: how much of `amount` bonuses each gives: all it has while
    the running total stays within it, the rest from the lot that crosses it. Nothing when
    the active bonuses less the `debt` fall short of it (LB-10: a debt is paid first)."""
    return f"""active AS (
  SELECT id, remaining,
    SUM(remaining) OVER (ORDER BY expires_at IS NULL, expires_at, id
                         ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS upto,
    SUM(remaining) OVER () AS total
  FROM {lots}
), take AS (
  SELECT id, CASE WHEN upto <= {amount} THEN remaining ELSE {amount} - (upto - remaining) END AS amount
  FROM active WHERE upto - remaining < {amount} AND total - {debt} >= {amount}
)"""


_TAKE_SQLITE = "WITH " + _take(f"lot WHERE {_ACTIVE}") + " SELECT id, amount FROM take"

# PostgreSQL, one statement under the wallet's lock: the takes chosen, taken (the
# `remaining >=` guard refuses rather than overdraws should a lot change under the lock,
# which it cannot) and drawn; one row: what was taken and the active total it was chosen
# from, so a refusal needs no second statement.
_TAKE_AND_DRAW = (
    "WITH "
    + _take(f"lot WHERE {_ACTIVE}")
    + """, spent AS (
  UPDATE lot SET remaining = lot.remaining - take.amount FROM take
  WHERE lot.id = take.id AND lot.remaining >= take.amount
  RETURNING lot.id, take.amount
), drawn AS (
  INSERT INTO draw (lot_id, wallet_id, amount, order_id, entry_id, created_at)
  SELECT id, $1, amount, $5::varchar, $6::bigint, $2 FROM spent
  RETURNING amount
)
SELECT COALESCE((SELECT SUM(amount) FROM drawn), 0) AS taken, COALESCE((SELECT MAX(total) FROM active), 0) AS total"""
)

_ACTIVE_TOTAL = f"SELECT COALESCE(SUM(remaining), 0) AS total FROM lot WHERE {_ACTIVE}"


async def _draw(wallet: Wallet, amount: int, *, order_id: str | None, entry_id: int | None) -> None:
    """Take `amount` from active lots, soonest-expiring first; RULE LB-08 when short."""
    now = clock.now()
    if sql.is_postgres():
        [row] = await sql.fetch(_TAKE_AND_DRAW, wallet.id, now, amount, wallet.debt, order_id, entry_id)
        taken, total = int(row["taken"]), int(row["total"])
    else:
        taken = await _draw_sqlite(wallet, amount, now, order_id, entry_id)
        total = 0 if taken == amount else int((await sql.fetch(_ACTIVE_TOTAL, wallet.id, now))[0]["total"])
    if taken == amount:
        return
    if taken:  # the locks make this impossible; refuse rather than overdraw
        raise RuleViolation("LB-13", "a lot changed under the wallet lock")
    raise _short(total, wallet.debt)


async def _draw_sqlite(wallet: Wallet, amount: int, now: datetime, order_id: str | None, entry_id: int | None) -> int:
    # SQLite's RETURNING cannot name the FROM table: choose, then take and draw. The
    # transaction holds the database's write lock, so nothing moves in between.
    takes = await sql.fetch(_TAKE_SQLITE, wallet.id, now, amount, wallet.debt)
    for take in takes:
        changed = await sql.execute(
            "UPDATE lot SET remaining = remaining - $2 WHERE id = $1 AND remaining >= $2", take["id"], take["amount"]
        )
        if changed != 1:
            raise RuleViolation("LB-13", "a lot changed under the wallet lock")
    if takes:
        marks = ", ".join(
            f"(${6 * n + 1}, ${6 * n + 2}, ${6 * n + 3}, ${6 * n + 4}, ${6 * n + 5}, ${6 * n + 6})"
            for n in range(len(takes))
        )
        values = [v for t in takes for v in (t["id"], wallet.id, t["amount"], order_id, entry_id, now)]
        await sql.execute(
            f"INSERT INTO draw (lot_id, wallet_id, amount, order_id, entry_id, created_at) VALUES {marks}", *values
        )
    return sum(int(take["amount"]) for take in takes)


async def hold(wallet: Wallet, amount: int, order_id: str) -> None:
    """Hold `amount` active bonuses for an unpaid order (no entry until it is paid)."""
    if amount > 0:
        await _draw(wallet, amount, order_id=order_id, entry_id=None)


@dataclass(frozen=True)
class Hold:
    """What `held_with` did: `written` when the hold and the caller's writes were made
    (all or nothing); else `enough` says the bonuses were there (so the caller's writes
    found nothing to do), `standing` the wallet's (None: no such wallet). `locked`: the
    refusal was decided under the wallet's lock (else from the statement's snapshot, in
    which `recorded` says whether the order's id was recorded already)."""

    written: bool
    enough: bool
    standing: WalletStatus | None
    total: int
    debt: int
    locked: bool = True
    recorded: bool = False

    def short(self) -> RuleViolation:
        """The refusal when the active bonuses less the debt fall short (LB-08, LB-10)."""
        return _short(self.total, self.debt)


def _short(total: int, debt: int) -> RuleViolation:
    owed = f" less a debt of {debt}" if debt else ""
    return RuleViolation("LB-08", f"only {max(total - debt, 0)} spendable bonuses ({total} active{owed})")


@lru_cache(maxsize=8)
def held_statement(writes: str, gate: str, first: int) -> str:
    """PostgreSQL: one statement that holds bonuses and makes the caller's `writes` with
    them, all or nothing, so the wallet's lock is held for this one statement only.

    Its parameters from `$first`: the wallet, now, the amount, the order id. It first reads
    the wallet as the statement's snapshot sees it, unlocked (`seen`): when that wallet
    cannot spend the amount (blocked, or too few active bonuses less its debt), the
    statement refuses at once, without waiting for the lock behind concurrent spends: a
    refusal true of a committed state while the request ran. Otherwise it locks the wallet
    (FOR UPDATE), reads its standing again (both kinds of block, MG-13), locks its active
    lots (FOR UPDATE: a lot a concurrent writer changed while this waited for the wallet is
    read as that writer left it, not as the snapshot saw it), chooses the draw
    (soonest-expiring first, the debt paid first, LB-10), and only when all of the amount is
    there makes `writes`: CTEs reading `enough` (one row, or none when short or not ACTIVE),
    the CTE named `gate` returning a row when they wrote. Only then are the lots taken and
    drawn. The lots being locked, the draw takes exactly what was chosen; the lot's CHECK
    (0 <= remaining) would fail the whole statement rather than overdraw.
    """
    wallet, now, amount, order = (f"${first + k}" for k in range(4))
    active = WalletStatus.ACTIVE.value
    return f"""
WITH seen AS MATERIALIZED (
  SELECT w.id, w.debt, w.status, p.status AS participant_status,
    (SELECT COALESCE(SUM(l.remaining), 0) FROM lot l WHERE l.wallet_id = w.id AND l.remaining > 0
       AND l.activates_at <= {now} AND (l.expires_at IS NULL OR l.expires_at > {now})) AS total,
    EXISTS (SELECT 1 FROM orders r WHERE r.id = {order}::varchar) AS recorded
  FROM wallet w JOIN participant p ON p.id = w.participant_id WHERE w.id = {wallet}
), w AS MATERIALIZED (
  SELECT w.id, w.debt, w.status, p.status AS participant_status
  FROM wallet w JOIN participant p ON p.id = w.participant_id
  WHERE w.id = (SELECT id FROM seen WHERE status = '{active}' AND participant_status = '{active}'
                AND NOT recorded AND total - debt >= {amount})
  FOR UPDATE OF w
), lots AS MATERIALIZED (
  SELECT l.id, l.remaining, l.expires_at FROM lot l
  WHERE l.wallet_id = (SELECT id FROM w WHERE status = '{active}' AND participant_status = '{active}')
    AND l.remaining > 0 AND l.activates_at <= {now} AND (l.expires_at IS NULL OR l.expires_at > {now})
  FOR UPDATE OF l
), {_take("lots", amount, "(SELECT debt FROM w)")}, enough AS (
  SELECT 1 AS one WHERE (SELECT COALESCE(SUM(amount), 0) FROM take) = {amount}
), {writes}, spent AS (
  UPDATE lot SET remaining = lot.remaining - take.amount FROM take
  WHERE lot.id = take.id AND EXISTS (SELECT 1 FROM {gate})
  RETURNING lot.id, take.amount
), drawn AS (
  INSERT INTO draw (lot_id, wallet_id, amount, order_id, entry_id, created_at)
  SELECT id, {wallet}::bigint, amount, {order}::varchar, NULL, {now}::timestamptz FROM spent
)
SELECT EXISTS (SELECT 1 FROM {gate}) AS written, EXISTS (SELECT 1 FROM enough) AS enough,
  w.id IS NOT NULL AS locked, COALESCE(seen.recorded, FALSE) AS recorded,
  CASE WHEN w.id IS NOT NULL THEN COALESCE((SELECT MAX(total) FROM active), 0) ELSE COALESCE(seen.total, 0) END
    AS total,
  COALESCE(w.debt, seen.debt) AS debt, COALESCE(w.status, seen.status) AS status,
  COALESCE(w.participant_status, seen.participant_status) AS participant_status
FROM (SELECT 1 AS one) AS one LEFT JOIN seen ON TRUE LEFT JOIN w ON TRUE
"""


async def held_with(statement: str, params: Sequence[Any], wallet_id: int, amount: int, order_id: str) -> Hold:
    """Run a `held_statement` (in autocommit: it is one transaction by itself) with the
    writes' own `params` before the hold's; what it did."""
    [row] = await sql.fetch(statement, *params, wallet_id, clock.now(), amount, order_id)
    status = row["status"]
    return Hold(
        written=bool(row["written"]),
        enough=bool(row["enough"]),
        standing=None
        if status is None
        else standing(ParticipantStatus(row["participant_status"]), WalletStatus(status)),
        total=int(row["total"]),
        debt=int(row["debt"] or 0),
        locked=bool(row["locked"]),
        recorded=bool(row["recorded"]),
    )


# PostgreSQL: the SPEND entry for everything the order holds, and the draws marked with it.
_TAKE_HELD = """
WITH held AS (SELECT id, amount FROM draw WHERE order_id = $1 AND entry_id IS NULL),
spend AS (
  INSERT INTO entry (wallet_id, kind, amount, at, order_id, description, rule, rules_version)
  SELECT $2::bigint, $3::varchar, -SUM(amount), $4::timestamptz, $1, $5::varchar, $6::varchar, $7::varchar
  FROM held HAVING SUM(amount) > 0
  RETURNING id, amount
), marked AS (
  UPDATE draw SET entry_id = spend.id FROM spend WHERE draw.id IN (SELECT id FROM held)
)
SELECT amount FROM spend
"""


async def take_held(
    wallet: Wallet, order_id: str, *, rules_version: str, rule: str | None, description: str | None
) -> int:
    """Turn an order's hold into one SPEND entry (payment); the bonuses it took, 0 when it held nothing."""
    now = clock.now()
    if sql.is_postgres():
        rows = await sql.fetch(
            _TAKE_HELD, order_id, wallet.id, EntryKind.SPEND.value, now, description, rule, rules_version
        )
        return -int(rows[0]["amount"]) if rows else 0
    held = await sql.fetch(
        "SELECT COALESCE(SUM(amount), 0) AS total FROM draw WHERE order_id = $1 AND entry_id IS NULL", order_id
    )
    total = int(held[0]["total"])
    if total == 0:
        return 0
    entry = await sql.fetch(
        "INSERT INTO entry (wallet_id, kind, amount, at, order_id, description, rule, rules_version)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        wallet.id,
        EntryKind.SPEND.value,
        -total,
        now,
        order_id,
        description,
        rule,
        rules_version,
    )
    await sql.execute(
        "UPDATE draw SET entry_id = $2 WHERE order_id = $1 AND entry_id IS NULL", order_id, entry[0]["id"]
    )
    return total


async def release_held(order_id: str) -> int:
    """Give an unpaid order's held bonuses back to the lots they came from (LB-20).

    A lot that expired meanwhile gets them back too, and they burn with it.
    """
    draws = await sql.fetch("SELECT id, lot_id, amount FROM draw WHERE order_id = $1 AND entry_id IS NULL", order_id)
    for draw in draws:
        await sql.execute("UPDATE lot SET remaining = remaining + $2 WHERE id = $1", draw["lot_id"], draw["amount"])
    if draws:
        marks = ", ".join(f"${n + 1}" for n in range(len(draws)))
        await sql.execute(f"DELETE FROM draw WHERE id IN ({marks})", *[d["id"] for d in draws])
    return sum(int(d["amount"]) for d in draws)


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
