"""Promo codes: issued in batches for one event, checked, used once at payment (TK-01..TK-03).

A code is unique across programs and too long to guess (80 random bits). Recording
an order checks its code (known, this program, for one of the order's events, not
used, not expired); paying the order uses it with one conditional update, so of two
orders carrying one code only the first payment takes it (TK-01), even when they
pay at the same instant. A refund never gives a used code back (TK-03); an unpaid
order that is cancelled never used it, so the code stays free.
"""

from __future__ import annotations

import calendar
import secrets
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from loyalty import clock, events
from loyalty.errors import BadInput, NotFound, RuleViolation
from loyalty.facts import Notification, OrderFacts, ParticipantFacts, PromoCodeFacts
from loyalty.models import PromoCode, PromoCodeBatch
from loyalty.money import parse_money
from loyalty.programs import Catalog, Program

ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # 32 symbols, no 0/O or 1/I to misread
LENGTH = 16  # 16 x 5 bits = 80 random bits
MAX_BATCH = 10_000
DEFAULT_VALID_MONTHS = 3  # TK-02


@dataclass(frozen=True)
class BatchRequest:
    """PromoCodeBatchInput: exactly one of discount_percent, discount_amount."""

    program_id: str
    event_id: str
    count: int
    discount_percent: int | None = None
    discount_amount: Decimal | None = None
    valid_months: int | None = None


def add_months(moment: datetime, months: int) -> datetime:
    """`moment` plus calendar months; the day is clamped to the target month's last (31 Jan + 1 = 28 Feb)."""
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def new_code() -> str:
    """A fresh random code."""
    return "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def normalise(code: str) -> str:
    """Codes are matched without surrounding spaces and case."""
    return code.strip().upper()


def _validate(request: BatchRequest) -> BatchRequest:
    if not 1 <= request.count <= MAX_BATCH:
        raise BadInput(f"count must be between 1 and {MAX_BATCH}")
    if (request.discount_percent is None) == (request.discount_amount is None):
        raise BadInput("give exactly one of discountPercent, discountAmount")
    if request.discount_percent is not None and not 1 <= request.discount_percent <= 100:
        raise BadInput("discountPercent must be between 1 and 100")
    amount = None
    if request.discount_amount is not None:
        try:
            amount = parse_money(request.discount_amount, "discountAmount")
        except ValueError as error:
            raise BadInput(str(error)) from None
        if amount <= 0:
            raise BadInput("discountAmount must be positive")
    months = DEFAULT_VALID_MONTHS if request.valid_months is None else request.valid_months
    if not 1 <= months <= 120:
        raise BadInput("validMonths must be between 1 and 120")
    return BatchRequest(
        program_id=request.program_id,
        event_id=request.event_id,
        count=request.count,
        discount_percent=request.discount_percent,
        discount_amount=amount,
        valid_months=months,
    )


async def issue(catalog: Catalog, request: BatchRequest, issued_by: str) -> tuple[PromoCodeBatch, list[str]]:
    """Generate `count` new unique single-use codes for one event (TK-01), valid
    `valid_months` calendar months from now (default 3, TK-02)."""
    program = catalog.get(request.program_id)
    request = _validate(request)
    await events.facts_by_id([request.event_id])  # NOT_FOUND for an unknown event
    now = clock.now()
    assert request.valid_months is not None
    expires = add_months(now, request.valid_months)
    for _attempt in range(3):
        codes = list(dict.fromkeys(new_code() for _ in range(request.count)))
        if len(codes) != request.count:
            continue
        try:
            async with in_transaction():
                batch = await PromoCodeBatch.create(
                    program_id=program.id,
                    event_id=request.event_id,
                    count=request.count,
                    discount_percent=request.discount_percent,
                    discount_amount=request.discount_amount,
                    expires_at=expires,
                    issued_by=issued_by,
                    created_at=now,
                )
                await PromoCode.bulk_create(
                    [
                        PromoCode(
                            code=code,
                            batch_id=batch.id,
                            program_id=program.id,
                            event_id=request.event_id,
                            expires_at=expires,
                        )
                        for code in codes
                    ]
                )
        except IntegrityError:
            continue  # a code collided with one issued before (about 2^-80 a pair): draw again
        program.rules.notify(
            Notification(kind="promo_codes_issued", program_id=program.id, at=now, detail=str(batch.id))
        )
        return batch, codes
    raise RuleViolation("TK-01", "could not draw unique codes; try again")


async def find(code: str) -> tuple[PromoCode, PromoCodeBatch] | None:
    """The code as issued, with its batch; None when no such code was ever issued."""
    row = await PromoCode.get_or_none(code=normalise(code))
    if row is None:
        return None
    return row, await PromoCodeBatch.get(id=row.batch_id)


def refusal(row: PromoCode, at: datetime | None = None) -> str | None:
    """Why the code cannot be used now: "TK-01" (used, also on a refunded order, TK-03),
    "TK-02" (expired); None when it can."""
    if row.used_at is not None:
        return "TK-01"
    if (at or clock.now()) >= row.expires_at:
        return "TK-02"
    return None


def facts(row: PromoCode, batch: PromoCodeBatch) -> PromoCodeFacts:
    """The code as plain data for the rules."""
    return PromoCodeFacts(
        code=row.code,
        program_id=row.program_id,
        event_id=row.event_id,
        expires_at=row.expires_at,
        discount_percent=batch.discount_percent,
        discount_amount=batch.discount_amount,
    )


async def check_for_order(program: Program, order: OrderFacts, who: ParticipantFacts) -> None:
    """Refuse an order whose promo code cannot be used on it (recordOrder; TK-01, TK-02).

    NOT_FOUND for a code never issued; RULE TK-01 for a used code, one of another
    program, or one for an event the order has no ticket for; RULE TK-02 when
    expired; then the program's own checks (`promo_code_refusal`).
    """
    if order.promo_code is None:
        return
    found = await find(order.promo_code)
    if found is None:
        raise NotFound(f"no promo code {order.promo_code!r}")
    row, batch = found
    if row.program_id != program.id:
        raise RuleViolation("TK-01", "the promo code belongs to another program")
    if all(ticket.event.id != row.event_id for ticket in order.tickets):
        raise RuleViolation("TK-01", "the promo code applies to another event")
    why = refusal(row)
    if why == "TK-01":
        raise RuleViolation("TK-01", "the promo code was already used")
    if why == "TK-02":
        raise RuleViolation("TK-02", "the promo code has expired")
    refused = program.rules.promo_code_refusal(facts(row, batch), order, who)
    if refused is not None:
        raise RuleViolation(refused.rule, refused.message)


async def use(code: str, order_id: str) -> None:
    """Take the code for the order being paid, once (TK-01); RULE TK-01 if already taken.

    One conditional UPDATE ... WHERE used_at IS NULL: of concurrent payments with one
    code, exactly one changes the row. Paying the same order again is a no-op. Runs
    inside the payment's transaction, so a payment that fails later frees it again.
    RULE TK-02 when the code expired since the order was recorded: it is not taken,
    and the payment (with the discount it carries) is refused.
    """
    code = normalise(code)
    now = clock.now()
    free = PromoCode.filter(code=code, used_at__isnull=True)
    taken = await free.filter(expires_at__gt=now).update(used_at=now, order_id=order_id)
    if taken == 1:
        return
    if await PromoCode.filter(code=code, order_id=order_id).exists():
        return
    if await free.exists():
        raise RuleViolation("TK-02", "the promo code expired after the order was recorded")
    raise RuleViolation("TK-01", "the promo code was already used by another order")
