"""The plugin manager: finds, configures and calls the plugins of plugins.toml.

One `PluginHost` is built per app. For each program it answers the domain's rule
questions (`loyalty.programs.ProgramRules`) by calling the hooks of the plugins
enabled for that program, combining answers as hookspecs.py documents, and applying
the failure policy of PL-03.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from decimal import Decimal
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, TypeVar

import pluggy
from pydantic import BaseModel, ValidationError

from loyalty.errors import PluginFailure
from loyalty.facts import (
    AchievementDefinition,
    Credit,
    Limit,
    Notification,
    OrderFacts,
    ParticipantFacts,
    PromoCodeFacts,
    RefundFacts,
    RefundTerms,
    Refusal,
    Segment,
)
from loyalty.programs import Catalog, Program
from plugins import hookspecs
from plugins.config import ConfigError, PluginConfig, load

log = logging.getLogger("loyalty.plugins")

ENTRY_POINT_GROUP = "loyalty.plugins"

BUILTIN = {
    "live_brighter": "plugins.builtin.live_brighter:LiveBrighter",
    "mgt_plus": "plugins.builtin.mgt_plus:MgtPlus",
    "tkt_ge": "plugins.builtin.tkt_ge:TktGe",
}

T = TypeVar("T")


@dataclass(frozen=True)
class Enabled:
    """A plugin instance as plugins.toml enabled it."""

    name: str
    instance: object
    config: PluginConfig

    def applies_to(self, program_id: str) -> bool:
        return not self.config.programs or program_id in self.config.programs


def _find_class(name: str, config: PluginConfig) -> type:
    target = config.module or BUILTIN.get(name)
    if target is None:
        found = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == name]
        if not found:
            raise ConfigError(
                f"plugin {name!r} is enabled in plugins.toml but not installed: no built-in and no "
                f"'{ENTRY_POINT_GROUP}' entry point has that name"
            )
        loaded = found[0].load()
    else:
        module_name, _, class_name = target.partition(":")
        try:
            loaded = getattr(importlib.import_module(module_name), class_name)
        except (ImportError, AttributeError) as error:
            raise ConfigError(f"plugin {name!r}: cannot load {target!r}: {error}") from None
    if not isinstance(loaded, type):
        raise ConfigError(f"plugin {name!r}: {loaded!r} is not a plugin class")
    return loaded


def _instantiate(name: str, cls: type, config: PluginConfig) -> object:
    settings_model = getattr(cls, "Settings", None)
    if settings_model is None:
        if config.settings:
            raise ConfigError(f"plugin {name!r} takes no settings, but plugins.toml gives some")
        return cls()
    if not (isinstance(settings_model, type) and issubclass(settings_model, BaseModel)):
        raise ConfigError(f"plugin {name!r}: its Settings is not a pydantic model")
    try:
        settings = settings_model.model_validate(config.settings)
    except ValidationError as error:
        problems = "; ".join(
            f"plugins.{name}.settings.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()
        )
        raise ConfigError(problems) from None
    return cls(settings)


class PluginHost:
    """The configured programs and the plugins that make their rules."""

    def __init__(self, enabled: list[Enabled], programs: list[Program]) -> None:
        self.manager = pluggy.PluginManager(hookspecs.PROJECT)
        self.manager.add_hookspecs(hookspecs)
        self.enabled = {plugin.name: plugin for plugin in enabled}
        try:
            for plugin in enabled:
                self.manager.register(plugin.instance, name=plugin.name)
            self.manager.check_pending()
        except pluggy.PluginValidationError as error:
            name = next((p.name for p in enabled if p.instance is error.plugin), repr(error.plugin))
            raise ConfigError(
                f"plugin {name!r}: {error} (see plugins/hookspecs.py for the hooks and their arguments)"
            ) from None
        self.catalog = Catalog(
            (replace(program, rules=ProgramHooks(self, program.id)) for program in programs),
            partner_plugins=_partner_plugins(enabled, programs),
        )

    def call_named(self, hook: str, program_id: str, first: bool = False, **kwargs: Any) -> list[tuple[str, Any]]:
        """Call `hook` on the plugins enabled for the program, in registration order.

        Returns (plugin name, answer) pairs; None answers are dropped; with `first`,
        calling stops at the first answer. A raising plugin refuses the operation
        (PluginFailure), or is logged and skipped when it is optional (PL-03).
        """
        results: list[tuple[str, Any]] = []
        caller = getattr(self.manager.hook, hook)
        # get_hookimpls() lists implementations in registration order, which is the
        # order of plugins.toml: the first plugin listed is asked first.
        for impl in caller.get_hookimpls():
            plugin = self.enabled[impl.plugin_name]
            if not plugin.applies_to(program_id):
                continue
            try:
                answer = impl.function(**{arg: kwargs[arg] for arg in impl.argnames})
            except Exception as error:
                if plugin.config.optional:
                    log.exception("optional plugin %s failed in %s; skipped", plugin.name, hook)
                    continue
                log.exception("plugin %s failed in %s; the operation is refused", plugin.name, hook)
                raise PluginFailure(plugin.name, f"a rule could not be applied ({hook})") from error
            if answer is not None:
                results.append((plugin.name, answer))
                if first:
                    break
        return results

    def call(self, hook: str, program_id: str, first: bool = False, **kwargs: Any) -> list[Any]:
        """As `call_named`, the answers alone."""
        return [answer for _, answer in self.call_named(hook, program_id, first=first, **kwargs)]

    def notify(self, program_id: str, event: Notification) -> None:
        """Call `notify` on every plugin of the program; failures are logged, never raised."""
        for impl in self.manager.hook.notify.get_hookimpls():
            plugin = self.enabled[impl.plugin_name]
            if not plugin.applies_to(program_id):
                continue
            try:
                impl.function(**{arg: {"event": event}[arg] for arg in impl.argnames})
            except Exception:
                log.exception("plugin %s failed in notify(%s); ignored, the change stands", plugin.name, event.kind)


class ProgramHooks:
    """One program's rules, answered by its plugins (implements loyalty.programs.ProgramRules)."""

    def __init__(self, host: PluginHost, program_id: str) -> None:
        self.host = host
        self.program_id = program_id

    def _joined(self, hook: str, **kwargs: Any) -> list[Any]:
        return [item for answer in self.host.call(hook, self.program_id, **kwargs) for item in _listed(answer, hook)]

    def accruals(self, order: OrderFacts, participant: ParticipantFacts) -> list[Credit]:
        """Every plugin's credits, joined; each stamped with the plugin that made it (PL-04)."""
        credits = []
        for name, answer in self.host.call_named(
            "accrual_credits", self.program_id, order=order, participant=participant
        ):
            for credit in _typed(_listed(answer, "accrual_credits", name), Credit, name):
                credits.append(replace(credit, plugin=name))
        return credits

    def redemption_limits(self, order: OrderFacts, participant: ParticipantFacts) -> list[Limit]:
        answers = self.host.call("redemption_limit", self.program_id, order=order, participant=participant)
        return _typed(answers, Limit)

    def refusals(self, order: OrderFacts, participant: ParticipantFacts) -> list[Refusal]:
        return _typed(self._joined("order_refusals", order=order, participant=participant), Refusal)

    def refund_terms(self, order: OrderFacts, refund: RefundFacts, participant: ParticipantFacts) -> RefundTerms | None:
        return self._first("refund_terms", RefundTerms, order=order, refund=refund, participant=participant)

    def promo_code_refusal(
        self, code: PromoCodeFacts, order: OrderFacts, participant: ParticipantFacts
    ) -> Refusal | None:
        return self._first("promo_code_refusal", Refusal, code=code, order=order, participant=participant)

    def tier(self, spend_365_days: Decimal, participant: ParticipantFacts) -> str | None:
        found = self.host.call_named(
            "tier_for", self.program_id, first=True, spend_365_days=spend_365_days, participant=participant
        )
        if not found:
            return None
        name, tier = found[0]
        defined = self.host.catalog.get(self.program_id).tiers
        if not isinstance(tier, str) or tier not in defined:
            log.error("plugin %s answered tier %r, which program %s does not define", name, tier, self.program_id)
            raise PluginFailure(name, f"a rule could not be applied (tier_for answered {tier!r})")
        return tier

    def achievements(self) -> list[AchievementDefinition]:
        return _typed(self._joined("achievements"), AchievementDefinition)

    def referral_refusal(
        self, order: OrderFacts, referrer: ParticipantFacts, friend: ParticipantFacts
    ) -> Refusal | None:
        return self._first("referral_refusal", Refusal, order=order, referrer=referrer, friend=friend)

    def notify(self, event: Notification) -> None:
        self.host.notify(self.program_id, event)

    def audience_segment(self, name: str, params: dict[str, Any]) -> Segment | None:
        """The first plugin's answer for the campaign segment `name` (CA-02), or None."""
        return self._first("audience_segment", Segment, name=name, params=params, program=self.program_id)

    def _first(self, hook: str, kind: Callable[..., T], **kwargs: Any) -> T | None:
        found = self.host.call_named(hook, self.program_id, first=True, **kwargs)
        if not found:
            return None
        name, answer = found[0]
        return _typed([answer], kind, name)[0]


def _listed(answer: Any, hook: str, plugin: str = "?") -> list[Any]:
    if not isinstance(answer, list | tuple):
        log.error("plugin %s answered %s from %s, not a list", plugin, type(answer).__name__, hook)
        raise PluginFailure(plugin, f"a rule could not be applied ({hook} answered no list)")
    return list(answer)


def _typed(values: list[Any], kind: Callable[..., T], plugin: str = "?") -> list[T]:
    for value in values:
        if not isinstance(value, kind):  # type: ignore[arg-type]
            log.error("plugin %s answered %s, not %s", plugin, type(value).__name__, getattr(kind, "__name__", kind))
            raise PluginFailure(
                plugin, f"a plugin answered {type(value).__name__}, not {getattr(kind, '__name__', kind)}"
            )
    return values


def _partner_plugins(enabled: list[Enabled], programs: list[Program]) -> dict[str, set[str]]:
    """Each partner's plugins: `partner` in plugins.toml, else the one owner of the plugin's programs."""
    owners = {program.id: program.owner for program in programs}
    found: dict[str, set[str]] = {}
    for plugin in enabled:
        partner = plugin.config.partner
        if partner is None:
            covered = {owners.get(p) for p in (plugin.config.programs or list(owners))}
            partner = covered.pop() if len(covered) == 1 else None
        if partner:
            found.setdefault(partner, set()).add(plugin.name)
    return found


def build(path: str | Path) -> PluginHost:
    """Load plugins.toml and build the host; ConfigError names what is wrong."""
    config = load(path)
    enabled = [
        Enabled(name=name, instance=_instantiate(name, _find_class(name, entry), entry), config=entry)
        for name, entry in config.plugins.items()
    ]
    programs = [
        Program(
            id=program_id,
            name=program.name,
            currency=program.currency,
            rules_url=program.rules_url,
            rules_version=program.rules_version,
            validity=timedelta(days=program.validity_days),
            organizers=tuple(program.organizers),
            owner=program.owner,
            tiers=tuple(program.tiers),
            checks_age=program.checks_age,
            rolling_expiry=program.expiry == "rolling",
        )
        for program_id, program in config.programs.items()
    ]
    return PluginHost(enabled, programs)
