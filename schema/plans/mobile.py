"""Plans for the mobile app's hot documents: Programs, Wallets, BonusHistory (mobile.graphql).

Each answer is built as Strawberry would build it from the resolvers of
`schema.participants` and `schema.programs`: the same values, nulls and order.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from loyalty import pagination, participants, reads, tiers
from loyalty.enums import ParticipantStatus, standing
from loyalty.ledger.history import CURSOR_KIND
from schema.plans.base import PlanInput, Unplanned, integer, moment, only, participant, string


async def programs(context: PlanInput, variables: Mapping[str, Any]) -> dict[str, Any]:
    """`Programs`: every program of plugins.toml, in its order; no token read."""
    only(variables, ())
    return {
        "programs": [
            {
                "id": program.id,
                "name": program.name,
                "currency": program.currency,
                "rulesUrl": program.rules_url,
                "organizerIds": list(program.organizers),
            }
            for program in context.catalog
        ]
    }


async def _nobody(context: PlanInput, customer_id: str) -> dict[str, Any]:
    """`me` for a customer id no participant has: null, unless they were erased (then Strawberry's)."""
    assert context.erasure_key is not None
    if await reads.was_erased(customer_id, context.erasure_key):
        raise Unplanned("an erased participant")
    return {"me": None}


def _recognised(identity: participants.Identity, person: reads.Person) -> None:
    if person.status is not ParticipantStatus.ERASED and participants.brings_contacts(identity, person.contacts):
        raise Unplanned("the token brings contacts to record")


async def wallets(context: PlanInput, variables: Mapping[str, Any]) -> dict[str, Any]:
    """`Wallets`: the caller with every wallet, balance, tier and next burn."""
    only(variables, ())
    identity = participant(context)
    found = await reads.wallets_of_customer(identity.customer_id)
    if found is None:
        return await _nobody(context, identity.customer_id)
    person, rows = found
    _recognised(identity, person)
    catalog = context.catalog
    if any(row.program_id not in catalog for row in rows):
        raise Unplanned("a wallet in a program not configured")
    with_tiers = [row for row in rows if catalog.get(row.program_id).tiers]
    spend = await tiers.spend_365_days([row.id for row in with_tiers]) if with_tiers else {}
    answer = []
    for row in rows:
        program = catalog.get(row.program_id)
        tier = (
            tiers.tier_by(program, row.staff_tier, row.participant_id, row.status, spend[row.id])
            if program.tiers
            else None
        )
        answer.append(
            {
                "program": {"id": program.id, "name": program.name, "currency": program.currency},
                "status": standing(person.status, row.status).value,
                "tier": tier,
                "active": row.active,
                "pending": row.pending,
                "debt": row.debt,
                "nextBurn": {"at": moment(row.burn_at), "amount": row.burn_amount} if row.burn_at else None,
            }
        )
    return {
        "me": {
            "id": person.customer_id,
            "status": person.status.value,
            "displayName": person.display_name,
            "marketingConsent": person.marketing_consent,
            "wallets": answer,
        }
    }


async def bonus_history(context: PlanInput, variables: Mapping[str, Any]) -> dict[str, Any]:
    """`BonusHistory`: the active balance of one wallet and a page of its entries, newest first."""
    only(variables, ("programId", "first", "after"))
    program_id = string(variables, "programId", "Participant.wallet.programId", required=True)
    assert program_id is not None
    first = integer(variables, "first")
    after = string(variables, "after", "Wallet.history.after", required=False)
    identity = participant(context)
    # BAD_INPUT from either (a page size out of range, a cursor of another list) is Strawberry's to answer.
    pagination.check_first(first)
    before = pagination.after(CURSOR_KIND, after)
    found = await reads.history_of_customer(identity.customer_id, program_id, first, before)
    if found is None:
        return await _nobody(context, identity.customer_id)
    person, page = found
    _recognised(identity, person)
    if page is None:
        return {"me": {"wallet": None}}
    edges = [
        {
            "cursor": pagination.cursor(CURSOR_KIND, entry.id),
            "node": {
                "id": str(entry.id),
                "kind": entry.kind.value,
                "amount": entry.amount,
                "at": moment(entry.at),
                "activatesAt": moment(entry.activates_at) if entry.amount > 0 else None,
                "expiresAt": moment(entry.expires_at) if entry.amount > 0 else None,
                "description": entry.description,
                "orderId": entry.order_id or None,
                "campaignId": str(entry.campaign_id) if entry.campaign_id else None,
                "rule": entry.rule,
            },
        }
        for entry in page.entries
    ]
    return {
        "me": {
            "wallet": {
                "active": page.active,
                "history": {
                    "edges": edges,
                    "pageInfo": {"hasNextPage": page.has_next, "endCursor": edges[-1]["cursor"] if edges else None},
                },
            }
        }
    }
