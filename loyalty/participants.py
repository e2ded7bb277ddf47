"""Participants and their wallets: joining, profile, consents, blocking (erasure: `loyalty.erasure`).

A participant is a ticketing customer who joined at least one program (LB-01). A wallet
is PENDING until the identity service has verified one of the participant's contacts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from loyalty import clock, referrals, sql
from loyalty.enums import ParticipantStatus, WalletStatus
from loyalty.erasure import erased_digest
from loyalty.errors import BadInput, Forbidden, NotFound, RuleViolation
from loyalty.models import Participant, StatusChange, Wallet
from loyalty.programs import Catalog, Program

ADULT_AGE = 18


@dataclass(frozen=True)
class Identity:
    """Who calls, as their token says: the customer id and the contacts the identity service verified."""

    customer_id: str
    email: str | None = None
    email_verified: bool = False
    phone: str | None = None
    phone_verified: bool = False

    @property
    def has_verified_contact(self) -> bool:
        """LB-01: at least one verified contact (email or phone)."""
        return bool((self.email and self.email_verified) or (self.phone and self.phone_verified))


@dataclass(frozen=True)
class JoinRequest:
    """What a participant sends to join a program (JoinInput)."""

    program_id: str
    accept_rules: bool
    personal_data_consent: bool
    marketing_consent: bool
    display_name: str | None = None
    birth_date: date | None = None
    guardian_consent: bool | None = None


@dataclass(frozen=True)
class ProfileChange:
    """Personal data to change; None leaves a field as it is (LB-15)."""

    display_name: str | None = None
    birth_date: date | None = None
    guardian_consent: bool | None = None


def _age(born: date, on: date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def _verified(participant: Participant) -> bool:
    return bool(
        (participant.email and participant.email_verified) or (participant.phone and participant.phone_verified)
    )


async def find(customer_id: str, erasure_key: bytes | None = None) -> Participant | None:
    """The participant with this customer id (an erased one by its pseudonym); None if none joined.

    With the erasure key, also the erased participant this customer id was (LB-16):
    only the participant themselves and support look them up so. Without it an erased
    customer is one who has not joined, and nothing ties them to the pseudonymous ledger.
    """
    found = await _participant("customer_id", customer_id)
    if found is None and erasure_key is not None:
        found = await _participant("erased_digest", erased_digest(erasure_key, customer_id))
    return found


async def _participant(column: str, value: str) -> Participant | None:
    # Raw SQL read into the model: called on every participant's request (`recognise`).
    rows = await sql.fetch(
        f"SELECT {sql.columns(Participant, 'p', '')} FROM participant p WHERE p.{column} = $1", value
    )
    return sql.as_model(Participant, rows[0]) if rows else None


async def get(customer_id: str, erasure_key: bytes | None = None) -> Participant:
    """The participant with this customer id (see `find`); NotFound if none."""
    found = await find(customer_id, erasure_key)
    if found is None:
        raise NotFound(f"no participant {customer_id!r}")
    return found


async def wallet_of(participant: Participant, program_id: str) -> Wallet | None:
    """The participant's wallet in a program; None where they have not joined it."""
    rows = await sql.fetch(
        f"SELECT {sql.columns(Wallet, 'w', '')} FROM wallet w WHERE w.participant_id = $1 AND w.program_id = $2",
        participant.id,
        program_id,
    )
    return sql.as_model(Wallet, rows[0]) if rows else None


async def wallets_of(participant_ids: list[int]) -> dict[int, list[Wallet]]:
    """Every wallet of each participant, in order of joining (for dataloaders)."""
    found: dict[int, list[Wallet]] = {pid: [] for pid in participant_ids}
    for wallet in await Wallet.filter(participant_id__in=participant_ids).order_by("joined_at", "id"):
        found[wallet.participant_id].append(wallet)
    return found


def _check_age(program: Program, birth_date: date | None, guardian_consent: bool) -> None:
    if not program.checks_age:
        return
    if birth_date is None:
        raise RuleViolation("TK-07", "this program needs a birth date")
    if _age(birth_date, clock.now().date()) < ADULT_AGE and not guardian_consent:
        raise RuleViolation("TK-07", "under 18: a guardian's consent is needed")


async def recognise(identity: Identity, erasure_key: bytes) -> Participant | None:
    """The caller as a participant, their token's verified contacts taken (LB-01); None if not joined.

    PENDING wallets become ACTIVE once a contact is verified. Called on every
    participant read, so it writes only when the token brings something new: a
    participant with a verified contact on record has no PENDING wallet (joining and
    unblocking make it ACTIVE), so nothing else needs a write. An erased participant
    is found by the pseudonym's digest and takes nothing from the token (LB-16).
    """
    participant = await find(identity.customer_id, erasure_key)
    if participant is None or participant.status is ParticipantStatus.ERASED:
        return participant
    if not _take_contacts(participant, identity):
        return participant
    async with in_transaction():
        await participant.save(update_fields=["email", "email_verified", "phone", "phone_verified"])
        activated = 0
        if _verified(participant):
            activated = await Wallet.filter(participant_id=participant.id, status=WalletStatus.PENDING).update(
                status=WalletStatus.ACTIVE
            )
    if activated:
        await referrals.settle_friend(participant)  # RF-02 Decision: owed while the wallet could not earn
    return participant


def brings_contacts(identity: Identity, on_record: tuple[str | None, bool, str | None, bool]) -> bool:
    """Whether `recognise` takes contacts from this token (and so writes): it names a contact,
    and its (email, verified, phone, verified) differ from those `on_record`."""
    new = (identity.email, identity.email_verified, identity.phone, identity.phone_verified)
    return not (identity.email is None and identity.phone is None) and new != on_record


def _take_contacts(participant: Participant, identity: Identity) -> bool:
    old = (participant.email, participant.email_verified, participant.phone, participant.phone_verified)
    if not brings_contacts(identity, old):
        return False
    participant.email, participant.email_verified = identity.email, identity.email_verified
    participant.phone, participant.phone_verified = identity.phone, identity.phone_verified
    return True


async def join(
    catalog: Catalog, identity: Identity, request: JoinRequest, *, erasure_key: bytes
) -> tuple[Participant, Wallet]:
    """Join the caller to a program (LB-01): consents recorded, wallet ACTIVE or PENDING.

    Joining again changes nothing but a PENDING wallet, which becomes ACTIVE once the
    token carries a verified contact. An erased participant cannot join again (LB-16):
    `erasure_key` finds them.
    """
    program = catalog.get(request.program_id)
    if not request.accept_rules or not request.personal_data_consent:
        raise RuleViolation("LB-01", "joining needs the rules accepted and the personal-data consent")
    if request.display_name is not None and len(request.display_name) > 200:
        raise BadInput("displayName is longer than 200 characters")
    try:
        joined = await _join(program, identity, request, erasure_key)
    except IntegrityError:
        # A concurrent first join by the same customer won the insert: join again over it.
        joined = await _join(program, identity, request, erasure_key)
    # RF-02 Decision: a friend who paid before joining gets the referral bonus now.
    await referrals.settle_friend(joined[0])
    return joined


async def _join(
    program: Program, identity: Identity, request: JoinRequest, erasure_key: bytes
) -> tuple[Participant, Wallet]:
    now = clock.now()
    async with in_transaction():
        participant = await Participant.select_for_update().get_or_none(customer_id=identity.customer_id)
        digest = erased_digest(erasure_key, identity.customer_id)
        if participant is None and await Participant.exists(erased_digest=digest):
            raise RuleViolation("LB-16", "this participant's data was erased; the wallet stays blocked")
        birth_date = request.birth_date or (participant.birth_date if participant else None)
        guardian = bool(request.guardian_consent) or bool(participant and participant.guardian_consent)
        _check_age(program, birth_date, guardian)
        if participant is None:
            participant = await Participant.create(
                customer_id=identity.customer_id,
                display_name=request.display_name,
                birth_date=request.birth_date,
                guardian_consent=bool(request.guardian_consent),
                marketing_consent=request.marketing_consent,
                personal_data_consent_at=now,
                created_at=now,
            )
        elif participant.status is ParticipantStatus.ERASED:
            raise RuleViolation("LB-16", "this participant's data was erased")
        _take_contacts(participant, identity)
        if request.birth_date is not None:
            participant.birth_date = request.birth_date
        if request.guardian_consent is not None:
            participant.guardian_consent = request.guardian_consent
        await participant.save()
        status = WalletStatus.ACTIVE if _verified(participant) else WalletStatus.PENDING
        wallet = await Wallet.get_or_none(participant_id=participant.id, program_id=program.id)
        if wallet is None:
            # A globally blocked participant's new wallet is blocked by the participant's
            # status (MG-13), not its own: the global unblock frees it.
            wallet = await Wallet.create(
                participant_id=participant.id,
                program_id=program.id,
                status=status,
                rules_accepted_at=now,
                rules_version=program.rules_version,
                joined_at=now,
            )
        elif wallet.status is WalletStatus.PENDING and status is WalletStatus.ACTIVE:
            wallet.status = WalletStatus.ACTIVE
            await wallet.save(update_fields=["status"])
    return participant, wallet


async def update_profile(
    catalog: Catalog, customer_id: str, change: ProfileChange, erasure_key: bytes | None = None
) -> Participant:
    """Change the participant's personal data; None fields stay as they are (LB-15).

    A new birth date or guardian's consent is checked again in every program the
    participant joined that checks age (TK-07); RULE TK-07 changes nothing. With the
    erasure key, an erased participant is refused by LB-16 (else NOT_FOUND).
    """
    participant = await _living(customer_id, erasure_key)
    if change.display_name is not None:
        if len(change.display_name) > 200:
            raise BadInput("displayName is longer than 200 characters")
        participant.display_name = change.display_name
    if change.birth_date is not None:
        if change.birth_date > clock.now().date():
            raise BadInput("birthDate is in the future")
        participant.birth_date = change.birth_date
    if change.guardian_consent is not None:
        participant.guardian_consent = change.guardian_consent
    if change.birth_date is not None or change.guardian_consent is not None:
        await _check_age_everywhere(catalog, participant)
    await participant.save(update_fields=["display_name", "birth_date", "guardian_consent"])
    return participant


async def _check_age_everywhere(catalog: Catalog, participant: Participant) -> None:
    # TK-07 holds for as long as the participant is in a program that checks age, not only at joining.
    for wallet in await Wallet.filter(participant_id=participant.id):
        if wallet.program_id in catalog:
            _check_age(catalog.get(wallet.program_id), participant.birth_date, participant.guardian_consent)


async def set_marketing_consent(customer_id: str, allowed: bool, erasure_key: bytes | None = None) -> Participant:
    """Turn marketing messages on or off, effective at once (LB-15, TK-08); erased: as `update_profile`."""
    participant = await _living(customer_id, erasure_key)
    participant.marketing_consent = allowed
    await participant.save(update_fields=["marketing_consent"])
    return participant


async def _living(customer_id: str, erasure_key: bytes | None) -> Participant:
    participant = await get(customer_id, erasure_key)
    if participant.status is ParticipantStatus.ERASED:
        raise RuleViolation("LB-16", "this participant's data was erased")
    return participant


async def block(
    catalog: Catalog,
    customer_id: str,
    program_id: str | None,
    reason: str,
    actor: str,
    erasure_key: bytes | None = None,
) -> Participant:
    """Block one program's wallet, or the whole participant (program None) (MG-13 Decision).

    The two kinds are kept apart: a program's block is its wallet's status; the global
    block is the participant's status and leaves the wallets' own statuses as they are,
    while stopping earning and spending in every program (`enums.standing`). With the
    erasure key an erased participant is found by their former id (support).
    """
    return await _set_blocked(catalog, customer_id, program_id, reason, actor, erasure_key, blocked=True)


async def unblock(
    catalog: Catalog,
    customer_id: str,
    program_id: str | None,
    reason: str,
    actor: str,
    erasure_key: bytes | None = None,
) -> Participant:
    """Lift a block of the same kind only (MG-13 Decision); an erased participant stays erased (LB-16).

    A program's unblock makes its wallet ACTIVE again (PENDING without a verified
    contact) but does not lift a global block; the global unblock leaves every wallet's
    own block in place.
    """
    return await _set_blocked(catalog, customer_id, program_id, reason, actor, erasure_key, blocked=False)


def no_wallet(customer_id: str, program_id: str) -> NotFound:
    """The one answer for "no such participant" and "no wallet there": a partner learns nothing more."""
    return NotFound(f"participant {customer_id!r} has no wallet in {program_id!r}")


async def _set_blocked(
    catalog: Catalog,
    customer_id: str,
    program_id: str | None,
    reason: str,
    actor: str,
    erasure_key: bytes | None,
    *,
    blocked: bool,
) -> Participant:
    if not reason.strip():
        raise BadInput("a reason is required")
    if program_id is not None:
        catalog.get(program_id)
    async with in_transaction():
        participant = await find(customer_id, erasure_key)
        if participant is None:
            raise (
                no_wallet(customer_id, program_id)
                if program_id is not None
                else NotFound(f"no participant {customer_id!r}")
            )
        if participant.status is ParticipantStatus.ERASED:
            if blocked:
                return participant
            raise RuleViolation("LB-16", "an erased participant stays erased")
        if program_id is not None:
            wallets = Wallet.filter(participant_id=participant.id, program_id=program_id)
            if not await wallets.exists():
                raise no_wallet(customer_id, program_id)
            if blocked:
                await wallets.update(status=WalletStatus.BLOCKED)
            else:
                lifted = WalletStatus.ACTIVE if _verified(participant) else WalletStatus.PENDING
                await wallets.filter(status=WalletStatus.BLOCKED).update(status=lifted)
        else:
            participant.status = ParticipantStatus.BLOCKED if blocked else ParticipantStatus.ACTIVE
            await participant.save(update_fields=["status"])
        await StatusChange.create(
            participant_id=participant.id,
            program_id=program_id,
            action="block" if blocked else "unblock",
            reason=reason,
            actor=actor,
            at=clock.now(),
        )
    return participant


def require_same(identity: Identity, customer_id: str | None) -> str:
    """A participant acts only for themselves: the id given must be the caller's."""
    if customer_id is not None and customer_id != identity.customer_id:
        raise Forbidden("a participant sees and changes only their own data")
    return identity.customer_id
