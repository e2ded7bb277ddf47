"""Referral codes and links (RF-01): one per participant and program, random, read aloud easily.

A code is 12 symbols of a 32-symbol alphabet without 0/O and 1/I (60 bits from the
`secrets` source), so the landing can be open without a token and still not be
guessed; it is unique across programs (the primary key) and across promo codes.
"""

from __future__ import annotations

import secrets

from tortoise.exceptions import IntegrityError

from loyalty import clock
from loyalty.models import Participant, PromoCode
from loyalty.referrals.models import Referral, ReferralCode

ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # 32 symbols: no 0/O, no 1/I
LENGTH = 12
ATTEMPTS = 5


def new_code() -> str:
    """A fresh random code (RF-01): LENGTH symbols of ALPHABET from a secure source."""
    return "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def normalise(code: str) -> str:
    """The code as stored: trimmed, upper case, without the dashes a person may type."""
    return code.strip().upper().replace("-", "").replace(" ", "")


async def code_of(participant: Participant, program_id: str) -> ReferralCode:
    """The participant's code in the program, made on first use (RF-01)."""
    found = await ReferralCode.get_or_none(participant_id=participant.id, program_id=program_id)
    if found is not None:
        return found
    for _ in range(ATTEMPTS):
        code = new_code()
        if await PromoCode.exists(code=code):  # unique across promo codes too
            continue
        try:
            return await ReferralCode.create(
                code=code,
                participant_id=participant.id,
                customer_id=participant.customer_id,
                program_id=program_id,
                created_at=clock.now(),
            )
        except IntegrityError:
            # A concurrent first read made the participant's code, or (2^-60) the code exists.
            found = await ReferralCode.get_or_none(participant_id=participant.id, program_id=program_id)
            if found is not None:
                return found
    raise RuntimeError("no free referral code after several attempts")


async def find(code: str) -> ReferralCode | None:
    """The referral code row for a code as a person typed it; None if none has it."""
    normal = normalise(code)
    if not normal or len(normal) > 32:
        return None
    return await ReferralCode.get_or_none(code=normal)


def link(base: str, code: str) -> str:
    """The referral link: the configured base URL followed by the code (RF-01)."""
    return base + code


async def pseudonymise(customer_id: str, pseudonym: str) -> None:
    """LB-16: the erased customer's id leaves the referral records, which keep the pseudonym."""
    await ReferralCode.filter(customer_id=customer_id).update(customer_id=pseudonym)
    await Referral.filter(referrer_customer_id=customer_id).update(referrer_customer_id=pseudonym)
    await Referral.filter(friend_customer_id=customer_id).update(friend_customer_id=pseudonym)
    await Referral.filter(attributed_friend=customer_id).update(attributed_friend=pseudonym)
