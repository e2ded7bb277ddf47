"""What a participant sees of a program's achievements (GA-02): every one, locked and unlocked."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from loyalty.achievements import progress
from loyalty.achievements.definitions import definitions
from loyalty.achievements.models import AchievementUnlock
from loyalty.models import Participant, Wallet
from loyalty.programs import Program


@dataclass(frozen=True)
class Standing:
    """One achievement and the participant's progress towards it (the contract's Achievement).

    `progress` is 0..goal: the count the facts give now while locked (GA-03: returned
    purchases no longer count), the goal once unlocked (it stays unlocked, GA-03).
    """

    id: str
    title: str
    description: str | None
    progress: int
    goal: int
    unlocked_at: datetime | None
    reward_bonus: int


async def standing(program: Program, participant: Participant) -> list[Standing]:
    """Every achievement of the program, in definition order, with the participant's progress;
    [] where the program defines none or the participant has not joined it. At most two
    queries: the unlocks, then one for the progress of every locked achievement."""
    found = definitions(program)
    if not found:
        return []
    wallet = await Wallet.get_or_none(participant_id=participant.id, program_id=program.id)
    if wallet is None:
        return []
    unlocked = {
        row.achievement_id: row
        for row in await AchievementUnlock.filter(participant_id=participant.id, program_id=program.id)
    }
    counted = await progress.counts(
        [d for d in found if d.id not in unlocked],
        wallet_id=wallet.id,
        participant_id=participant.id,
        customer_id=participant.customer_id,
        program_id=program.id,
    )
    return [
        Standing(
            id=d.id,
            title=d.title,
            description=d.description,
            progress=d.goal if d.id in unlocked else min(counted[d.id], d.goal),
            goal=d.goal,
            unlocked_at=unlocked[d.id].unlocked_at if d.id in unlocked else None,
            reward_bonus=d.reward_bonus,
        )
        for d in found
    ]
