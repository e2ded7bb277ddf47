"""Programs: a currency of bonuses with its own rules (PL-05).

The domain knows a program only by its configuration and a `ProgramRules` object that
answers the rule questions; the plugin manager provides that object, so the core
names no program.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any, Protocol, get_origin, get_type_hints

from loyalty.errors import NotFound
from loyalty.facts import (
    AchievementDefinition,
    Credit,
    Limit,
    Notification,
    OrderFacts,
    ParticipantFacts,
    PromoCodeFacts,
    ReferralTerms,
    RefundFacts,
    RefundTerms,
    Refusal,
    Segment,
)


class ProgramRules(Protocol):
    """The rule questions the domain asks about one program: one per hook of plugins/hookspecs.py.

    Each method is the hook of that name, with its arguments, answering what the
    program's plugins answered together: where the first answer wins, that answer (or
    None); where each plugin answers a list, the lists joined; otherwise every plugin's
    answer, in a list; ``notify`` answers nothing. tests/test_plugins.py checks that
    this mirrors hookspecs.py exactly, so a hook is declared there and here only.
    """

    def accrual_credits(self, order: OrderFacts, participant: ParticipantFacts) -> list[Credit]:
        """Every credit the order earns when paid, stamped with its plugin (LB-02, PL-01, PL-04)."""
        ...

    def redemption_limit(self, order: OrderFacts, participant: ParticipantFacts) -> list[Limit]:
        """Every cap on the bonuses the order may be paid with (LB-08); the smallest wins."""
        ...

    def order_refusals(self, order: OrderFacts, participant: ParticipantFacts) -> list[Refusal]:
        """Rules that forbid earning or spending on this order (MG-01, MG-02, ...)."""
        ...

    def refund_terms(self, order: OrderFacts, refund: RefundFacts, participant: ParticipantFacts) -> RefundTerms | None:
        """The program's own refund policy, or None for the core one (LB-20)."""
        ...

    def promo_code_refusal(
        self, code: PromoCodeFacts, order: OrderFacts, participant: ParticipantFacts
    ) -> Refusal | None:
        """The program's own reason to refuse a promo code on this order (TK-01), or None."""
        ...

    def tier_for(self, spend_365_days: Decimal, participant: ParticipantFacts) -> str | None:
        """The club tier the spend of the last 365 days earns (TK-05), or None."""
        ...

    def achievements(self) -> list[AchievementDefinition]:
        """The achievements defined for the program (GA-01)."""
        ...

    def referral_refusal(
        self, order: OrderFacts, referrer: ParticipantFacts, friend: ParticipantFacts
    ) -> Refusal | None:
        """The program's own reason to refuse a referral reward (RF-08), or None."""
        ...

    def referral_terms(self) -> ReferralTerms | None:
        """The program's referral program (RF-01..RF-10); None where it runs none."""
        ...

    def notify(self, event: Notification) -> None:
        """Tell the program's plugins what happened, after commit; never raises, except that
        an outbox delivery (`event.id` set) raises `Undelivered` when a plugin failed."""
        ...

    def audience_segment(self, name: str, params: dict[str, Any], program: str) -> Segment | None:
        """The campaign audience segment `name` a plugin defines (CA-02), or None if none does."""
        ...


class NoRules:
    """A program with no rule plugins: every question unanswered, as if no plugin implemented it.

    The answers follow from `ProgramRules`: an empty list where the answer is a list,
    None otherwise (no cap, core refunds, no tier, nothing earned).
    """

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name.startswith("_") or not callable(getattr(ProgramRules, name, None)):
            raise AttributeError(name)
        listed = get_origin(get_type_hints(getattr(ProgramRules, name))["return"]) is list

        def unanswered(*args: Any, **kwargs: Any) -> Any:
            return [] if listed else None

        return unanswered


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
    # MG-06: each accrual moves the expiry of every still-valid lot of the wallet to
    # accrual + validity ("rolling"), instead of each lot keeping its own ("fixed").
    rolling_expiry: bool = False
    rules: ProgramRules = field(default_factory=NoRules, compare=False, repr=False)


class Catalog:
    """The programs the gateway runs, in configuration order."""

    def __init__(self, programs: Iterable[Program], partner_plugins: Mapping[str, Iterable[str]] | None = None) -> None:
        self._programs = {program.id: program for program in programs}
        self._partner_plugins = {partner: frozenset(names) for partner, names in (partner_plugins or {}).items()}

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

    def plugins_of(self, partner_id: str) -> frozenset[str]:
        """The names of the plugins whose rules are this partner's (PL-04, PartnerReport)."""
        return self._partner_plugins.get(partner_id, frozenset())
