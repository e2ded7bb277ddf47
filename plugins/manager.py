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
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, TypeVar

import pluggy
from pydantic import BaseModel, ValidationError

from loyalty.errors import PluginFailure
from loyalty.facts import Credit, Limit, OrderFacts, ParticipantFacts, RefundFacts, RefundTerms, Refusal
from loyalty.programs import Catalog, Program
from plugins import hookspecs
from plugins.config import ConfigError, PluginConfig, load

log = logging.getLogger("loyalty.plugins")

ENTRY_POINT_GROUP = "loyalty.plugins"

BUILTIN = {
    "live_brighter": "plugins.builtin.live_brighter:LiveBrighter",
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
        for plugin in enabled:
            self.manager.register(plugin.instance, name=plugin.name)
        try:
            self.manager.check_pending()
        except pluggy.PluginValidationError as error:
            raise ConfigError(f"plugin {error.plugin_name!r}: {error}") from None
        self.catalog = Catalog(replace(program, rules=ProgramHooks(self, program.id)) for program in programs)

    def call(
        self, hook: str, program_id: str, first: bool = False, **kwargs: Any
    ) -> list[Any]:
        """Call `hook` on the plugins enabled for the program, newest-registered last.

        A raising plugin refuses the operation (PluginFailure), or is logged and
        skipped when it is optional (PL-03). None answers are dropped.
        """
        results: list[Any] = []
        caller = getattr(self.manager.hook, hook)
        for impl in reversed(caller.get_hookimpls()):
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
                results.append(answer)
                if first:
                    break
        return results


class ProgramHooks:
    """One program's rules, answered by its plugins (implements loyalty.programs.ProgramRules)."""

    def __init__(self, host: PluginHost, program_id: str) -> None:
        self.host = host
        self.program_id = program_id

    def _joined(self, hook: str, **kwargs: Any) -> list[Any]:
        return [item for answer in self.host.call(hook, self.program_id, **kwargs) for item in answer]

    def accruals(self, order: OrderFacts, participant: ParticipantFacts) -> list[Credit]:
        return _typed(self._joined("accrual_credits", order=order, participant=participant), Credit)

    def redemption_limits(self, order: OrderFacts, participant: ParticipantFacts) -> list[Limit]:
        answers = self.host.call("redemption_limit", self.program_id, order=order, participant=participant)
        return _typed(answers, Limit)

    def refusals(self, order: OrderFacts, participant: ParticipantFacts) -> list[Refusal]:
        return _typed(self._joined("order_refusals", order=order, participant=participant), Refusal)

    def refund_terms(self, order: OrderFacts, refund: RefundFacts) -> RefundTerms | None:
        answers = self.host.call("refund_terms", self.program_id, first=True, order=order, refund=refund)
        return _typed(answers, RefundTerms)[0] if answers else None


def _typed(values: list[Any], kind: Callable[..., T]) -> list[T]:
    for value in values:
        if not isinstance(value, kind):  # type: ignore[arg-type]
            raise PluginFailure("?", f"a plugin answered {type(value).__name__}, not {getattr(kind, '__name__', kind)}")
    return values


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
        )
        for program_id, program in config.programs.items()
    ]
    return PluginHost(enabled, programs)
