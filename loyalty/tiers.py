"""Club tiers (TK-05 Decision): by spend in the last 365 days, or set by staff.

A tier is computed when it is needed, never stored from spend: spend falls out of
the 365-day window by itself, so a stored tier would go stale. What is stored is
the staff's choice (`Wallet.tier`, null until staff set one), which wins over spend.
The program's rules (`tier_for` in plugins) turn spend into a tier.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import timedelta
from decimal import Decimal

from tortoise.transactions import in_transaction

from loyalty import clock, participants
from loyalty.enums import OrderStatus, WalletStatus
from loyalty.errors import BadInput
from loyalty.facts import Notification, ParticipantFacts
from loyalty.models import Order, Refund, Wallet
from loyalty.programs import Catalog, Program

WINDOW = timedelta(days=365)
COUNTED = (OrderStatus.PAID, OrderStatus.PARTIALLY_REFUNDED, OrderStatus.REFUNDED)


async def spend_365_days(wallet_ids: Sequence[int]) -> dict[int, Decimal]:
    """For each wallet, the money paid in its orders paid in the last 365 days, less refunds.

    Money paid is an order's total (LB-08) less the bonuses spent on it; the money
    refunded on those orders is taken off. Two queries for any number of wallets.
    """
    ids = list(dict.fromkeys(wallet_ids))
    spend: dict[int, Decimal] = defaultdict(Decimal)
    if not ids:
        return {}
    since = clock.now() - WINDOW
    rows = await Order.filter(wallet_id__in=ids, status__in=list(COUNTED), paid_at__gt=since).values(
        "id", "wallet_id", "total", "bonus_spent"
    )
    wallet_of = {row["id"]: row["wallet_id"] for row in rows}
    for row in rows:
        spend[row["wallet_id"]] += Decimal(row["total"]) - row["bonus_spent"]
    if wallet_of:
        for refund in await Refund.filter(order_id__in=list(wallet_of)).values("order_id", "money_refund"):
            spend[wallet_of[refund["order_id"]]] -= Decimal(refund["money_refund"])
    return {wallet_id: max(spend[wallet_id], Decimal("0.00")) for wallet_id in ids}


def tier_from(program: Program, wallet: Wallet, spend: Decimal, who: ParticipantFacts | None = None) -> str | None:
    """The wallet's tier: the staff's where staff set one, else what the spend earns."""
    return tier_by(program, wallet.tier, wallet.participant_id, wallet.status, spend, who)


def tier_by(
    program: Program,
    staff_tier: str | None,
    participant_id: int,
    wallet_status: WalletStatus,
    spend: Decimal,
    who: ParticipantFacts | None = None,
) -> str | None:
    """`tier_from` for a wallet read as plain values (loyalty.reads)."""
    if not program.tiers:
        return None
    if staff_tier in program.tiers:
        return staff_tier
    facts = who or ParticipantFacts(id=str(participant_id), wallet_status=wallet_status)
    return program.rules.tier_for(spend, facts)


async def tiers_of(catalog: Catalog, wallets: Sequence[Wallet]) -> dict[int, str | None]:
    """The current tier of each wallet (None in programs without tiers), for dataloaders."""
    with_tiers = [wallet for wallet in wallets if catalog.get(wallet.program_id).tiers]
    spend = await spend_365_days([wallet.id for wallet in with_tiers])
    found: dict[int, str | None] = {wallet.id: None for wallet in wallets}
    for wallet in with_tiers:
        found[wallet.id] = tier_from(catalog.get(wallet.program_id), wallet, spend[wallet.id])
    return found


async def tier_of(program: Program, wallet: Wallet | None, who: ParticipantFacts | None = None) -> str | None:
    """One wallet's current tier; None without a wallet or where the program has no tiers."""
    if wallet is None or not program.tiers:
        return None
    spend = await spend_365_days([wallet.id])
    return tier_from(program, wallet, spend[wallet.id], who)


async def spend_earned_tiers(program: Program) -> tuple[str | None, dict[int, str | None]]:
    """Where spend decides a wallet's tier in the program (no staff tier): the tier that no
    spend earns, and the tier of each such wallet that spent in the last 365 days.

    Every other wallet without a staff tier has the first answer. For audiences (CA-02),
    which filter millions of wallets by tier: only recent buyers need computing.
    """
    if not program.tiers:
        return None, {}
    nobody = ParticipantFacts(id="", wallet_status=None)
    no_spend = program.rules.tier_for(Decimal("0.00"), nobody)
    since = clock.now() - WINDOW
    buyers = await Order.filter(
        program_id=program.id, wallet_id__isnull=False, status__in=list(COUNTED), paid_at__gt=since
    ).values_list("wallet_id", flat=True)
    wallets = await Wallet.filter(id__in=list(set(buyers)), tier__isnull=True)
    spend = await spend_365_days([wallet.id for wallet in wallets])
    return no_spend, {wallet.id: tier_from(program, wallet, spend[wallet.id]) for wallet in wallets}


async def set_tier(catalog: Catalog, customer_id: str, program_id: str, tier: str) -> Wallet:
    """Staff assign a wallet's tier by hand (setTier); it stands until staff change it.

    BAD_INPUT for a tier the program does not define; NOT_FOUND without a wallet.
    """
    program = catalog.get(program_id)
    if tier not in program.tiers:
        defined = ", ".join(program.tiers) or "none"
        raise BadInput(f"program {program.id!r} has no tier {tier!r} (its tiers: {defined})")
    participant = await participants.find(customer_id)
    async with in_transaction():
        wallet = (
            await Wallet.select_for_update().get_or_none(participant_id=participant.id, program_id=program.id)
            if participant
            else None
        )
        if wallet is None:
            raise participants.no_wallet(customer_id, program.id)
        wallet.tier = tier
        await wallet.save(update_fields=["tier"])
    program.rules.notify(
        Notification(kind="tier_set", program_id=program.id, at=clock.now(), participant_id=customer_id, detail=tier)
    )
    return wallet
