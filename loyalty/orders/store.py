"""The rows of orders, read and written in as few statements as the database allows.

Recording an order reads what it needs in one statement (the order's id, the buyer,
their wallet and its balance) and writes the order with its items in one more (on
PostgreSQL a data-modifying WITH; SQLite, in-process, takes two inside the write
transaction). Paying reads the order locked, with the buyer and the wallet, in one
statement, and its items with their events in another. Statements have fixed text,
so the database driver prepares each once per connection.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from loyalty import clock, sql
from loyalty.enums import ItemKind, OrderStatus
from loyalty.facts import EventFacts, ItemFacts
from loyalty.ledger.balances import Balance, balance_of, balance_terms
from loyalty.models import Order, Participant, Wallet


@dataclass(frozen=True)
class Buyer:
    """What recording an order reads at once: the id's first content, the buyer, their wallet."""

    recorded_digest: str | None
    participant: Participant | None
    wallet: Wallet | None
    balance: Balance


def _buyer_sql() -> str:
    return f"""
    SELECT (SELECT o.content_digest FROM orders o WHERE o.id = $1) AS recorded_digest,
      {sql.columns(Participant, "p", "p_")}, {sql.columns(Wallet, "w", "w_")},
      {balance_terms("w", "$4")}
    FROM (SELECT 1 AS one) AS one
    LEFT JOIN participant p ON p.customer_id = $2
    LEFT JOIN wallet w ON w.participant_id = p.id AND w.program_id = $3
    """


async def buyer(order_id: str | None, customer_id: str, program_id: str) -> Buyer:
    """The digest of the order already recorded with this id (None if none), the
    participant with this customer id, their wallet in the program and its balance now."""
    [row] = await sql.fetch(_buyer_sql(), order_id, customer_id, program_id, clock.now())
    wallet = sql.as_model(Wallet, row, "w_")
    return Buyer(
        recorded_digest=row["recorded_digest"],
        participant=sql.as_model(Participant, row, "p_"),
        wallet=wallet,
        balance=balance_of(row, wallet.debt) if wallet else Balance(),
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


async def insert(order: Order, items: list[ItemRow]) -> bool:
    """Write the order and its items; False (nothing written) when the id is taken.

    On SQLite the caller holds a transaction, so the two statements are one write.
    """
    values = _order_values(order)
    if sql.is_postgres():
        columns = list(
            zip(
                *[
                    (i.item_id, n, i.event_id, i.kind.value, i.nominal, i.service_fee, i.discount, i.bonus_share)
                    for n, i in enumerate(items)
                ],
                strict=True,
            )
        )
        [row] = await sql.fetch(_INSERT_POSTGRES, *values, *[list(c) for c in columns])
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


@dataclass(frozen=True)
class Payment:
    """What paying an order reads at once: the order (locked), its buyer and their wallet."""

    order: Order
    participant: Participant | None
    wallet: Wallet | None


def _payment_sql(lock: str) -> str:
    # The wallet: the one the order was recorded for, else the buyer's in its program.
    return f"""
    SELECT {sql.columns(Order, "o", "o_")}, {sql.columns(Participant, "p", "p_")}, {sql.columns(Wallet, "w", "w_")}
    FROM orders o
    LEFT JOIN participant p ON p.customer_id = o.customer_id
    LEFT JOIN wallet w ON w.id = COALESCE(
      o.wallet_id, (SELECT b.id FROM wallet b WHERE b.participant_id = p.id AND b.program_id = o.program_id))
    WHERE o.id = $1{lock}
    """


async def for_payment(order_id: str) -> Payment | None:
    """The order locked until the transaction ends (FOR UPDATE on PostgreSQL), with
    the participant of its customer id and the wallet it pays into (not locked)."""
    rows = await sql.fetch(_payment_sql(" FOR UPDATE OF o" if sql.is_postgres() else ""), order_id)
    if not rows:
        return None
    order = sql.as_model(Order, rows[0], "o_")
    assert order is not None
    return Payment(
        order=order, participant=sql.as_model(Participant, rows[0], "p_"), wallet=sql.as_model(Wallet, rows[0], "w_")
    )


_ITEMS = """
SELECT i.item_id, i.kind, i.nominal, i.service_fee, i.discount, i.bonus_share,
  e.id AS event_id, e.title, e.category, e.starts_at, e.organizer_id
FROM order_item i JOIN event e ON e.id = i.event_id
WHERE i.order_id = $1 ORDER BY i.position
"""


async def item_facts(order_id: str) -> tuple[ItemFacts, ...]:
    """The order's items with their events as plain data, in the order they were recorded."""
    events: dict[str, EventFacts] = {}
    items = []
    for row in await sql.fetch(_ITEMS, order_id):
        event = events.get(row["event_id"])
        if event is None:
            starts_at = sql.as_datetime(row["starts_at"])
            assert starts_at is not None
            event = EventFacts(
                id=row["event_id"],
                title=row["title"],
                category=row["category"],
                starts_at=starts_at,
                organizer_id=row["organizer_id"],
            )
            events[event.id] = event
        items.append(
            ItemFacts(
                id=row["item_id"],
                event=event,
                kind=ItemKind(row["kind"]),
                nominal=sql.as_money(row["nominal"]),
                service_fee=sql.as_money(row["service_fee"]),
                discount=sql.as_money(row["discount"]),
                bonus_share=int(row["bonus_share"]),
            )
        )
    return tuple(items)


async def mark_paid(order_id: str, paid_at: datetime, accrued: int, wallet_id: int | None) -> None:
    """The order PAID at `paid_at` with the bonuses it accrued, into `wallet_id`."""
    await sql.execute(
        "UPDATE orders SET status = $2, paid_at = $3, bonus_accrued = $4, wallet_id = $5 WHERE id = $1",
        order_id,
        OrderStatus.PAID.value,
        paid_at,
        accrued,
        wallet_id,
    )
