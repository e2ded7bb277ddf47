"""Campaign audiences (CA-02): who a gift campaign is for, as one set-based query.

An audience is a set of filters that combine with AND: every active participant
(`all`), a tier, buyers of a category and/or since an instant, an explicit list of
customer ids, or a segment that a plugin defines (`ProgramRules.audience_segment`,
answered by the `audience_segment` hook). Whatever the filters, only ACTIVE wallets
of ACTIVE participants match: blocked, erased and PENDING ones never do (CA-04).

The filters become one SQL condition over `wallet w JOIN participant p`, so counting
or materialising an audience of millions is one statement, never a row per
participant in Python. An explicit list of ids travels as one parameter (a PostgreSQL
array, or JSON read with `json_each` on SQLite), so lists of 100,000 ids and more
need no chunking.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from loyalty import sql, tiers
from loyalty.errors import BadInput
from loyalty.facts import Segment
from loyalty.programs import Program

MAX_IDS = 1_000_000


@dataclass(frozen=True)
class Audience:
    """AudienceInput as the domain keeps it: every field given narrows the audience (AND)."""

    all: bool = False
    tier: str | None = None
    customer_ids: tuple[str, ...] | None = None
    bought_category: str | None = None
    bought_since: datetime | None = None
    segment: str | None = None
    segment_params: Mapping[str, Any] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        """True when no filter is given at all: such an audience is refused (BAD_INPUT)."""
        return not (
            self.all
            or self.tier is not None
            or self.customer_ids is not None
            or self.bought_category is not None
            or self.bought_since is not None
            or self.segment is not None
        )

    def to_json(self) -> dict[str, Any]:
        """The audience as stored with its campaign (AudienceInput's field names)."""
        return {
            "all": self.all,
            "tier": self.tier,
            "participantIds": list(self.customer_ids) if self.customer_ids is not None else None,
            "boughtCategory": self.bought_category,
            "boughtSince": self.bought_since.isoformat() if self.bought_since else None,
            "segment": self.segment,
            "segmentParams": dict(self.segment_params),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Audience:
        """The audience `to_json` stored."""
        ids = data.get("participantIds")
        since = data.get("boughtSince")
        return cls(
            all=bool(data.get("all")),
            tier=data.get("tier"),
            customer_ids=tuple(ids) if ids is not None else None,
            bought_category=data.get("boughtCategory"),
            bought_since=datetime.fromisoformat(since) if since else None,
            segment=data.get("segment"),
            segment_params=dict(data.get("segmentParams") or {}),
        )


def audience(
    *,
    all: bool | None = None,
    tier: str | None = None,
    customer_ids: Sequence[str] | None = None,
    bought_category: str | None = None,
    bought_since: datetime | None = None,
    segment: str | None = None,
    segment_params: Mapping[str, Any] | None = None,
) -> Audience:
    """Check and normalise AudienceInput; BAD_INPUT when it is empty or malformed.

    An empty list of ids is an empty audience. Ids are deduplicated, order kept.
    A category is compared as events store it (trimmed, lower case).
    """
    if customer_ids is not None:
        ids = tuple(dict.fromkeys(str(i).strip() for i in customer_ids))
        if not ids or any(not i for i in ids):
            raise BadInput("participantIds is empty or holds an empty id")
        if len(ids) > MAX_IDS:
            raise BadInput(f"participantIds holds more than {MAX_IDS} ids")
        customer_ids = ids
    if bought_since is not None and bought_since.tzinfo is None:
        raise BadInput("boughtSince needs a time zone offset")
    if bought_category is not None:
        bought_category = bought_category.strip().lower()
        if not bought_category:
            raise BadInput("boughtCategory is empty")
    if segment is not None and not segment.strip():
        raise BadInput("segment is empty")
    if segment_params is not None and not isinstance(segment_params, Mapping):
        raise BadInput("segmentParams must be a JSON object")
    found = Audience(
        all=bool(all),
        tier=tier,
        customer_ids=tuple(customer_ids) if customer_ids is not None else None,
        bought_category=bought_category,
        bought_since=bought_since,
        segment=segment.strip() if segment is not None else None,
        segment_params=dict(segment_params or {}),
    )
    if found.empty:
        raise BadInput("the audience is empty: give at least one filter (all, tier, ids, category, segment)")
    return found


class _Where:
    """SQL conditions and their parameters, numbered $n from a given start."""

    def __init__(self, first: int) -> None:
        self.first = first
        self.conditions: list[str] = []
        self.params: list[Any] = []

    def mark(self, value: Any) -> str:
        self.params.append(value)
        return f"${self.first + len(self.params) - 1}"

    def add(self, condition: str) -> None:
        self.conditions.append(condition)

    def among(self, column: str, values: Sequence[str] | Sequence[int], kind: str = "text") -> str:
        """`column` is one of `values` (any number: one parameter, not one per value)."""
        if sql.is_postgres():
            return f"{column} = ANY({self.mark(list(values))}::{kind}[])"
        return f"{column} IN (SELECT value FROM json_each({self.mark(json.dumps(list(values)))}))"

    def ids(self, column: str, ids: Sequence[str]) -> None:
        self.add(self.among(column, ids))

    def bought(self, category: str | None, since: datetime | None) -> None:
        inner = [
            "o.customer_id = p.customer_id",
            "o.program_id = w.program_id",  # CA-02: orders of the campaign's program only
            "o.status IN ('PAID', 'PARTIALLY_REFUNDED')",
            "i.kind = 'TICKET'",
            "i.refund_id IS NULL",
        ]
        if category is not None:
            inner.append(f"e.category = {self.mark(category)}")
        if since is not None:
            inner.append(f"o.paid_at >= {self.mark(since)}")
        self.add(
            "EXISTS (SELECT 1 FROM orders o JOIN order_item i ON i.order_id = o.id"
            " JOIN event e ON e.id = i.event_id WHERE " + " AND ".join(inner) + ")"
        )

    async def tier(self, program: Program, tier: str) -> None:
        """The wallet's tier now (TK-05): the staff's where set, else what its spend earns."""
        if tier not in program.tiers:
            raise BadInput(f"program {program.id!r} has no tier {tier!r}")
        no_spend, earned = await tiers.spend_earned_tiers(program)
        staff = f"w.tier = {self.mark(tier)}"
        if no_spend == tier:  # every wallet without a staff tier, but recent buyers who earned another
            others = [wallet for wallet, got in earned.items() if got != tier]
            self.add(f"({staff} OR (w.tier IS NULL AND NOT {self.among('w.id', others, 'bigint')}))")
        else:
            same = [wallet for wallet, got in earned.items() if got == tier]
            self.add(f"({staff} OR (w.tier IS NULL AND {self.among('w.id', same, 'bigint')}))")


def resolve_segment(program: Program, audience: Audience) -> Segment | None:
    """The plugin segment the audience names, asked of the program's plugins now.

    BAD_INPUT when no plugin of the program defines it; a failing plugin refuses the
    operation (PL-03) as the plugin manager decides.
    """
    if audience.segment is None:
        return None
    found = program.rules.audience_segment(audience.segment, dict(audience.segment_params), program.id)
    if found is None:
        raise BadInput(f"no plugin of program {program.id!r} defines the segment {audience.segment!r}")
    if not isinstance(found, Segment):
        raise BadInput(f"segment {audience.segment!r} is not a Segment")
    return found


async def condition(program: Program, audience: Audience, first_param: int = 1) -> tuple[str, list[Any]]:
    """The audience as one SQL condition over `wallet w JOIN participant p`, with its
    parameters numbered from `$first_param`. Plugin segments are asked now."""
    where = _Where(first_param)
    where.add(f"w.program_id = {where.mark(program.id)}")
    where.add("w.status = 'ACTIVE'")
    where.add("p.status = 'ACTIVE'")
    if audience.tier is not None:
        await where.tier(program, audience.tier)
    if audience.customer_ids is not None:
        where.ids("p.customer_id", audience.customer_ids)
    if audience.bought_category is not None or audience.bought_since is not None:
        where.bought(audience.bought_category, audience.bought_since)
    segment = resolve_segment(program, audience)
    if segment is not None:
        if segment.tier is not None:
            await where.tier(program, segment.tier)
        if segment.customer_ids is not None:
            where.ids("p.customer_id", segment.customer_ids)
        if segment.bought_category is not None or segment.bought_since is not None:
            category = segment.bought_category.strip().lower() if segment.bought_category else None
            where.bought(category, segment.bought_since)
        if segment.joined_since is not None:
            where.add(f"w.joined_at >= {where.mark(segment.joined_since)}")
        if segment.marketing_consent is not None:
            where.add(f"p.marketing_consent = {where.mark(segment.marketing_consent)}")
    return " AND ".join(where.conditions), where.params


FROM = "wallet w JOIN participant p ON p.id = w.participant_id"


async def count(program: Program, audience: Audience) -> int:
    """How many participants the audience matches now (AudiencePreview.count). Changes nothing."""
    where, params = await condition(program, audience)
    rows = await sql.fetch(f"SELECT COUNT(*) AS n FROM {FROM} WHERE {where}", *params)
    return int(rows[0]["n"])
