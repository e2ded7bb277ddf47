"""What partners' plugin rules accrued (PL-04)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from loyalty import reports
from loyalty.access import Role, require
from loyalty.errors import BadInput, Forbidden
from schema.context import Info


@strawberry.type(description="What one plugin rule accrued in the period.")
class PartnerRuleReport:
    rule: str
    orders: int
    bonus_accrued: int


@strawberry.type(description="What one partner's plugin rules accrued in a period.")
class PartnerReport:
    partner_id: strawberry.ID
    rules: list[PartnerRuleReport]


@strawberry.type
class Query:
    @strawberry.field(
        description="What a partner's plugin rules (PL-01) accrued in [from, to). Role partner: its own; admin: any."
    )
    async def partner_report(
        self,
        info: Info,
        from_: Annotated[datetime, strawberry.argument(name="from")],
        to: datetime,
        partner_id: strawberry.ID | None = None,
    ) -> PartnerReport:
        caller = require(info.context.caller, Role.PARTNER, Role.ADMIN)
        if caller.role is Role.PARTNER:
            if partner_id is not None and partner_id != caller.partner:
                raise Forbidden("a partner sees only its own report")
            partner = caller.partner
        else:
            partner = partner_id
        if not partner:
            raise BadInput("partnerId is required for role admin")
        lines = await reports.partner_report(info.context.catalog, partner, from_, to)
        return PartnerReport(
            partner_id=strawberry.ID(partner),
            rules=[
                PartnerRuleReport(rule=line.rule, orders=line.orders, bonus_accrued=line.bonus_accrued)
                for line in lines
            ],
        )
