"""Programs: a currency of bonuses with its own rules (PL-05).

The domain knows a program only by its configuration and a `ProgramRules` object that
answers the rule questions; the plugin manager provides that object, so the core
names no program.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Protocol

from loyalty.errors import NotFound
from loyalty.facts import Credit, Limit, OrderFacts, ParticipantFacts, RefundFacts, RefundTerms, Refusal


class ProgramRules(Protocol):
    """The rule questions the ledger asks about one program's orders."""

    def accruals(self, order: OrderFacts, participant: ParticipantFacts) -> list[Credit]:
        """Every credit the order earns when paid (LB-02, PL-01)."""
        ...

    def redemption_limits(self, order: OrderFacts, participant: ParticipantFacts) -> list[Limit]:
        """Every cap on the bonuses the order may be paid with (LB-08); the smallest wins."""
        ...

    def refusals(self, order: OrderFacts, participant: ParticipantFacts) -> list[Refusal]:
        """Rules that forbid earning or spending on this order (MG-01, MG-02, ...)."""
        ...

    def refund_terms(self, order: OrderFacts, refund: RefundFacts) -> RefundTerms | None:
        """The program's own refund policy, or None for the core one (LB-20)."""
        ...


class NoRules:
    """A program with no rule plugins: earns nothing, no cap, core refunds."""

    def accruals(self, order: OrderFacts, participant: ParticipantFacts) -> list[Credit]:
        return []

    def redemption_limits(self, order: OrderFacts, participant: ParticipantFacts) -> list[Limit]:
        return []

    def refusals(self, order: OrderFacts, participant: ParticipantFacts) -> list[Refusal]:
        return []

    def refund_terms(self, order: OrderFacts, refund: RefundFacts) -> RefundTerms | None:
        return None


@dataclass(frozen=True)
class Program:
    """One configured program (plugins.toml `[programs.<id>]`)."""

    id: str
    name: str
    currency: str
    rules_url: str
    rules_version: str
    validity: timedelta = timedelta(days=90)
    organizers: tuple[str, ...] = ()
    owner: str | None = None
    tiers: tuple[str, ...] = ()
    checks_age: bool = False
    rules: ProgramRules = field(default_factory=NoRules, compare=False, repr=False)


class Catalog:
    """The programs the gateway runs, in configuration order."""

    def __init__(self, programs: Iterable[Program]) -> None:
        self._programs = {program.id: program for program in programs}

    def __iter__(self) -> Iterator[Program]:
        return iter(self._programs.values())

    def __contains__(self, program_id: object) -> bool:
        return program_id in self._programs

    def get(self, program_id: str) -> Program:
        """The program with this id; NotFound if none is configured."""
        try:
            return self._programs[program_id]
        except KeyError:
            raise NotFound(f"no program {program_id!r}") from None

    def owned_by(self, partner_id: str) -> list[Program]:
        """The programs whose owner is this partner."""
        return [p for p in self._programs.values() if p.owner == partner_id]
