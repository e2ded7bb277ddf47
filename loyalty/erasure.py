"""Erasure (LB-16): a participant's personal data erased on their request, the ledger kept.

The erased record keeps a random pseudonym as its customer id, and the HMAC of the
former customer id under a secret key from the settings (`erased_digest`): the
participant's own token and support find it again, and whoever can list customer ids
cannot tell whose it is. The key is handed in by the caller; the domain reads no settings.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from tortoise.transactions import in_transaction

from loyalty import clock, notifications, referrals
from loyalty.enums import ParticipantStatus, WalletStatus
from loyalty.errors import BadInput, NotFound
from loyalty.models import Campaign, Order, Participant, StatusChange, Wallet


def erased_digest(erasure_key: bytes, customer_id: str) -> str:
    """What an erased record keeps of its customer id: HMAC-SHA256 under the settings' secret key.

    Stable, so the participant's own token (`me`, a repeated request) and support find
    the erased record; keyed, so whoever can list customer ids cannot tell whose it is.
    """
    if not erasure_key:
        raise ValueError("an erasure key is required")
    return hmac.new(erasure_key, customer_id.encode(), hashlib.sha256).hexdigest()


SELF_ERASURE = "the participant asked for erasure"


async def erase(
    customer_id: str, erasure_key: bytes, *, reason: str = SELF_ERASURE, actor: str | None = None
) -> Participant:
    """Erase the participant's personal data and block every wallet, for good (LB-16).

    The ledger stays, under a random pseudonymous id; the record keeps only the keyed
    digest of the customer id (`erased_digest`), which finds it again. Their orders and
    the campaign audiences that named them are re-labelled with the pseudonym. `actor`:
    support's id when it erases on the participant's request (else the pseudonym).
    Asking twice returns the same result.
    """
    if not reason.strip():
        raise BadInput("a reason is required")
    async with in_transaction():
        participant = await Participant.get_or_none(customer_id=customer_id) or await Participant.get_or_none(
            erased_digest=erased_digest(erasure_key, customer_id)
        )
        if participant is None:
            raise NotFound(f"no participant {customer_id!r}")
        if participant.status is ParticipantStatus.ERASED:
            return participant
        pseudonym = f"erased-{secrets.token_hex(12)}"
        original = participant.customer_id
        participant.erased_digest = erased_digest(erasure_key, original)
        participant.customer_id = pseudonym
        participant.status = ParticipantStatus.ERASED
        participant.display_name = None
        participant.birth_date = None
        participant.guardian_consent = False
        participant.email = participant.phone = None
        participant.email_verified = participant.phone_verified = False
        participant.marketing_consent = False
        participant.erased_at = clock.now()
        await participant.save()
        await Wallet.filter(participant_id=participant.id).update(status=WalletStatus.BLOCKED)
        await notifications.drop_for_erased(participant.id)
        await Order.filter(customer_id=original).update(customer_id=pseudonym)
        await _relabel_audiences(original, pseudonym)
        await referrals.pseudonymise(original, pseudonym)
        await StatusChange.create(
            participant_id=participant.id,
            program_id=None,
            action="erase",
            reason=reason,
            actor=actor or pseudonym,
            at=clock.now(),
        )
    return participant


async def _relabel_audiences(original: str, pseudonym: str) -> None:
    # A campaign's list of customer ids beside its grants (by participant row) would say
    # whose the pseudonymous ledger is. Campaigns are few next to wallets.
    for campaign_id, audience in await Campaign.all().values_list("id", "audience"):
        ids = audience.get("participantIds") if isinstance(audience, dict) else None
        if isinstance(ids, list) and original in ids:
            relabelled = {**audience, "participantIds": [pseudonym if i == original else i for i in ids]}
            await Campaign.filter(id=campaign_id).update(audience=relabelled)
