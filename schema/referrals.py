"""The referral program (RF-01..RF-10): the landing of a link, and what staff review and decide."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import strawberry

from loyalty import referrals
from loyalty.access import Role, require, require_program_staff, visible_programs
from loyalty.referrals.models import Referral as ReferralRow
from schema.context import Info
from schema.enums import ReferralStatus
from schema.errors import RateLimited
from schema.relay import PageInfo, page_info

LANDING_BUCKET = "referralLanding"


@strawberry.type(description="A referral link's landing page, for visitors without a token.")
class ReferralLanding:
    valid: bool
    friend_bonus: int | None
    min_purchase: Decimal | None
    currency: str | None


@strawberry.type(description="A referral as staff see it.")
class Referral:
    id: strawberry.ID
    program_id: strawberry.ID
    referrer_id: strawberry.ID
    friend_id: strawberry.ID
    status: ReferralStatus
    reason: str | None
    order_id: strawberry.ID
    at: datetime

    @classmethod
    def of(cls, row: ReferralRow) -> Referral:
        return cls(
            id=strawberry.ID(str(row.id)),
            program_id=strawberry.ID(row.program_id),
            referrer_id=strawberry.ID(row.referrer_customer_id),
            friend_id=strawberry.ID(row.friend_customer_id),
            status=ReferralStatus(row.status.value),
            reason=referrals.staff_reason(row),
            order_id=strawberry.ID(row.order_id),
            at=row.at,
        )


@strawberry.type(description="An edge of ReferralConnection.")
class ReferralEdge:
    cursor: str
    node: Referral


@strawberry.type(description="A page of referrals.")
class ReferralConnection:
    edges: list[ReferralEdge]
    page_info: PageInfo


@strawberry.type
class ReferralPayload:
    referral: Referral


@strawberry.type
class Query:
    @strawberry.field(
        description="No token needed (rate limited per client address; past the limit HTTP 429 with "
        "Retry-After): what the landing page of a referral link shows (RF-01, RF-02, RF-04)."
    )
    async def referral_landing(self, info: Info, code: str) -> ReferralLanding:
        wait = await info.context.throttled(LANDING_BUCKET)
        if wait is not None:
            if info.context.response is not None:
                info.context.response.status_code = 429
                info.context.response.headers["Retry-After"] = str(wait)
            raise RateLimited(f"too many requests; retry after {wait} seconds")
        found = await referrals.landing(info.context.catalog, code)
        return ReferralLanding(
            valid=found.valid, friend_bonus=found.friend_bonus, min_purchase=found.min_purchase, currency=found.currency
        )

    @strawberry.field(
        description="Role admin, or partner (then only its programs' referrals): referrals in REVIEW, oldest first."
    )
    async def referrals_for_review(
        self, info: Info, program_id: strawberry.ID | None = None, first: int | None = 20, after: str | None = None
    ) -> ReferralConnection:
        caller = require(info.context.caller, Role.ADMIN, Role.PARTNER)
        programs = visible_programs(caller, info.context.catalog)
        if program_id is not None:
            require_program_staff(caller, info.context.catalog, program_id)
            programs = {program_id}
        page = await referrals.for_review(programs, 20 if first is None else first, after)
        edges = [ReferralEdge(cursor=referrals.referral_cursor(r), node=Referral.of(r)) for r in page.referrals]
        return ReferralConnection(
            edges=edges, page_info=page_info([e.cursor for e in edges], has_next=page.has_next, after=after)
        )


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="Role admin, or partner on a program it owns: decides a PENDING or REVIEW referral (RF-10)."
    )
    async def review_referral(
        self, info: Info, id: strawberry.ID, approve: bool, note: str | None = None
    ) -> ReferralPayload:
        require(info.context.caller, Role.ADMIN, Role.PARTNER)
        row = await referrals.get(id)
        require_program_staff(info.context.caller, info.context.catalog, row.program_id)
        decided = await referrals.decide(info.context.catalog, row.id, approve=approve, note=note)
        return ReferralPayload(referral=Referral.of(decided))

    @strawberry.mutation(
        description="Role admin, or partner on a program it owns: fraud found after the payout (RF-10): revokes "
        "both rewards of a REWARDED referral, spent ones becoming debt (LB-10); it becomes REJECTED with reason "
        '"RF-10: " and the reason. A referral in another status: CONFLICT; an empty reason: BAD_INPUT.'
    )
    async def revoke_referral(self, info: Info, id: strawberry.ID, reason: str) -> ReferralPayload:
        require(info.context.caller, Role.ADMIN, Role.PARTNER)
        row = await referrals.get(id)
        require_program_staff(info.context.caller, info.context.catalog, row.program_id)
        revoked = await referrals.revoke(info.context.catalog, row.id, reason)
        return ReferralPayload(referral=Referral.of(revoked))
