"""What a participant and a visitor see of the referral program (RF-01, RF-02, RF-04, RF-10)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from loyalty.enums import ReferralStatus
from loyalty.models import Participant, Wallet
from loyalty.programs import Catalog, Program
from loyalty.referrals.codes import code_of, find, link
from loyalty.referrals.fraud import public_reason
from loyalty.referrals.models import Referral


@dataclass(frozen=True)
class Friend:
    """An attributed friend as the referrer sees them: no identity, a public reason."""

    status: ReferralStatus
    reason: str | None
    at: datetime


@dataclass(frozen=True)
class Standing:
    """A participant's referral standing in one program (ReferralSummary)."""

    code: str
    link: str
    invited: int
    rewarded: int
    earned: int
    blocked: bool
    friends: list[Friend]


@dataclass(frozen=True)
class Landing:
    """What a referral link's landing page shows; amounts None when the code is not valid."""

    valid: bool
    friend_bonus: int | None = None
    min_purchase: Decimal | None = None
    currency: str | None = None


async def standing(program: Program, participant: Participant) -> Standing | None:
    """The participant's standing; None where they have not joined or the program runs no referrals."""
    terms = program.rules.referral_terms()
    if terms is None or not await Wallet.exists(participant_id=participant.id, program_id=program.id):
        return None
    code = await code_of(participant, program.id)
    referrals = await Referral.filter(referrer_id=participant.id, program_id=program.id).order_by("-at", "-id")
    rewarded = [r for r in referrals if r.status is ReferralStatus.REWARDED]
    return Standing(
        code=code.code,
        link=link(terms.link_base, code.code),
        invited=len(referrals),
        rewarded=len(rewarded),
        earned=sum(r.referrer_bonus for r in rewarded),
        blocked=code.blocked_at is not None,
        friends=[Friend(status=r.status, reason=public_reason(r), at=r.at) for r in referrals],
    )


async def landing(catalog: Catalog, code: str) -> Landing:
    """The landing of a referral link: valid while the code attributes (not excluded, RF-10)."""
    found = await find(code)
    if found is None or found.blocked_at is not None or found.program_id not in catalog:
        return Landing(valid=False)
    program = catalog.get(found.program_id)
    terms = program.rules.referral_terms()
    if terms is None:
        return Landing(valid=False)
    return Landing(
        valid=True, friend_bonus=terms.friend_bonus, min_purchase=terms.min_purchase, currency=program.currency
    )
