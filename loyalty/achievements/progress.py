"""Progress towards achievements, derived from the facts every time (GA-02, GA-03).

Nothing is counted up as things happen, so nothing can drift: progress is what the
facts say now. A purchase counts while it is paid and not wholly returned, through
its tickets that are not returned (GA-03: a returned ticket no longer counts); only
purchases paid as a member count (the order is in the participant's wallet). A
referral counts while it is REWARDED (a revoked one is REJECTED). Windows count by when
the order was paid, or the referral rewarded.

All the counts a program's achievements need come from one query (one column per
kind of count and window, never one query per achievement), which on a payment also
reads which of them are unlocked already; a program with a
partner's own counter (``counts="custom"``) reads the purchases themselves too, in one
more query, and hands them to the counter as plain facts.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from loyalty import clock, sql
from loyalty.achievements.definitions import (
    CATEGORY,
    CUSTOM,
    EVENT_ATTENDED,
    PURCHASE_PAID,
    REFERRAL_REWARDED,
)
from loyalty.enums import Channel, ItemKind, OrderMode, OrderStatus, ReferralStatus
from loyalty.errors import PluginFailure
from loyalty.facts import AchievementDefinition, AchievementFacts, EventFacts, ItemFacts, OrderFacts

UNRETURNED = (OrderStatus.PAID.value, OrderStatus.PARTIALLY_REFUNDED.value)

_DISTINCT = {PURCHASE_PAID: "o.id", EVENT_ATTENDED: "i.event_id", CATEGORY: "e.category"}


class _Params:
    """The statement's parameters, each given once and numbered as first used."""

    def __init__(self) -> None:
        self.values: list[Any] = []
        self._marks: dict[object, str] = {}

    def __call__(self, key: object, value: Any) -> str:
        if key not in self._marks:
            self.values.append(value)
            self._marks[key] = f"${len(self.values)}"
        return self._marks[key]


def _since(definition: AchievementDefinition, now: datetime) -> datetime | None:
    return now - timedelta(days=definition.window_days) if definition.window_days else None


async def counts(
    definitions: list[AchievementDefinition], *, wallet_id: int, participant_id: int, customer_id: str, program_id: str
) -> dict[str, int]:
    """Each definition's count now, by achievement id (not capped at the goal): one query."""
    _, found = await _counted(
        definitions,
        wallet_id=wallet_id,
        participant_id=participant_id,
        customer_id=customer_id,
        program_id=program_id,
        unlocks=False,
    )
    return found


async def unlocked_and_counts(
    definitions: list[AchievementDefinition], *, wallet_id: int, participant_id: int, customer_id: str, program_id: str
) -> tuple[set[str], dict[str, int]]:
    """The definitions the participant has unlocked in the program, and the count of each
    other one, in one query (a payment's, issue 11). The purchases are not read at all
    when every achievement counted from them is unlocked already (their counts are then
    0, as are those of every unlocked one: only the others' are counts)."""
    return await _counted(
        definitions,
        wallet_id=wallet_id,
        participant_id=participant_id,
        customer_id=customer_id,
        program_id=program_id,
        unlocks=True,
    )


async def _counted(
    definitions: list[AchievementDefinition],
    *,
    wallet_id: int,
    participant_id: int,
    customer_id: str,
    program_id: str,
    unlocks: bool,
) -> tuple[set[str], dict[str, int]]:
    if not definitions:
        return set(), {}
    now = clock.now()
    param = _Params()
    columns: dict[tuple[str, datetime | None], str] = {}

    def column(kind: str, since: datetime | None) -> str:
        if (kind, since) not in columns:
            if kind == REFERRAL_REWARDED:
                window = f" AND r.rewarded_at >= {param(('since', since), since)}" if since else ""
                expression = (
                    f"(SELECT COUNT(*) FROM referral r WHERE r.referrer_id = {param('who', participant_id)}"
                    f" AND r.program_id = {param('program', program_id)}"
                    f" AND r.status = {param('rewarded', ReferralStatus.REWARDED.value)}{window})"
                )
            elif since is not None:
                when = param(("since", since), since)
                expression = f"COUNT(DISTINCT CASE WHEN o.paid_at >= {when} THEN {_DISTINCT[kind]} END)"
            else:
                expression = f"COUNT(DISTINCT {_DISTINCT[kind]})"
            columns[(kind, since)] = f"c{len(columns)}"
            expressions.append(f"{expression} AS {columns[(kind, since)]}")
        return columns[(kind, since)]

    def unlocked(ids: list[str]) -> str:
        # How many of `ids` the participant has unlocked in the program (the unique key's index).
        marks = ", ".join(param(("id", i), i) for i in ids)
        return (
            f"(SELECT COUNT(*) FROM achievement_unlock u WHERE u.participant_id = {param('who', participant_id)}"
            f" AND u.program_id = {param('program', program_id)} AND u.achievement_id IN ({marks}))"
        )

    expressions: list[str] = []
    if unlocks:
        expressions.extend(f"{unlocked([d.id])} AS u{n}" for n, d in enumerate(definitions))
    named = {
        # A partner's counter gets the rewarded referrals of its window beside the purchases.
        d.id: column(REFERRAL_REWARDED if d.counts == CUSTOM else d.counts, _since(d, now))
        for d in definitions
    }
    statement = "SELECT " + ", ".join(expressions)
    if any(kind in _DISTINCT for kind, _ in columns):
        paid, partly = UNRETURNED
        statement += (
            " FROM orders o JOIN order_item i ON i.order_id = o.id JOIN event e ON e.id = i.event_id"
            f" WHERE o.wallet_id = {param('wallet', wallet_id)}"
            f" AND o.status IN ({param('paid', paid)}, {param('partly', partly)})"
            f" AND i.kind = {param('ticket', ItemKind.TICKET.value)} AND i.refund_id IS NULL"
        )
        purchased = [d.id for d in definitions if d.counts in _DISTINCT]
        if unlocks and purchased:
            # Evaluated once (PostgreSQL: a one-time filter), before any purchase is read.
            statement += f" AND {unlocked(purchased)} < {len(purchased)}"
    row = (await sql.fetch(statement, *param.values))[0]
    done = {d.id for n, d in enumerate(definitions) if unlocks and int(row[f"u{n}"])}
    found = {d.id: int(row[named[d.id]] or 0) for d in definitions}
    custom = [d for d in definitions if d.counts == CUSTOM and d.id not in done]
    if custom:
        bought = await purchase_facts(wallet_id, program_id)
        for definition in custom:
            since = _since(definition, now)
            facts = AchievementFacts(
                participant_id=customer_id,
                purchases=tuple(p for p in bought if since is None or (p.paid_at is not None and p.paid_at >= since)),
                referrals_rewarded=found[definition.id],
                now=now,
            )
            found[definition.id] = _custom_count(definition, facts)
    return done, found


def _custom_count(definition: AchievementDefinition, facts: AchievementFacts) -> int:
    """A partner's own counter, under PL-03: raising or answering no count refuses the operation."""
    assert definition.count is not None
    plugin = definition.plugin or "achievements"
    try:
        answer = definition.count(facts)
    except Exception as error:
        raise PluginFailure(plugin, f"a rule could not be applied (achievement {definition.id})") from error
    if isinstance(answer, bool) or not isinstance(answer, int) or answer < 0:
        raise PluginFailure(plugin, f"achievement {definition.id}: the count must be a whole number >= 0")
    return answer


async def purchase_facts(wallet_id: int, program_id: str) -> tuple[OrderFacts, ...]:
    """The wallet's paid, not wholly returned orders, oldest first, with only their items not returned."""
    rows = await sql.fetch(
        "SELECT o.id AS order_id, o.channel, o.mode, o.created_at, o.paid_at, o.promo_code, o.referral_code,"
        " o.bonus_requested, i.item_id, i.kind, i.nominal, i.service_fee, i.discount, i.bonus_share,"
        " e.id AS event_id, e.title, e.category, e.starts_at, e.organizer_id"
        " FROM orders o JOIN order_item i ON i.order_id = o.id JOIN event e ON e.id = i.event_id"
        " WHERE o.wallet_id = $1 AND o.status IN ($2, $3) AND i.refund_id IS NULL"
        " ORDER BY o.paid_at, o.id, i.position",
        wallet_id,
        *UNRETURNED,
    )
    items: dict[str, list[ItemFacts]] = defaultdict(list)
    orders: dict[str, dict[str, Any]] = {}
    for row in rows:
        orders.setdefault(row["order_id"], row)
        starts = sql.as_datetime(row["starts_at"])
        assert starts is not None
        event = EventFacts(row["event_id"], row["title"], row["category"], starts, row["organizer_id"])
        items[row["order_id"]].append(
            ItemFacts(
                id=row["item_id"],
                event=event,
                kind=ItemKind(row["kind"]),
                nominal=Decimal(str(row["nominal"])),
                service_fee=Decimal(str(row["service_fee"])),
                discount=Decimal(str(row["discount"])),
                bonus_share=int(row["bonus_share"]),
            )
        )
    found = []
    for order_id, row in orders.items():
        placed = sql.as_datetime(row["created_at"])
        assert placed is not None
        found.append(
            OrderFacts(
                id=order_id,
                program_id=program_id,
                channel=Channel(row["channel"]),
                items=tuple(items[order_id]),
                placed_at=placed,
                bonus_to_spend=int(row["bonus_requested"]),
                mode=OrderMode(row["mode"]) if row["mode"] else None,
                promo_code=row["promo_code"],
                referral_code=row["referral_code"],
                paid_at=sql.as_datetime(row["paid_at"]),
            )
        )
    return tuple(found)
