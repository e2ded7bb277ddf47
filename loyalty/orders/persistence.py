"""Orders: quoting a cart, recording, paying and cancelling (LB-02, LB-03, LB-06, LB-08, LB-20).

`record_order` holds the bonuses the order will spend; `pay_order` takes them for good
and credits the accruals; `cancel_order` gives an unpaid order's hold back. Every write
is idempotent by the ticketing system's order id.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass
from typing import NoReturn

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from loyalty import achievements, clock, ledger, promo_codes, referrals, sql
from loyalty.enums import EntryKind, OrderStatus, WalletStatus
from loyalty.errors import BadInput, Conflict, NotFound, RuleViolation
from loyalty.facts import Credit, Limit, Notification, OrderFacts
from loyalty.models import Order, Participant, Wallet
from loyalty.money import allocate
from loyalty.orders import store
from loyalty.orders.drafts import OrderDraft, content_digest, validate
from loyalty.orders.policy import blocked_rule, erased, outside_organizers, planned_credits, spend_cap, spend_limit
from loyalty.orders.rule_facts import facts_of, participant_facts, with_shares
from loyalty.programs import Catalog, Program


@dataclass(frozen=True)
class Quote:
    """How many bonuses a cart may be paid with now (QuoteRedemption)."""

    program_id: str
    max_bonus: int
    available: int
    reason: str | None


async def quote(catalog: Catalog, draft: OrderDraft) -> Quote:
    """How many bonuses recordOrder would accept as bonusToSpend for this cart now (LB-08)."""
    draft = validate(draft)
    program = catalog.get(draft.program_id)
    found = await store.buyer(None, draft.customer_id, program.id, (item.event_id for item in draft.items))
    order = with_shares(draft, clock.now(), found.events_named(item.event_id for item in draft.items))
    participant, wallet = found.participant, found.wallet
    available = found.balance.spendable
    who = await participant_facts(program, draft.customer_id, participant, wallet, available)
    most, reason = spend_limit(program, order, who, participant, wallet, available)
    return Quote(program_id=program.id, max_bonus=most, available=available, reason=reason)


async def record_order(catalog: Catalog, draft: OrderDraft) -> Order:
    """Record an order (CREATED) and hold its bonusToSpend (LB-08, LB-13).

    The same id with the same content returns the first answer; with other content,
    CONFLICT. Nothing is written when any check fails, a refused hold included.
    Everything is decided before the write; only a hold takes the wallet's lock. On
    PostgreSQL the order, its items and the hold are one statement in autocommit, so the
    lock is held while it runs only; on SQLite the order's rows are written first, then
    the hold, in one transaction.
    """
    draft = validate(draft)
    if draft.id is None:
        raise BadInput("an order needs an id")
    program = catalog.get(draft.program_id)
    digest = content_digest(draft)
    event_ids = [item.event_id for item in draft.items]
    found = await store.buyer(draft.id, draft.customer_id, program.id, event_ids)
    if found.recorded_digest is not None:
        return await _repeated(program, draft.id, digest)
    now = clock.now()
    participant, wallet = found.participant, found.wallet
    known = found.events_named(event_ids)
    order = with_shares(draft, now, known)
    if outside_organizers(program, order):
        raise RuleViolation("MG-07", f"program {program.id!r} covers only its organizers' events")
    available = found.balance.spendable
    who = await participant_facts(program, draft.customer_id, participant, wallet, available)
    await promo_codes.check_for_order(program, order, who)
    if draft.bonus_to_spend > 0:
        if wallet is None:
            raise RuleViolation("LB-01", "the customer has not joined this program")
        most, reason = spend_limit(program, order, who, participant, wallet, available)
        if draft.bonus_to_spend > most:
            raise RuleViolation(reason or "LB-08", f"at most {most} bonuses may be spent on this order")
    shares = allocate(draft.bonus_to_spend, [item.value for item in order.items])
    order = with_shares(draft, now, known, shares)
    to_accrue = sum(credit.amount for credit in planned_credits(program, order, who, participant))
    record = store.new_order(
        id=draft.id,
        customer_id=draft.customer_id,
        program_id=program.id,
        # An erased participant's new orders stay apart from the pseudonymous wallet (LB-16).
        wallet_id=wallet.id if wallet and not erased(participant) else None,
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
    items = [
        store.ItemRow(
            item_id=item.id or f"{n + 1}",
            event_id=item.event_id,
            kind=item.kind,
            nominal=item.nominal,
            service_fee=item.service_fee,
            discount=item.discount,
            bonus_share=shares[n],
        )
        for n, item in enumerate(draft.items)
    ]
    holds = draft.bonus_to_spend > 0 and wallet is not None
    try:
        if holds and wallet is not None and sql.is_postgres():
            # One statement in autocommit: the wallet's lock held for its execution only.
            held = await store.insert_holding(record, items, wallet.id, draft.bonus_to_spend)
            if not held.written:
                recorded = held.enough or held.recorded or (held.locked and await _recorded_meanwhile(draft.id))
                _refuse(held, participant, recorded=recorded)
            return await _attributed(program, record)
        # On PostgreSQL an order without a hold is one statement, atomic by itself.
        async with in_transaction() if holds or not sql.is_postgres() else nullcontext():
            if not await store.insert(record, items):
                raise _Recorded()
            if holds and wallet is not None:
                # Read again under the lock: a block of either kind since the check above (MG-13).
                locked, status = await ledger.lock_wallet_standing(wallet.id)
                if status is not WalletStatus.ACTIVE:
                    raise RuleViolation(blocked_rule(participant), "the wallet cannot spend")
                await ledger.hold(locked, draft.bonus_to_spend, record.id)
    except (_Recorded, IntegrityError) as error:
        # Recorded by a concurrent request with the same id: answer as a repeat would.
        existing = await Order.get_or_none(id=draft.id)
        if existing is None:
            raise error from None
        return await _attributed(program, _same_or_conflict(existing, digest))
    return await _attributed(program, record)


class _Recorded(Exception):
    """The order's id was recorded by a concurrent request meanwhile."""


async def _recorded_meanwhile(order_id: str) -> bool:
    # A hold refused under the lock writes nothing; a concurrent request with the same id
    # may have recorded it while this one waited (and held the bonuses it then found
    # short), which the statement's snapshot cannot see: answer as a repeat.
    return bool(await sql.fetch("SELECT 1 FROM orders WHERE id = $1", order_id))


def _refuse(held: ledger.Hold, participant: Participant | None, *, recorded: bool) -> NoReturn:
    """Why a hold with its order wrote nothing: recorded meanwhile, no wallet, a block
    (MG-13, read under the lock), or too few bonuses (LB-08)."""
    if recorded:
        raise _Recorded()
    if held.standing is None:
        raise NotFound("no wallet")
    if held.standing is not WalletStatus.ACTIVE:
        raise RuleViolation(blocked_rule(participant), "the wallet cannot spend")
    raise held.short()


async def _repeated(program: Program, order_id: str, digest: str) -> Order:
    existing = await Order.get(id=order_id)
    return await _attributed(program, _same_or_conflict(existing, digest))


async def _attributed(program: Program, order: Order) -> Order:
    # RF-05, RF-07: after the order's commit, in a transaction of its own, so a racing
    # order of the same friend meets the unique key without failing this sale. A repeat
    # of the same order attributes what a crash may have left unattributed.
    await referrals.attribute(program, order)
    return order


def _same_or_conflict(existing: Order, digest: str) -> Order:
    if existing.content_digest != digest:
        raise Conflict(f"order {existing.id!r} was recorded with other content")
    return existing


async def get_order(order_id: str) -> Order | None:
    """The order with the ticketing system's id; None if never recorded."""
    return await Order.get_or_none(id=order_id)


async def pay_order(catalog: Catalog, order_id: str) -> Order:
    """Mark a CREATED order PAID: take the hold (SPEND) and credit its accruals (LB-02, LB-03).

    Paying a paid order again returns it unchanged; a cancelled one: CONFLICT. The
    order's row is locked first; what the payment writes is decided before the
    wallet's lock is taken, and decided again under it only if the wallet changed.
    """
    async with in_transaction():
        found = await store.for_payment(order_id)
        if found is None:
            raise NotFound(f"no order {order_id!r}")
        order = found.order
        if order.status is OrderStatus.CANCELLED:
            raise Conflict("a cancelled order cannot be paid")
        if order.status is not OrderStatus.CREATED:
            return order
        program = catalog.get(order.program_id)
        if order.promo_code:
            await promo_codes.use(order.promo_code, order.id)  # TK-01: once, even under concurrency
        participant, wallet = found.participant, found.wallet
        if order.wallet_id is None and erased(participant):
            wallet = None  # erased (LB-16): nothing to take or credit
        facts = facts_of(order, found.items)
        accrued, marked = 0, False
        paid_at = clock.now()
        if wallet is not None:
            # A tier follows the wallet's paid orders, which only its lock keeps still (TK-05).
            plan = None if program.tiers else await _plan(program, order, facts, participant, wallet)
            wallet = await ledger.lock_wallet(wallet.id)
            if plan is None or (wallet.status, wallet.tier) != (plan.wallet.status, plan.wallet.tier):
                plan = await _plan(program, order, facts, participant, wallet)
            if order.bonus_spent:
                # The SPEND entry names the rule that let the order be paid with bonuses (LB-08, MG-08).
                await ledger.take_held(
                    wallet,
                    order.id,
                    rules_version=program.rules_version,
                    rule=plan.cap.rule if plan.cap else None,
                    description="bonuses spent on the order",
                )
            # Marked PAID with its credits (one statement on PostgreSQL), unless a referral
            # reads the order first.
            accrued = sum(credit.amount for credit in plan.credits)
            marked = not order.referral_code
            mark = store.marking_paid(order.id, paid_at, accrued, wallet.id) if marked else None
            await _credit_accruals(program, wallet, facts, plan.credits, mark)
            order.wallet_id = wallet.id
        # After the ledger writes, inside the payment's transaction.
        if order.referral_code:
            # RF-02..RF-08: in the payment's transaction; a friend not joined is owed the bonus.
            friend = await participant_facts(program, order.customer_id, participant, wallet, 0)
            await referrals.on_order_paid(program, order, facts, friend, wallet)
        order.status = OrderStatus.PAID
        order.paid_at = paid_at
        order.bonus_accrued = accrued
        if not marked:
            await store.mark_paid(order.id, order.paid_at, accrued, order.wallet_id)
        # GA-02: what the payment completes unlocks in its transaction (nothing where none are defined).
        await achievements.on_order_paid(program, order.id, wallet, participant)
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


@dataclass(frozen=True)
class _Plan:
    """What paying an order into `wallet` writes: its cap's rule and its credits."""

    wallet: Wallet
    cap: Limit | None
    credits: list[Credit]


async def _plan(
    program: Program, order: Order, facts: OrderFacts, participant: Participant | None, wallet: Wallet
) -> _Plan:
    who = await participant_facts(program, order.customer_id, participant, wallet, 0)
    cap = spend_cap(program, facts, who) if order.bonus_spent else None
    return _Plan(wallet=wallet, cap=cap, credits=planned_credits(program, facts, who, participant))


async def _credit_accruals(
    program: Program, wallet: Wallet, order: OrderFacts, credits: list[Credit], alongside: ledger.Alongside | None
) -> None:
    """Write each credit as a lot and an ACCRUAL entry, with `alongside`; a rolling-expiry
    program then extends the wallet's whole balance to the latest expiry written (MG-06)."""
    now = clock.now()
    starts = {item.event.id: item.event.starts_at for item in order.items}
    lots = []
    for credit in credits:
        activates = credit.activates_at or starts.get(credit.event_id or "", now)
        activates = max(activates, now)
        lots.append(
            ledger.NewLot(
                kind=EntryKind.ACCRUAL,
                amount=credit.amount,
                rule=credit.rule,
                rules_version=program.rules_version,
                activates_at=activates,
                expires_at=activates + (credit.valid_for or program.validity),
                order_id=order.id,
                event_id=credit.event_id,
                description=credit.description or "bonuses for the order",
                plugin=credit.plugin,
            )
        )
    await ledger.credit_lots(wallet, lots, alongside)
    expiries = [lot.expires_at for lot in lots if lot.expires_at is not None]
    if program.rolling_expiry and expiries:
        await ledger.extend_expiry(wallet, max(expiries))


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
