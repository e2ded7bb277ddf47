"""Demo data for `loyalty demo`: a few events, participants, orders and balances.

Everything goes through the domain (`loyalty.events`, `loyalty.participants`,
`loyalty.orders`, `loyalty.adjustments`), exactly as the API would, so the ledger is
real. Times are relative to `loyalty.clock.now()`.

With the repository's plugins.toml («Live Brighter!»: concert 5 %, theatre 7 %,
cinema 3 %, sport 4 %, spend cap 30 %; achievements First ticket 100, Explorer 200)
the primary program ends with:

| participant  | wallet  | active | pending | what happened                                               |
|--------------|---------|--------|---------|-------------------------------------------------------------|
| demo-alice   | ACTIVE  | 600    | 1,750   | 1,500 earned on a started concert, 1,000 of it spent at the |
|              |         |        |         | cinema, First ticket's 100; 1,400 (theatre), 150 (cinema)   |
|              |         |        |         | and Explorer's 200 (third category) wait for the shows      |
| demo-bob     | ACTIVE  | 750    | 400     | 400 from the concert, 250 welcome adjustment, First ticket's |
|              |         |        |         | 100; 400 (sport)                                            |
| demo-carol   | PENDING | 0      | 0       | no verified contact yet (LB-01): her order earned nothing   |

demo-alice also joins every other configured program (no orders there).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from loyalty import adjustments, clock, events, orders, participants
from loyalty.enums import Channel, ItemKind
from loyalty.participants import Identity, JoinRequest
from loyalty.programs import Catalog, Program

PRIMARY_PROGRAM = "live-brighter"

ALICE = Identity(customer_id="demo-alice", email="alice@example.com", email_verified=True)
BOB = Identity(customer_id="demo-bob", phone="+77010000002", phone_verified=True)
CAROL = Identity(customer_id="demo-carol", email="carol@example.com", email_verified=False)


@dataclass
class DemoData:
    """What `load` wrote: ids to point a newcomer at."""

    program_id: str
    events: list[str] = field(default_factory=list)
    participants: list[str] = field(default_factory=list)
    orders: list[str] = field(default_factory=list)


def primary_program(catalog: Catalog) -> Program:
    """The program the demo's orders go to: live-brighter where configured, else the first one."""
    if PRIMARY_PROGRAM in catalog:
        return catalog.get(PRIMARY_PROGRAM)
    return next(iter(catalog))


def _ticket(item_id: str, event_id: str, nominal: str, fee: str = "0") -> orders.ItemDraft:
    return orders.ItemDraft(
        id=item_id,
        event_id=event_id,
        kind=ItemKind.TICKET,
        nominal=Decimal(nominal),
        service_fee=Decimal(fee),
    )


def _goods(item_id: str, event_id: str, nominal: str) -> orders.ItemDraft:
    return orders.ItemDraft(id=item_id, event_id=event_id, kind=ItemKind.GOODS, nominal=Decimal(nominal))


async def _join(catalog: Catalog, identity: Identity, program: Program, name: str, erasure_key: bytes) -> None:
    await participants.join(
        catalog,
        identity,
        JoinRequest(
            program_id=program.id,
            accept_rules=True,
            personal_data_consent=True,
            marketing_consent=True,
            display_name=name,
            birth_date=date(1990, 5, 17),  # an adult, for programs that check age (TK-07)
        ),
        erasure_key=erasure_key,
    )


async def load(catalog: Catalog, erasure_key: bytes) -> DemoData:
    """Write the demo data into an empty, migrated database (the ORM must be open)."""
    program = primary_program(catalog)
    data = DemoData(program_id=program.id)
    now = clock.now()

    for event_id, title, category, starts_in, organizer in [
        ("demo-concert", "Jazz on the Square", "concert", -timedelta(hours=2), "org-demo-1"),
        ("demo-theatre", "The Cherry Orchard", "theatre", timedelta(days=14), "org-demo-1"),
        ("demo-cinema", "Premiere Night", "cinema", timedelta(days=3), "org-demo-2"),
        ("demo-sport", "Astana Derby", "sport", timedelta(days=30), "org-demo-2"),
    ]:
        await events.upsert(
            events.EventDraft(
                id=event_id, title=title, category=category, starts_at=now + starts_in, organizer_id=organizer
            )
        )
        data.events.append(event_id)

    await _join(catalog, ALICE, program, "Alice", erasure_key)
    for other in catalog:
        if other.id != program.id:
            await _join(catalog, ALICE, other, "Alice", erasure_key)
    await _join(catalog, BOB, program, "Bob", erasure_key)
    await _join(catalog, CAROL, program, "Carol", erasure_key)
    data.participants = [ALICE.customer_id, BOB.customer_id, CAROL.customer_id]

    async def buy(order_id: str, customer_id: str, *items: orders.ItemDraft, spend: int = 0) -> None:
        draft = orders.OrderDraft(
            id=order_id,
            customer_id=customer_id,
            program_id=program.id,
            channel=Channel.APP,
            items=items,
            bonus_to_spend=spend,
        )
        await orders.record_order(catalog, draft)
        await orders.pay_order(catalog, order_id)
        data.orders.append(order_id)

    # Alice: two tickets to the concert that has started: 5 % of 30,000 = 1,500, active at once.
    alice = ALICE.customer_id
    await buy(
        "demo-1001",
        alice,
        _ticket("demo-1001-1", "demo-concert", "15000.00", fee="1000.00"),
        _ticket("demo-1001-2", "demo-concert", "15000.00", fee="1000.00"),
    )
    # The theatre in 14 days: 7 % of 20,000 = 1,400, pending until the curtain rises.
    await buy("demo-1002", alice, _ticket("demo-1002-1", "demo-theatre", "20000.00"))
    # The cinema, 1,000 bonuses spent (cap 30 % of 6,000 = 1,800): 3 % of 5,000 = 150 pending.
    await buy(
        "demo-1003",
        alice,
        _ticket("demo-1003-1", "demo-cinema", "3000.00"),
        _ticket("demo-1003-2", "demo-cinema", "3000.00"),
        spend=1000,
    )

    # Bob: the concert (5 % of 8,000 = 400, active), the derby with a scarf (goods earn
    # nothing: 4 % of 10,000 = 400, pending), and a welcome credit of 250 from support.
    bob = BOB.customer_id
    await buy("demo-2001", bob, _ticket("demo-2001-1", "demo-concert", "8000.00"))
    await buy(
        "demo-2002",
        bob,
        _ticket("demo-2002-1", "demo-sport", "5000.00"),
        _ticket("demo-2002-2", "demo-sport", "5000.00"),
        _goods("demo-2002-3", "demo-sport", "3000.00"),
    )
    await adjustments.adjust(
        catalog,
        adjustments.Adjustment(
            customer_id=bob, program_id=program.id, amount=250, reason="welcome bonus (demo)", valid_days=30
        ),
    )

    # Carol has no verified contact: her wallet is PENDING and her order earns nothing (LB-01).
    await buy("demo-3001", CAROL.customer_id, _ticket("demo-3001-1", "demo-cinema", "2500.00"))
    return data
