"""Orders: quoting a cart, recording, paying and cancelling (LB-02, LB-03, LB-06, LB-08, LB-20).

`record_order` holds the bonuses the order will spend; `pay_order` takes them for good
and credits the accruals; `cancel_order` gives an unpaid order's hold back. Every write
is idempotent by the ticketing system's order id.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from loyalty import clock, events, ledger, participants, promo_codes, tiers
from loyalty.errors import BadInput, Conflict, NotFound, RuleViolation
from loyalty.facts import Credit, ItemFacts, Limit, Notification, OrderFacts, ParticipantFacts
from loyalty.models import (
    Channel,
    EntryKind,
    ItemKind,
    Order,
    OrderItem,
    OrderMode,
    OrderStatus,
    Participant,
    ParticipantStatus,
    Wallet,
    WalletStatus,
)
from loyalty.money import allocate, parse_money
from loyalty.programs import Catalog, Program

MAX_ITEMS = 500


@dataclass(frozen=True)
class ItemDraft:
    """One item as OrderItemInput or CartItemInput carries it (cart items have no id)."""

    event_id: str
    kind: ItemKind
    nominal: Decimal
    service_fee: Decimal = Decimal("0.00")
    discount: Decimal = Decimal("0.00")
    id: str | None = None


@dataclass(frozen=True)
class OrderDraft:
    """An order as OrderInput carries it, or a cart to quote (`id` None)."""

    customer_id: str
    program_id: str
    channel: Channel
    items: tuple[ItemDraft, ...]
    id: str | None = None
    bonus_to_spend: int = 0
    mode: OrderMode | None = None
    promo_code: str | None = None
    referral_code: str | None = None
    fingerprint: str | None = None


@dataclass(frozen=True)
class Quote:
    """How many bonuses a cart may be paid with now (QuoteRedemption)."""

    program_id: str
    max_bonus: int
    available: int
    reason: str | None


def _validate(draft: OrderDraft) -> OrderDraft:
    if not draft.items:
        raise BadInput("an order needs at least one item")
    if len(draft.items) > MAX_ITEMS:
        raise BadInput(f"an order has at most {MAX_ITEMS} items")
    if draft.bonus_to_spend < 0:
        raise BadInput("bonusToSpend is negative")
    if draft.id is not None and not draft.id.strip():
        raise BadInput("the order id is empty")
    seen: set[str] = set()
    items = []
    for item in draft.items:
        if item.id is not None:
            if item.id in seen:
                raise BadInput(f"item {item.id!r} appears twice")
            seen.add(item.id)
        try:
            nominal = parse_money(item.nominal, "nominal")
            fee = parse_money(item.service_fee, "serviceFee")
            discount = parse_money(item.discount, "discount")
        except ValueError as error:
            raise BadInput(f"item {item.id or item.event_id!r}: {error}") from None
        if discount > nominal:
            raise BadInput(f"item {item.id or item.event_id!r}: discount exceeds nominal")
        items.append(replace(item, nominal=nominal, service_fee=fee, discount=discount))
    return replace(draft, items=tuple(items))


def _digest(draft: OrderDraft) -> str:
    content = {
        "customer": draft.customer_id,
        "program": draft.program_id,
        "channel": draft.channel.value,
        "items": [
            [i.id, i.event_id, i.kind.value, str(i.nominal), str(i.service_fee), str(i.discount)] for i in draft.items
        ],
        "spend": draft.bonus_to_spend,
        "mode": draft.mode.value if draft.mode else None,
        "promo": draft.promo_code,
        "referral": draft.referral_code,
        "fingerprint": draft.fingerprint,
    }
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


async def _order_facts(draft: OrderDraft, placed_at: datetime, shares: list[int] | None = None) -> OrderFacts:
    known = await events.facts_by_id(item.event_id for item in draft.items)
    items = tuple(
        ItemFacts(
            id=item.id,
            event=known[item.event_id],
            kind=item.kind,
            nominal=item.nominal,
            service_fee=item.service_fee,
            discount=item.discount,
            bonus_share=shares[n] if shares else 0,
        )
        for n, item in enumerate(draft.items)
    )
    return OrderFacts(
        id=draft.id,
        program_id=draft.program_id,
        channel=draft.channel,
        items=items,
        placed_at=placed_at,
        bonus_to_spend=draft.bonus_to_spend,
        mode=draft.mode,
        promo_code=draft.promo_code,
        referral_code=draft.referral_code,
    )


def _participant_facts(
    customer_id: str, participant: Participant | None, wallet: Wallet | None, active: int, tier: str | None = None
) -> ParticipantFacts:
    return ParticipantFacts(
        id=customer_id,
        wallet_status=wallet.status if wallet else None,
        tier=tier,
        birth_date=participant.birth_date if participant else None,
        guardian_consent=participant.guardian_consent if participant else False,
        active_balance=active,
    )


async def participant_facts(
    program: Program, customer_id: str, participant: Participant | None, wallet: Wallet | None, active: int
) -> ParticipantFacts:
    """The buyer as plain data for the rules, with the wallet's club tier now (TK-05)."""
    who = _participant_facts(customer_id, participant, wallet, active)
    tier = await tiers.tier_of(program, wallet, who)
    return _participant_facts(customer_id, participant, wallet, active, tier)


def outside_organizers(program: Program, order: OrderFacts) -> bool:
    """MG-07: the program covers only its organizers' events, and the order has another's."""
    return bool(program.organizers) and any(item.event.organizer_id not in program.organizers for item in order.items)


async def _wallet(customer_id: str, program_id: str) -> tuple[Participant | None, Wallet | None]:
    participant = await participants.find(customer_id)
    if participant is None:
        return None, None
    return participant, await participants.wallet_of(participant, program_id)


def _erased(participant: Participant | None) -> bool:
    """LB-16: the participant's data was erased; their wallet's ledger stays pseudonymous."""
    return participant is not None and participant.status is ParticipantStatus.ERASED


def _blocked_rule(participant: Participant | None) -> str:
    return "LB-16" if _erased(participant) else "MG-13"


def spend_limit(
    program: Program,
    order: OrderFacts,
    who: ParticipantFacts,
    participant: Participant | None,
    wallet: Wallet | None,
    available: int,
) -> tuple[int, str | None]:
    """The most bonuses this order may spend, and the rule that limits it (None: the balance)."""
    if wallet is None:
        return 0, None
    if wallet.status is WalletStatus.BLOCKED:
        return 0, _blocked_rule(participant)
    if wallet.status is WalletStatus.PENDING:
        return 0, "LB-01"
    if outside_organizers(program, order):
        return 0, "MG-07"
    for refusal in program.rules.refusals(order, who):
        if refusal.what == "spend":
            return 0, refusal.rule
    cap = _cap(program, order, who)
    if cap is not None and cap.max_bonus < available:
        return max(cap.max_bonus, 0), cap.rule
    return available, None


def _cap(program: Program, order: OrderFacts, who: ParticipantFacts) -> Limit | None:
    """The smallest cap on the bonuses the order may be paid with (LB-08, MG-08); None: no cap."""
    return min(program.rules.redemption_limits(order, who), key=lambda limit: limit.max_bonus, default=None)


def _earns(program: Program, order: OrderFacts, who: ParticipantFacts, participant: Participant | None) -> bool:
    if who.wallet_status is not WalletStatus.ACTIVE:
        return False  # LB-01: not joined, unverified, or blocked
    if participant is None or participant.status is not ParticipantStatus.ACTIVE:
        return False
    if outside_organizers(program, order):
        return False  # MG-07
    return not any(refusal.what == "earn" for refusal in program.rules.refusals(order, who))


def planned_credits(
    program: Program, order: OrderFacts, who: ParticipantFacts, participant: Participant | None
) -> list[Credit]:
    """The credits paying this order would write (LB-02, PL-01); [] where it earns nothing."""
    if not _earns(program, order, who, participant):
        return []
    return [credit for credit in program.rules.accruals(order, who) if credit.amount > 0]


async def quote(catalog: Catalog, draft: OrderDraft) -> Quote:
    """How many bonuses recordOrder would accept as bonusToSpend for this cart now (LB-08)."""
    draft = _validate(draft)
    program = catalog.get(draft.program_id)
    order = await _order_facts(draft, clock.now())
    participant, wallet = await _wallet(draft.customer_id, program.id)
    available = (await ledger.balance(wallet.id)).active if wallet else 0
    who = await participant_facts(program, draft.customer_id, participant, wallet, available)
    most, reason = spend_limit(program, order, who, participant, wallet, available)
    return Quote(program_id=program.id, max_bonus=most, available=available, reason=reason)


async def record_order(catalog: Catalog, draft: OrderDraft) -> Order:
    """Record an order (CREATED) and hold its bonusToSpend (LB-08, LB-13).

    The same id with the same content returns the first answer; with other content,
    CONFLICT. Nothing is written when any check fails.
    """
    draft = _validate(draft)
    if draft.id is None:
        raise BadInput("an order needs an id")
    program = catalog.get(draft.program_id)
    digest = _digest(draft)
    existing = await Order.get_or_none(id=draft.id)
    if existing is not None:
        return _same_or_conflict(existing, digest)
    now = clock.now()
    participant, wallet = await _wallet(draft.customer_id, program.id)
    order = await _order_facts(draft, now)
    if outside_organizers(program, order):
        raise RuleViolation("MG-07", f"program {program.id!r} covers only its organizers' events")
    available = (await ledger.balance(wallet.id)).active if wallet else 0
    who = await participant_facts(program, draft.customer_id, participant, wallet, available)
    await promo_codes.check_for_order(program, order, who)
    if draft.bonus_to_spend > 0:
        if wallet is None:
            raise RuleViolation("LB-01", "the customer has not joined this program")
        most, reason = spend_limit(program, order, who, participant, wallet, available)
        if draft.bonus_to_spend > most:
            raise RuleViolation(reason or "LB-08", f"at most {most} bonuses may be spent on this order")
    shares = allocate(draft.bonus_to_spend, [item.value for item in order.items])
    order = await _order_facts(draft, now, shares)
    to_accrue = sum(credit.amount for credit in planned_credits(program, order, who, participant))
    try:
        async with in_transaction():
            if draft.bonus_to_spend > 0 and wallet is not None:
                locked = await ledger.lock_wallet(wallet.id)
                if locked.status is not WalletStatus.ACTIVE:
                    raise RuleViolation(_blocked_rule(participant), "the wallet cannot spend")
            record = await Order.create(
                id=draft.id,
                customer_id=draft.customer_id,
                program_id=program.id,
                # An erased participant's new orders stay apart from the pseudonymous wallet (LB-16).
                wallet_id=wallet.id if wallet and not _erased(participant) else None,
                channel=draft.channel,
                mode=draft.mode,
                promo_code=draft.promo_code,
                referral_code=draft.referral_code,
                fingerprint=draft.fingerprint,
                total=order.total,
                bonus_requested=draft.bonus_to_spend,
                bonus_spent=draft.bonus_to_spend,
                bonus_to_accrue=to_accrue,
                content_digest=digest,
                rules_version=program.rules_version,
                created_at=now,
            )
            await OrderItem.bulk_create(
                [
                    OrderItem(
                        order_id=record.id,
                        item_id=item.id or f"{n + 1}",
                        position=n,
                        event_id=item.event_id,
                        kind=item.kind,
                        nominal=item.nominal,
                        service_fee=item.service_fee,
                        discount=item.discount,
                        bonus_share=shares[n],
                    )
                    for n, item in enumerate(draft.items)
                ]
            )
            if draft.bonus_to_spend > 0 and wallet is not None:
                await ledger.hold(locked, draft.bonus_to_spend, record.id)
    except IntegrityError:
        # Recorded by a concurrent request with the same id: answer as a repeat would.
        existing = await Order.get_or_none(id=draft.id)
        if existing is None:
            raise
        return _same_or_conflict(existing, digest)
    return record


def _same_or_conflict(existing: Order, digest: str) -> Order:
    if existing.content_digest != digest:
        raise Conflict(f"order {existing.id!r} was recorded with other content")
    return existing


async def get_order(order_id: str) -> Order | None:
    """The order with the ticketing system's id; None if never recorded."""
    return await Order.get_or_none(id=order_id)


async def stored_facts(order: Order) -> OrderFacts:
    """The recorded order as plain data for the rules, bonus shares included."""
    items = await OrderItem.filter(order_id=order.id).order_by("position")
    known = await events.facts_by_id(item.event_id for item in items)
    return OrderFacts(
        id=order.id,
        program_id=order.program_id,
        channel=order.channel,
        items=tuple(
            ItemFacts(
                id=item.item_id,
                event=known[item.event_id],
                kind=item.kind,
                nominal=item.nominal,
                service_fee=item.service_fee,
                discount=item.discount,
                bonus_share=item.bonus_share,
            )
            for item in items
        ),
        placed_at=order.created_at,
        bonus_to_spend=order.bonus_requested,
        mode=order.mode,
        promo_code=order.promo_code,
        referral_code=order.referral_code,
    )


async def pay_order(catalog: Catalog, order_id: str) -> Order:
    """Mark a CREATED order PAID: take the hold (SPEND) and credit its accruals (LB-02, LB-03).

    Paying a paid order again returns it unchanged; a cancelled one: CONFLICT.
    """
    async with in_transaction():
        order = await Order.select_for_update().get_or_none(id=order_id)
        if order is None:
            raise NotFound(f"no order {order_id!r}")
        if order.status is OrderStatus.CANCELLED:
            raise Conflict("a cancelled order cannot be paid")
        if order.status is not OrderStatus.CREATED:
            return order
        program = catalog.get(order.program_id)
        if order.promo_code:
            await promo_codes.use(order.promo_code, order.id)  # TK-01: once, even under concurrency
        participant, wallet = await _wallet(order.customer_id, program.id)
        if order.wallet_id is not None:
            wallet = await ledger.lock_wallet(order.wallet_id)
        elif wallet is not None and not _erased(participant):
            wallet = await ledger.lock_wallet(wallet.id)
        else:
            wallet = None  # not joined, or erased (LB-16): nothing to take or credit
        accrued = 0
        if wallet is not None:
            facts = await stored_facts(order)
            who = await participant_facts(program, order.customer_id, participant, wallet, 0)
            # The SPEND entry names the rule that let the order be paid with bonuses (LB-08, MG-08).
            cap = _cap(program, facts, who) if order.bonus_spent else None
            await ledger.take_held(
                wallet,
                order.id,
                rules_version=program.rules_version,
                rule=cap.rule if cap else None,
                description="bonuses spent on the order",
            )
            accrued = await _credit_accruals(program, wallet, facts, planned_credits(program, facts, who, participant))
            order.wallet_id = wallet.id
        order.status = OrderStatus.PAID
        order.paid_at = clock.now()
        order.bonus_accrued = accrued
        await order.save(update_fields=["status", "paid_at", "bonus_accrued", "wallet_id"])
    program.rules.notify(
        Notification(
            kind="order_paid",
            program_id=program.id,
            at=order.paid_at or clock.now(),
            participant_id=order.customer_id,
            order_id=order.id,
            bonus=accrued,
        )
    )
    return order


async def _credit_accruals(program: Program, wallet: Wallet, order: OrderFacts, credits: list[Credit]) -> int:
    """Write each credit as a lot and an ACCRUAL entry; a rolling-expiry program then
    extends the wallet's whole balance to the latest expiry written (MG-06)."""
    now = clock.now()
    starts = {item.event.id: item.event.starts_at for item in order.items}
    latest: datetime | None = None
    for credit in credits:
        activates = credit.activates_at or starts.get(credit.event_id or "", now)
        activates = max(activates, now)
        expires = activates + (credit.valid_for or program.validity)
        await ledger.credit(
            wallet,
            kind=EntryKind.ACCRUAL,
            amount=credit.amount,
            rule=credit.rule,
            rules_version=program.rules_version,
            activates_at=activates,
            expires_at=expires,
            order_id=order.id,
            event_id=credit.event_id,
            description=credit.description or "bonuses for the order",
            plugin=credit.plugin,
        )
        latest = expires if latest is None else max(latest, expires)
    if program.rolling_expiry and latest is not None:
        await ledger.extend_expiry(wallet, latest)
    return sum(credit.amount for credit in credits)


async def cancel_order(order_id: str) -> Order:
    """Cancel an unpaid order: CANCELLED, its hold released (LB-20); a paid one: CONFLICT."""
    async with in_transaction():
        order = await Order.select_for_update().get_or_none(id=order_id)
        if order is None:
            raise NotFound(f"no order {order_id!r}")
        if order.status is OrderStatus.CANCELLED:
            return order
        if order.status is not OrderStatus.CREATED:
            raise Conflict("a paid order is refunded, never cancelled")
        if order.wallet_id is not None:
            await ledger.lock_wallet(order.wallet_id)
            await ledger.release_held(order.id)
        order.status = OrderStatus.CANCELLED
        order.cancelled_at = clock.now()
        order.bonus_spent = 0
        await order.save(update_fields=["status", "cancelled_at", "bonus_spent"])
    return order
