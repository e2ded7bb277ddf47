"""Promo codes: marketing issues them, the ticketing system checks them (TK-01, TK-02)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import strawberry

from loyalty import promo_codes
from loyalty.access import Role, require
from loyalty.models import PromoCode as PromoCodeRow
from loyalty.models import PromoCodeBatch as PromoCodeBatchRow
from schema.context import Info


@strawberry.type(description="A promo code as the ticketing system checks it before use (TK-01, TK-02).")
class PromoCode:
    code: str
    event_id: strawberry.ID
    valid: bool
    reason: str | None
    discount_percent: int | None
    discount_amount: Decimal | None
    expires_at: datetime

    @classmethod
    def of(cls, row: PromoCodeRow, batch: PromoCodeBatchRow) -> PromoCode:
        reason = promo_codes.refusal(row)
        return cls(
            code=row.code,
            event_id=strawberry.ID(row.event_id),
            valid=reason is None,
            reason=reason,
            discount_percent=batch.discount_percent,
            discount_amount=batch.discount_amount,
            expires_at=row.expires_at,
        )


@strawberry.type(description="Promo codes issued together (TK-01, TK-02).")
class PromoCodeBatch:
    id: strawberry.ID
    codes: list[str]
    expires_at: datetime


@strawberry.type
class PromoCodeBatchPayload:
    batch: PromoCodeBatch


@strawberry.input
class PromoCodeBatchInput:
    program_id: strawberry.ID
    event_id: strawberry.ID
    count: int
    discount_percent: int | None = None
    discount_amount: Decimal | None = None
    valid_months: int | None = None


@strawberry.type
class Query:
    @strawberry.field(
        description="Role ticketing: the promo code with this exact code (TK-01); null when never issued."
    )
    async def promo_code(self, info: Info, code: str) -> PromoCode | None:
        require(info.context.caller, Role.TICKETING)
        found = await promo_codes.find(code)
        return PromoCode.of(*found) if found else None


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="Role marketer: generates input.count new unique single-use codes for one event (TK-01, TK-02)."
    )
    async def issue_promo_codes(self, info: Info, input: PromoCodeBatchInput) -> PromoCodeBatchPayload:
        caller = require(info.context.caller, Role.MARKETER)
        batch, codes = await promo_codes.issue(
            info.context.catalog,
            promo_codes.BatchRequest(
                program_id=input.program_id,
                event_id=input.event_id,
                count=input.count,
                discount_percent=input.discount_percent,
                discount_amount=input.discount_amount,
                valid_months=input.valid_months,
            ),
            issued_by=caller.sub,
        )
        return PromoCodeBatchPayload(
            batch=PromoCodeBatch(id=strawberry.ID(str(batch.id)), codes=codes, expires_at=batch.expires_at)
        )
