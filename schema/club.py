"""Club tiers set by staff (TK-05 Decision)."""

from __future__ import annotations

import strawberry

from loyalty import participants, tiers
from loyalty.access import require_program_staff
from schema.context import Info
from schema.participants import Wallet, WalletPayload


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="Role admin, or partner on a program it owns: assigns the wallet's club tier by hand (TK-05); "
        "a tier the program does not define: BAD_INPUT."
    )
    async def set_tier(
        self, info: Info, participant_id: strawberry.ID, program_id: strawberry.ID, tier: str
    ) -> WalletPayload:
        require_program_staff(info.context.caller, info.context.catalog, program_id)
        row = await tiers.set_tier(info.context.catalog, participant_id, program_id, tier)
        return WalletPayload(wallet=Wallet.of(row, await participants.get(participant_id)))
