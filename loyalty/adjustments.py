"""Staff corrections of a wallet: credits and debits with a reason (MG-13)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from tortoise.transactions import in_transaction

from loyalty import clock, ledger, participants
from loyalty.enums import EntryKind
from loyalty.errors import BadInput, RuleViolation
from loyalty.models import Entry
from loyalty.programs import Catalog


@dataclass(frozen=True)
class Adjustment:
    """AdjustmentInput: positive credits, negative debits."""

    customer_id: str
    program_id: str
    amount: int
    reason: str
    valid_days: int | None = None


async def adjust(catalog: Catalog, adjustment: Adjustment) -> Entry:
    """Write one ADJUSTMENT entry: a credit is a lot valid `valid_days` (default the
    program's validity); a debit takes active lots soonest-expiring first."""
    program = catalog.get(adjustment.program_id)
    if adjustment.amount == 0:
        raise BadInput("an adjustment of 0 bonuses changes nothing")
    if not adjustment.reason.strip():
        raise BadInput("an adjustment needs a reason")
    if adjustment.valid_days is not None and not 0 < adjustment.valid_days <= clock.MAX_VALID_DAYS:
        raise BadInput(f"validDays must be between 1 and {clock.MAX_VALID_DAYS}")
    participant = await participants.find(adjustment.customer_id)
    wallet = await participants.wallet_of(participant, program.id) if participant else None
    if wallet is None:
        raise participants.no_wallet(adjustment.customer_id, program.id)
    async with in_transaction():
        locked = await ledger.lock_wallet(wallet.id)
        if adjustment.amount > 0:
            validity = timedelta(days=adjustment.valid_days) if adjustment.valid_days else program.validity
            return await ledger.credit(
                locked,
                kind=EntryKind.ADJUSTMENT,
                amount=adjustment.amount,
                rule=None,
                rules_version=program.rules_version,
                activates_at=clock.now(),
                expires_at=clock.now() + validity,
                description=adjustment.reason,
            )
        try:
            return await ledger.debit(
                locked,
                -adjustment.amount,
                kind=EntryKind.ADJUSTMENT,
                rules_version=program.rules_version,
                rule=None,
                description=adjustment.reason,
            )
        except RuleViolation as short:
            raise BadInput(f"cannot debit {-adjustment.amount}: {short.message}") from None
