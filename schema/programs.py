"""Programs (PL-05)."""

from __future__ import annotations

import strawberry

from loyalty.programs import Program as ProgramConfig
from schema.context import Info


@strawberry.type(description="A loyalty program: one currency of bonuses with its own rules (PL-05).")
class Program:
    id: strawberry.ID
    name: str
    currency: str
    rules_url: str
    organizer_ids: list[strawberry.ID]

    @classmethod
    def of(cls, program: ProgramConfig) -> Program:
        return cls(
            id=strawberry.ID(program.id),
            name=program.name,
            currency=program.currency,
            rules_url=program.rules_url,
            organizer_ids=[strawberry.ID(o) for o in program.organizers],
        )


@strawberry.type
class Query:
    @strawberry.field(
        description="No token needed. Every program that plugins.toml enables (PL-05), in configuration order."
    )
    def programs(self, info: Info) -> list[Program]:
        return [Program.of(program) for program in info.context.catalog]
