"""The rows of orders, read and written in as few statements as the database allows.

Recording an order reads what it needs in one statement (the order's id, the buyer,
their wallet and its balance) and writes the order with its items in one more (on
PostgreSQL a data-modifying WITH, which also holds the bonuses the order spends:
`insert_holding`; SQLite, in-process, takes two inside the write transaction). Paying reads the order locked, with the buyer and the wallet, in one
statement, and its items with their events in another. Statements have fixed text,
so the database driver prepares each once per connection.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from loyalty import clock, ledger, sql
from loyalty.enums import ItemKind, OrderStatus
from loyalty.errors import NotFound
from loyalty.facts import EventFacts, ItemFacts
from loyalty.ledger.balances import Balance, balance_of, balance_terms
from loyalty.models import Order, Participant, Wallet


@dataclass(frozen=True)
class Buyer:
    """What recording an order reads at once: the id's first content, the buyer, their
    wallet, its balance, and the events named (those that exist)."""

    recorded_digest: str | None
    participant: Participant | None
    wallet: Wallet | None
    balance: Balance
    events: dict[str, EventFacts]

    def events_named(self, event_ids: Iterable[str]) -> dict[str, EventFacts]:
        """The events named; NOT_FOUND for the first that does not exist."""
        for event_id in event_ids:
            if event_id not in self.events:
                raise NotFound(f"no event {event_id!r}")
        return self.events


_EVENT_COLUMNS = ("id", "title", "category", "starts_at", "organizer_id")


@lru_cache(maxsize=64)
def _buyer_sql(events: int) -> str:
    # The buyer's row once (MATERIALIZED), beside each event named: one row per event found.
    marks = ", ".join(f"${n + 5}" for n in range(events)) or "NULL"
    event_columns = ", ".join(f'e."{c}" AS "e_{c}"' for c in _EVENT_COLUMNS)
    return f"""
    WITH buyer AS MATERIALIZED (
      SELECT (SELECT o.content_digest FROM orders o WHERE o.id = $1) AS recorded_digest,
        {sql.columns(Participant, "p", "p_")}, {sql.columns(Wallet, "w", "w_")},
        {balance_terms("w", "$4")}
      FROM (SELECT 1 AS one) AS one
      LEFT JOIN participant p ON p.customer_id = $2
      LEFT JOIN wallet w ON w.participant_id = p.id AND w.program_id = $3
    )
    SELECT buyer.*, {event_columns} FROM buyer LEFT JOIN event e ON e.id IN ({marks})
    """


async def buyer(order_id: str | None, customer_id: str, program_id: str, event_ids: Iterable[str]) -> Buyer:
    """The digest of the order already recorded with this id (None if none), the
    participant with this customer id, their wallet in the program, its balance now,
    and the events of `event_ids` that exist: one statement."""
    wanted = list(dict.fromkeys(event_ids))
    rows = await sql.fetch(_buyer_sql(len(wanted)), order_id, customer_id, program_id, clock.now(), *wanted)
    row = rows[0]
    wallet = sql.as_model(Wallet, row, "w_")
    return Buyer(
        recorded_digest=row["recorded_digest"],
        participant=sql.as_model(Participant, row, "p_"),
        wallet=wallet,
        balance=balance_of(row, wallet.debt) if wallet else Balance(),
        events={r["e_id"]: _event(r, "e_") for r in rows if r["e_id"] is not None},
    )


def _event(row: dict[str, Any], prefix: str) -> EventFacts:
    starts_at = sql.as_datetime(row[f"{prefix}starts_at"])
    assert starts_at is not None
    return EventFacts(
        id=row[f"{prefix}id"],
        title=row[f"{prefix}title"],
        category=row[f"{prefix}category"],
        starts_at=starts_at,
        organizer_id=row[f"{prefix}organizer_id"],
    )


_ORDER_COLUMNS = (
    "id, customer_id, program_id, wallet_id, channel, mode, status, promo_code, referral_code, fingerprint, total,"
    " bonus_requested, bonus_spent, bonus_to_accrue, bonus_accrued, accruals_revoked, content_digest,"
    " rules_version, created_at"
)
_ORDER_VALUES = ", ".join(f"${n + 1}" for n in range(19))
_ITEM_COLUMNS = "order_id, item_id, position, event_id, kind, nominal, service_fee, discount, bonus_share"

# PostgreSQL: the order and every item in one statement, its text the same for any number
# of items (the items travel as arrays). n = 0 when the id was recorded meanwhile.
_INSERT_POSTGRES = f"""
WITH o AS (
  INSERT INTO orders ({_ORDER_COLUMNS}) VALUES ({_ORDER_VALUES}) ON CONFLICT (id) DO NOTHING RETURNING id
), i AS (
  INSERT INTO order_item ({_ITEM_COLUMNS})
  SELECT o.id, i.* FROM o, unnest($20::varchar[], $21::int[], $22::varchar[], $23::varchar[], $24::numeric[],
                                  $25::numeric[], $26::numeric[], $27::int[])
    AS i(item_id, position, event_id, kind, nominal, service_fee, discount, bonus_share)
)
SELECT COUNT(*) AS n FROM o
"""


# PostgreSQL, with a hold (`ledger.held_statement`): the same rows, written only when the
# hold's `enough` has its row; the values cast, as a SELECT list does not infer their types.
_ORDER_TYPES = (
    ("varchar",) * 3
    + ("bigint",)
    + ("varchar",) * 6
    + ("numeric",)
    + ("int",) * 4
    + ("boolean",)
    + ("varchar",) * 2
    + ("timestamptz",)
)
_HOLDING_WRITES = f"""o AS (
  INSERT INTO orders ({_ORDER_COLUMNS})
  SELECT {", ".join(f"${n + 1}::{t}" for n, t in enumerate(_ORDER_TYPES))} FROM enough
  ON CONFLICT (id) DO NOTHING RETURNING id
), i AS (
  INSERT INTO order_item ({_ITEM_COLUMNS})
  SELECT o.id, i.* FROM o, unnest($20::varchar[], $21::int[], $22::varchar[], $23::varchar[], $24::numeric[],
                                  $25::numeric[], $26::numeric[], $27::int[])
    AS i(item_id, position, event_id, kind, nominal, service_fee, discount, bonus_share)
)"""


def new_order(**values: Any) -> Order:
    """An order not yet written, CREATED, with nothing accrued or revoked (`insert` writes it)."""
    order = sql.as_model(
        Order,
        {
            "mode": None,
            "promo_code": None,
            "referral_code": None,
            "fingerprint": None,
            "paid_at": None,
            "cancelled_at": None,
            **values,
            "status": OrderStatus.CREATED,
            "bonus_accrued": 0,
            "accruals_revoked": False,
        },
    )
    assert order is not None
    order._saved_in_db = False
    return order


@dataclass(frozen=True)
class ItemRow:
    """One item as `insert` writes it."""

    item_id: str
    event_id: str
    kind: ItemKind
    nominal: Any
    service_fee: Any
    discount: Any
    bonus_share: int


def _order_values(order: Order) -> list[Any]:
    return [
        order.id,
        order.customer_id,
        order.program_id,
        order.wallet_id,
        order.channel.value,
        order.mode.value if order.mode else None,
        order.status.value,
        order.promo_code,
        order.referral_code,
        order.fingerprint,
        order.total,
        order.bonus_requested,
        order.bonus_spent,
        order.bonus_to_accrue,
        order.bonus_accrued,
        order.accruals_revoked,
        order.content_digest,
        order.rules_version,
        order.created_at,
    ]


def _item_arrays(items: list[ItemRow]) -> list[list[Any]]:
    rows = [
        (i.item_id, n, i.event_id, i.kind.value, i.nominal, i.service_fee, i.discount, i.bonus_share)
        for n, i in enumerate(items)
    ]
    return [list(column) for column in zip(*rows, strict=True)] if rows else [[] for _ in range(8)]


async def insert(order: Order, items: list[ItemRow]) -> bool:
    """Write the order and its items; False (nothing written) when the id is taken.

    On SQLite the caller holds a transaction, so the two statements are one write.
    """
    values = _order_values(order)
    if sql.is_postgres():
        [row] = await sql.fetch(_INSERT_POSTGRES, *values, *_item_arrays(items))
        return int(row["n"]) == 1
    inserted = await sql.fetch(
        f"INSERT INTO orders ({_ORDER_COLUMNS}) VALUES ({_ORDER_VALUES}) ON CONFLICT (id) DO NOTHING RETURNING id",
        *values,
    )
    if not inserted:
        return False
    marks = ", ".join("(" + ", ".join(f"${9 * n + k + 1}" for k in range(9)) + ")" for n in range(len(items)))
    params = [
        v
        for n, i in enumerate(items)
        for v in (order.id, i.item_id, n, i.event_id, i.kind.value, i.nominal, i.service_fee, i.discount, i.bonus_share)
    ]
    await sql.execute(f"INSERT INTO order_item ({_ITEM_COLUMNS}) VALUES {marks}", *params)
    return True


async def insert_holding(order: Order, items: list[ItemRow], wallet_id: int, amount: int) -> ledger.Hold:
    """PostgreSQL: hold `amount` bonuses of the wallet for the order and write the order with
    its items, in one statement in autocommit (`ledger.held_statement`): both or neither.
    Not `written` and `enough`: the id was taken meanwhile."""
    statement = ledger.held_statement(_HOLDING_WRITES, "o", 28)
    params = [*_order_values(order), *_item_arrays(items)]
    return await ledger.held_with(statement, params, wallet_id, amount, order.id)


@dataclass(frozen=True)
class Payment:
    """What paying an order reads at once: the order (locked), its buyer and their
    wallet, and its items with their events, in the order they were recorded."""

    order: Order
    participant: Participant | None
    wallet: Wallet | None
    items: tuple[ItemFacts, ...]


_ITEM_FACTS = """i.item_id AS i_item_id, i.kind AS i_kind, i.nominal AS i_nominal, i.service_fee AS i_service_fee,
  i.discount AS i_discount, i.bonus_share AS i_bonus_share, """ + ", ".join(
    f'e."{c}" AS "e_{c}"' for c in _EVENT_COLUMNS
)


@lru_cache(maxsize=2)
def _payment_sql(lock: str) -> str:
    # The wallet: the one the order was recorded for, else the buyer's in its program.
    return f"""
    SELECT {sql.columns(Order, "o", "o_")}, {sql.columns(Participant, "p", "p_")}, {sql.columns(Wallet, "w", "w_")},
      {_ITEM_FACTS}
    FROM orders o
    LEFT JOIN participant p ON p.customer_id = o.customer_id
    LEFT JOIN wallet w ON w.id = COALESCE(
      o.wallet_id, (SELECT b.id FROM wallet b WHERE b.participant_id = p.id AND b.program_id = o.program_id))
    LEFT JOIN order_item i ON i.order_id = o.id
    LEFT JOIN event e ON e.id = i.event_id
    WHERE o.id = $1 ORDER BY i.position{lock}
    """


async def for_payment(order_id: str) -> Payment | None:
    """The order locked until the transaction ends (FOR UPDATE on PostgreSQL), with
    the participant of its customer id, the wallet it pays into (not locked) and its
    items: one statement."""
    rows = await sql.fetch(_payment_sql(" FOR UPDATE OF o" if sql.is_postgres() else ""), order_id)
    if not rows:
        return None
    first = rows[0]
    order = sql.as_model(Order, first, "o_")
    assert order is not None
    return Payment(
        order=order,
        participant=sql.as_model(Participant, first, "p_"),
        wallet=sql.as_model(Wallet, first, "w_"),
        items=_items(row for row in rows if row["i_item_id"] is not None),
    )


_ITEMS = f"""
SELECT {_ITEM_FACTS}
FROM order_item i JOIN event e ON e.id = i.event_id
WHERE i.order_id = $1 ORDER BY i.position
"""


async def item_facts(order_id: str) -> tuple[ItemFacts, ...]:
    """The order's items with their events as plain data, in the order they were recorded."""
    return _items(await sql.fetch(_ITEMS, order_id))


def _items(rows: Iterable[dict[str, Any]]) -> tuple[ItemFacts, ...]:
    events: dict[str, EventFacts] = {}
    items = []
    for row in rows:
        event = events.get(row["e_id"])
        if event is None:
            event = events[row["e_id"]] = _event(row, "e_")
        items.append(
            ItemFacts(
                id=row["i_item_id"],
                event=event,
                kind=ItemKind(row["i_kind"]),
                nominal=sql.as_money(row["i_nominal"]),
                service_fee=sql.as_money(row["i_service_fee"]),
                discount=sql.as_money(row["i_discount"]),
                bonus_share=int(row["i_bonus_share"]),
            )
        )
    return tuple(items)


_MARK_PAID = "UPDATE orders SET status = {1}, paid_at = {2}, bonus_accrued = {3}, wallet_id = {4} WHERE id = {0}"


def marking_paid(order_id: str, paid_at: datetime, accrued: int, wallet_id: int | None) -> ledger.Alongside:
    """`mark_paid` as a statement to run with the payment's credits (`ledger.credit_lots`)."""
    return ledger.Alongside(_MARK_PAID, (order_id, OrderStatus.PAID.value, paid_at, accrued, wallet_id))


async def mark_paid(order_id: str, paid_at: datetime, accrued: int, wallet_id: int | None) -> None:
    """The order PAID at `paid_at` with the bonuses it accrued, into `wallet_id`."""
    marked = marking_paid(order_id, paid_at, accrued, wallet_id)
    await sql.execute(marked.marked(1), *marked.params)
