"""Compiled execution plans for trusted read documents (issue 11).

A plan answers one trusted document of `schema/documents` without graphql-core: it
reads what the document needs in one or two statements (`loyalty.reads`) and builds the
answer as the document's shape, field for field, in the document's order. A plan
answers only where it knows it answers exactly as Strawberry would; anything else (a
caller without the right token, variables it does not expect, a cursor that is not one,
an erased participant, a token that brings new contacts to write) raises `Unplanned`, and
the gateway runs the document through Strawberry instead. `tests/test_compiled_plans.py`
runs every read document of the registry through both and compares the answers.

A plan is written for one text of its document: `PLANS` holds the SHA-256 of the text
it was written for, and `plans_for` attaches a plan only to a registry entry with that
hash, so a document changed in `schema/documents` falls back to Strawberry until its
plan is changed with it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from graphql import DocumentNode

from schema.plans import mobile, ticketing
from schema.plans.base import PlanInput, Unplanned
from schema.plans.ticketing import Written
from schema.registry import DocumentRegistry

__all__ = ["PLANS", "WRITES", "Plan", "PlanInput", "Unplanned", "WritePlan", "Written", "plans_for", "writes_for"]


Plan = Callable[[PlanInput, Mapping[str, Any]], Awaitable[dict[str, Any]]]
# A write's plan also gets its document (its errors are located in it) and answers errors itself.
WritePlan = Callable[[PlanInput, Mapping[str, Any], DocumentNode], Awaitable[Written]]

# Operation name: (the SHA-256 of the registry text the plan was written for, the plan).
PLANS: dict[str, tuple[str, Plan]] = {
    "Programs": ("638fc1828a764164fcc211c94552b7c1884805391b8a8cb08b0c2840b87314b2", mobile.programs),
    "Wallets": ("1f2e93d1b8a3941b8d4c394a7f11239e0246094e40a5d051507fcde34ee4a60a", mobile.wallets),
    "BonusHistory": ("ec2d364359c075acb2f9b1be58cc0eb7f387ec0231987b2cc234d7561dda3205", mobile.bonus_history),
}


# The trusted mutations with plans (schema.plans.ticketing): the same pinning.
WRITES: dict[str, tuple[str, WritePlan]] = {
    "RecordOrder": ("b0a1217ec097ae39abfb8ddb50574349a70aeffac7c634b2959ac6459706bd1f", ticketing.record_order),
    "PayOrder": ("112459d04a3598e1b8b5d7be595bdbd457c4f12d17e5d3d512e3bdf2c2b3ad2c", ticketing.pay_order),
}

P = TypeVar("P")


def _pinned(registry: DocumentRegistry, plans: Mapping[str, tuple[str, P]]) -> dict[str, P]:
    found: dict[str, P] = {}
    for name, (digest, plan) in plans.items():
        operation = registry.served(name)
        if operation is not None and operation.sha256 == digest:
            found[name] = plan
    return found


def plans_for(registry: DocumentRegistry) -> dict[str, Plan]:
    """The read plans whose documents the registry serves with the text they were written for."""
    return _pinned(registry, PLANS)


def writes_for(registry: DocumentRegistry) -> dict[str, WritePlan]:
    """The write plans whose documents the registry serves with the text they were written for."""
    return _pinned(registry, WRITES)
