"""Participants, wallets and their ledger, as the mobile app and staff see them."""

from __future__ import annotations

from datetime import date, datetime

import strawberry

from loyalty import achievements, erasure, ledger, participants, referrals
from loyalty.access import Caller, Role, require, visible_programs
from loyalty.enums import standing
from loyalty.errors import BadInput
from loyalty.models import Entry
from loyalty.models import Participant as ParticipantRow
from loyalty.models import Wallet as WalletRow
from loyalty.programs import Catalog
from schema.context import Info
from schema.enums import EntryKind, ParticipantStatus, ReferralStatus, WalletStatus
from schema.programs import Program
from schema.relay import PageInfo, page_info


@strawberry.type(description="The next burn of a wallet's active bonuses.")
class BurnForecast:
    at: datetime
    amount: int


@strawberry.type(description="One immutable line of a wallet's ledger.")
class LedgerEntry:
    id: strawberry.ID
    kind: EntryKind
    amount: int
    at: datetime
    activates_at: datetime | None
    expires_at: datetime | None
    description: str | None
    order_id: strawberry.ID | None
    campaign_id: strawberry.ID | None
    rule: str | None

    @classmethod
    def of(cls, entry: Entry) -> LedgerEntry:
        return cls(
            id=strawberry.ID(str(entry.id)),
            kind=entry.kind,
            amount=entry.amount,
            at=entry.at,
            activates_at=entry.activates_at if entry.amount > 0 else None,
            expires_at=entry.expires_at if entry.amount > 0 else None,
            description=entry.description,
            order_id=strawberry.ID(entry.order_id) if entry.order_id else None,
            campaign_id=strawberry.ID(str(entry.campaign_id)) if entry.campaign_id else None,
            rule=entry.rule,
        )


@strawberry.type
class LedgerEntryEdge:
    cursor: str
    node: LedgerEntry


@strawberry.type
class LedgerEntryConnection:
    edges: list[LedgerEntryEdge]
    page_info: PageInfo


@strawberry.type(description="One participant's account in one program (LB-05, LB-07).")
class Wallet:
    status: WalletStatus = strawberry.field(
        description="BLOCKED while either kind of block holds: this program's or the whole participant's (MG-13)."
    )
    _row: strawberry.Private[WalletRow]

    @classmethod
    def of(cls, row: WalletRow, holder: ParticipantRow) -> Wallet:
        return cls(status=standing(holder.status, row.status), _row=row)

    @strawberry.field(
        description="Club tier (TK-05): set by staff, or by spend in the last 365 days; null without tiers."
    )
    async def tier(self, info: Info) -> str | None:
        return await info.context.tiers.load(self._row)

    @strawberry.field
    def program(self, info: Info) -> Program:
        return Program.of(info.context.catalog.get(self._row.program_id))

    @strawberry.field(
        description="Bonuses active now (LB-05); while a debt lasts, what may be spent is this less the debt (LB-10)."
    )
    async def active(self, info: Info) -> int:
        return (await info.context.loaders.balance.load(self._row.id)).active

    @strawberry.field(description="Bonuses accrued but not active yet (LB-03).")
    async def pending(self, info: Info) -> int:
        return (await info.context.loaders.balance.load(self._row.id)).pending

    @strawberry.field(
        description="Bonuses owed after a refund could not withhold them (LB-10): paid off first by every later credit, and withheld from later refunds of the same purchase."
    )
    async def debt(self, info: Info) -> int:
        return (await info.context.loaders.balance.load(self._row.id)).debt

    @strawberry.field(description="The earliest future burn of active bonuses (LB-04, LB-05).")
    async def next_burn(self, info: Info) -> BurnForecast | None:
        burn = await info.context.loaders.next_burn.load(self._row.id)
        return BurnForecast(at=burn.at, amount=burn.amount) if burn else None

    @strawberry.field(description="The wallet's ledger entries, newest first (LB-05).")
    async def history(self, first: int | None = 20, after: str | None = None) -> LedgerEntryConnection:
        page = await ledger.history(self._row.id, 20 if first is None else first, after)
        edges = [LedgerEntryEdge(cursor=ledger.entry_cursor(e), node=LedgerEntry.of(e)) for e in page.entries]
        return LedgerEntryConnection(
            edges=edges,
            page_info=page_info([edge.cursor for edge in edges], has_next=page.has_next, after=after),
        )


@strawberry.type
class ReferredFriend:
    status: ReferralStatus
    reason: str | None
    at: datetime


@strawberry.type
class ReferralSummary:
    code: str
    link: str
    invited: int
    rewarded: int
    earned: int
    blocked: bool
    friends: list[ReferredFriend]


@strawberry.type(description="An achievement and the participant's progress towards it (GA-01, GA-02).")
class Achievement:
    id: strawberry.ID
    title: str
    description: str | None
    progress: int = strawberry.field(
        description="Counted so far, 0..goal; returned purchases no longer count while it is locked (GA-03)."
    )
    goal: int
    unlocked_at: datetime | None = strawberry.field(
        description="When it unlocked; null while locked. Set once (GA-02)."
    )
    reward_bonus: int = strawberry.field(description="Bonuses granted once on unlocking, like a gift (GA-01, LB-14).")

    @classmethod
    def of(cls, found: achievements.Standing) -> Achievement:
        return cls(
            id=strawberry.ID(found.id),
            title=found.title,
            description=found.description,
            progress=found.progress,
            goal=found.goal,
            unlocked_at=found.unlocked_at,
            reward_bonus=found.reward_bonus,
        )


@strawberry.type(description="A person known to the gateway: a customer who has joined at least one program.")
class Participant:
    id: strawberry.ID
    status: ParticipantStatus = strawberry.field(
        description="BLOCKED: the global block (admin), in every program; a program's own block shows on its wallet only (MG-13)."
    )
    display_name: str | None
    marketing_consent: bool
    _row: strawberry.Private[ParticipantRow]
    # Programs whose wallets the caller may see; None: all (LB-07 for a partner: only its own).
    _programs: strawberry.Private[set[str] | None]

    @classmethod
    def of(cls, row: ParticipantRow, programs: set[str] | None = None, *, personal: bool = True) -> Participant:
        """The participant as the caller may see them; `personal` False leaves out personal data."""
        return cls(
            id=strawberry.ID(row.customer_id),
            status=row.status,
            display_name=row.display_name if personal else None,
            marketing_consent=row.marketing_consent,
            _row=row,
            _programs=programs,
        )

    @classmethod
    def for_staff(cls, row: ParticipantRow, caller: Caller, catalog: Catalog) -> Participant:
        """What staff see: a partner only its programs' wallets and no personal data (seed 001, 3.2)."""
        return cls.of(row, visible_programs(caller, catalog), personal=caller.role is not Role.PARTNER)

    async def _wallets(self, info: Info) -> list[WalletRow]:
        rows = await info.context.loaders.wallets.load(self._row.id)
        return [w for w in rows if self._programs is None or w.program_id in self._programs]

    @strawberry.field(description="One wallet per program joined, in order of joining (LB-07).")
    async def wallets(self, info: Info) -> list[Wallet]:
        return [Wallet.of(row, self._row) for row in await self._wallets(info)]

    @strawberry.field(description="The wallet in programId; null where the participant has not joined it.")
    async def wallet(self, info: Info, program_id: strawberry.ID) -> Wallet | None:
        found = [row for row in await self._wallets(info) if row.program_id == program_id]
        return Wallet.of(found[0], self._row) if found else None

    @strawberry.field(description="The referral standing in programId (RF-01); null: no referral program runs here.")
    async def referral(self, info: Info, program_id: strawberry.ID) -> ReferralSummary | None:
        if program_id not in info.context.catalog or (self._programs is not None and program_id not in self._programs):
            return None
        found = await referrals.standing(info.context.catalog.get(program_id), self._row)
        if found is None:
            return None
        return ReferralSummary(
            code=found.code,
            link=found.link,
            invited=found.invited,
            rewarded=found.rewarded,
            earned=found.earned,
            blocked=found.blocked,
            friends=[
                ReferredFriend(status=ReferralStatus(f.status.value), reason=f.reason, at=f.at) for f in found.friends
            ],
        )

    @strawberry.field(
        description="Every achievement defined for programId (GA-01, GA-04), locked and unlocked; empty where none are or the participant has not joined it."
    )
    async def achievements(self, info: Info, program_id: strawberry.ID) -> list[Achievement]:
        if program_id not in info.context.catalog or (self._programs is not None and program_id not in self._programs):
            return []
        found = await achievements.standing(info.context.catalog.get(program_id), self._row)
        return [Achievement.of(a) for a in found]


@strawberry.type
class JoinProgramPayload:
    participant: Participant
    wallet: Wallet


@strawberry.type
class ParticipantPayload:
    participant: Participant


@strawberry.type
class WalletPayload:
    wallet: Wallet


@strawberry.input
class JoinInput:
    program_id: strawberry.ID
    accept_rules: bool
    personal_data_consent: bool
    marketing_consent: bool
    display_name: str | None = None
    birth_date: date | None = None
    guardian_consent: bool | None = None


@strawberry.input
class ProfileInput:
    display_name: str | None = None
    birth_date: date | None = None
    guardian_consent: bool | None = None


def participant_caller(info: Info) -> Caller:
    """The participant calling, with their verified contacts (LB-01)."""
    caller = require(info.context.caller, Role.PARTICIPANT)
    if caller.identity is None:
        raise BadInput("a participant token must carry a subject")
    return caller


@strawberry.type
class Query:
    @strawberry.field(description="Role participant: the caller as a participant; null until they join a program.")
    async def me(self, info: Info) -> Participant | None:
        caller = participant_caller(info)
        assert caller.identity is not None
        row = await participants.recognise(caller.identity, info.context.erasure_key)
        return Participant.of(row) if row else None

    @strawberry.field(description="Role admin, or partner (only its programs' wallets): the participant with this id.")
    async def participant(self, info: Info, id: strawberry.ID) -> Participant | None:
        caller = require(info.context.caller, Role.ADMIN, Role.PARTNER)
        # Support finds an erased participant by the id they had; a partner only by the pseudonym.
        row = await participants.find(id, info.context.erasure_key if caller.role is Role.ADMIN else None)
        if row is None:
            return None
        programs = visible_programs(caller, info.context.catalog)
        if programs is not None and not any(
            w.program_id in programs for w in await info.context.loaders.wallets.load(row.id)
        ):
            return None  # the same answer as for nobody: a partner learns of no one outside its programs
        return Participant.for_staff(row, caller, info.context.catalog)


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Role participant: joins the caller to input.programId (LB-01, TK-07).")
    async def join_program(self, info: Info, input: JoinInput) -> JoinProgramPayload:
        caller = participant_caller(info)
        assert caller.identity is not None
        row, wallet = await participants.join(
            info.context.catalog,
            caller.identity,
            participants.JoinRequest(
                program_id=input.program_id,
                accept_rules=input.accept_rules,
                personal_data_consent=input.personal_data_consent,
                marketing_consent=input.marketing_consent,
                display_name=input.display_name,
                birth_date=input.birth_date,
                guardian_consent=input.guardian_consent,
            ),
            erasure_key=info.context.erasure_key,
        )
        return JoinProgramPayload(participant=Participant.of(row), wallet=Wallet.of(wallet, row))

    @strawberry.mutation(
        description="Role participant: changes the caller's personal data (LB-15); a birth date or guardian's consent that breaks TK-07 in a program joined: RULE TK-07."
    )
    async def update_profile(self, info: Info, input: ProfileInput) -> ParticipantPayload:
        caller = participant_caller(info)
        row = await participants.update_profile(
            info.context.catalog,
            caller.sub,
            participants.ProfileChange(
                display_name=input.display_name, birth_date=input.birth_date, guardian_consent=input.guardian_consent
            ),
            info.context.erasure_key,
        )
        return ParticipantPayload(participant=Participant.of(row))

    @strawberry.mutation(description="Role participant: marketing messages on or off, at once (LB-15, TK-08).")
    async def set_marketing_consent(self, info: Info, allowed: bool) -> ParticipantPayload:
        caller = participant_caller(info)
        row = await participants.set_marketing_consent(caller.sub, allowed, info.context.erasure_key)
        return ParticipantPayload(participant=Participant.of(row))

    @strawberry.mutation(description="Role participant: erases personal data and blocks every wallet (LB-16).")
    async def request_erasure(self, info: Info) -> ParticipantPayload:
        caller = participant_caller(info)
        row = await erasure.erase(caller.sub, info.context.erasure_key)
        return ParticipantPayload(participant=Participant.of(row))
