"""What support staff and partners do: adjust bonuses, block and unblock (MG-13)."""

from __future__ import annotations

import strawberry

from loyalty import adjustments, erasure, participants
from loyalty.access import Caller, Role, require, require_program_staff
from schema.context import Info
from schema.participants import LedgerEntry, Participant, ParticipantPayload


@strawberry.input
class AdjustmentInput:
    participant_id: strawberry.ID
    program_id: strawberry.ID
    amount: int
    reason: str
    valid_days: int | None = None


@strawberry.type
class AdjustmentPayload:
    entry: LedgerEntry


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Role admin, or partner on a program it owns: one ADJUSTMENT entry (MG-13).")
    async def adjust_bonus(self, info: Info, input: AdjustmentInput) -> AdjustmentPayload:
        require_program_staff(info.context.caller, info.context.catalog, input.program_id)
        entry = await adjustments.adjust(
            info.context.catalog,
            adjustments.Adjustment(
                customer_id=input.participant_id,
                program_id=input.program_id,
                amount=input.amount,
                reason=input.reason,
                valid_days=input.valid_days,
            ),
        )
        return AdjustmentPayload(entry=LedgerEntry.of(entry))

    @strawberry.mutation(
        description="Role admin, or partner on a program it owns: blocks that program's wallet (MG-13). "
        "programId null (admin only): blocks the participant in every program, its wallets' own blocks kept apart."
    )
    async def block_participant(
        self, info: Info, id: strawberry.ID, reason: str, program_id: strawberry.ID | None = None
    ) -> ParticipantPayload:
        caller = require_program_staff(info.context.caller, info.context.catalog, program_id)
        row = await participants.block(
            info.context.catalog, id, program_id, reason, actor=caller.sub, erasure_key=_support_key(info, caller)
        )
        return ParticipantPayload(participant=Participant.for_staff(row, caller, info.context.catalog))

    @strawberry.mutation(
        description="Lifts a block of the same kind only (MG-13): a program's unblock leaves a global block, "
        "the global unblock leaves each wallet's own block; an erased participant stays erased (LB-16)."
    )
    async def unblock_participant(
        self, info: Info, id: strawberry.ID, reason: str, program_id: strawberry.ID | None = None
    ) -> ParticipantPayload:
        caller = require_program_staff(info.context.caller, info.context.catalog, program_id)
        row = await participants.unblock(
            info.context.catalog, id, program_id, reason, actor=caller.sub, erasure_key=_support_key(info, caller)
        )
        return ParticipantPayload(participant=Participant.for_staff(row, caller, info.context.catalog))

    @strawberry.mutation(
        description="Role admin: erases a participant's personal data and blocks every wallet, on the "
        "participant's request to support (LB-16); as requestErasure. The reason names the request, "
        "never personal data."
    )
    async def erase_participant(self, info: Info, id: strawberry.ID, reason: str) -> ParticipantPayload:
        caller = require(info.context.caller, Role.ADMIN)
        row = await erasure.erase(id, info.context.erasure_key, reason=reason, actor=caller.sub)
        return ParticipantPayload(participant=Participant.for_staff(row, caller, info.context.catalog))


def _support_key(info: Info, caller: Caller) -> bytes | None:
    # Support finds an erased participant by the id they had (LB-16); a partner does not.
    return info.context.erasure_key if caller.role is Role.ADMIN else None
