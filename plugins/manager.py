"""The plugin manager: finds, configures and calls the plugins of plugins.toml.

One `PluginHost` is built per app. Each program gets its own pluggy plugin manager
holding the plugins enabled for it, built once at start-up; pluggy calls their hooks
(plugins.toml order, ``tryfirst``/``trylast``, ``firstresult``, wrappers), each
implementation under the PL-03 guard of `plugins.policy`. `ProgramHooks`, the
program's `loyalty.programs.ProgramRules`, has one method per hook of hookspecs.py
and combines the answers as the hook's declaration says."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import timedelta
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pluggy
from pydantic import BaseModel, ValidationError

from loyalty import achievements
from loyalty.errors import PluginFailure, Undelivered
from loyalty.programs import Catalog, Program
from plugins import failures, hookspecs
from plugins.config import ConfigError, PluginConfig, load
from plugins.policy import HOOKS, Guard, Hook, guarded

ENTRY_POINT_GROUP = "loyalty.plugins"

BUILTIN = {
    "achievements": "plugins.builtin.achievements:Achievements",
    "live_brighter": "plugins.builtin.live_brighter:LiveBrighter",
    "mgt_plus": "plugins.builtin.mgt_plus:MgtPlus",
    "tkt_ge": "plugins.builtin.tkt_ge:TktGe",
    "webhook": "plugins.builtin.webhook:Webhook",
}


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
    """The configured programs and the plugins that make their rules.

    `manager` holds every enabled plugin, to check at start-up that each implements
    only hooks of hookspecs.py with their arguments. Each program then gets its own
    `pluggy.PluginManager` holding only the plugins enabled for it, each under the
    PL-03 guard of `plugins.policy`; pluggy calls the hooks (order, ``firstresult``,
    wrappers) and `ProgramHooks` combines the answers.
    """

    def __init__(self, enabled: list[Enabled], programs: list[Program]) -> None:
        self.enabled = {plugin.name: plugin for plugin in enabled}
        self.manager = _manager((plugin.instance, plugin.name, plugin.name) for plugin in enabled)
        self.catalog = Catalog(
            (replace(program, rules=ProgramHooks(program_manager(program, enabled))) for program in programs),
            partner_plugins=_partner_plugins(enabled, programs),
        )


def _manager(plugins: Iterable[tuple[object, str, str]]) -> pluggy.PluginManager:
    """A manager of the hooks of hookspecs.py holding (plugin, registered as, plugins.toml name)s.

    ConfigError, naming the plugin, if one implements something that is no hook or
    takes an argument its hook does not give.
    """
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    names: dict[int, str] = {}
    try:
        for plugin, registered_as, name in plugins:
            names[id(plugin)] = name
            manager.register(plugin, name=registered_as)
        manager.check_pending()
    except pluggy.PluginValidationError as error:
        name = names.get(id(error.plugin), repr(error.plugin))
        raise ConfigError(
            f"plugin {name!r}: {error} (see plugins/hookspecs.py for the hooks and their arguments)"
        ) from None
    return manager


def program_manager(program: Program, enabled: list[Enabled]) -> pluggy.PluginManager:
    """The plugin manager of one program: the plugins enabled for it, guarded, in plugins.toml order.

    pluggy calls the implementation registered last first (LIFO), except that
    ``tryfirst`` ones come before and ``trylast`` ones after the others, and the
    ``trylast`` ones among themselves in registration order. So each plugin's
    implementations are registered in two halves: the others in reverse plugins.toml
    order, the ``trylast`` ones in plugins.toml order. Then, within each of tryfirst,
    plain and trylast (and likewise among wrappers), the first plugin listed is asked first.
    """
    mine = [plugin for plugin in enabled if plugin.applies_to(program.id)]
    registry = pluggy.PluginManager(hookspecs.PROJECT)  # only to read the plugins' hookimpl marks
    halves: list[tuple[object, str, str]] = []
    for trylast, order in ((False, reversed(mine)), (True, iter(mine))):
        for plugin in order:
            guard = Guard(plugin.name, plugin.config.optional, _answer_check(program))
            if (half := guarded(registry, plugin.instance, guard, trylast=trylast)) is not None:
                halves.append((half, plugin.name + (" (trylast)" if trylast else ""), plugin.name))
    return _manager(halves)


def _answer_check(program: Program) -> Callable[[str, Any], str | None]:
    """What an answer must be in this program beyond its type: a tier the program defines (TK-05)."""

    def check(hook: str, answer: Any) -> str | None:
        if hook == "tier_for" and answer not in program.tiers:
            return f"answered tier {answer!r}, which program {program.id} does not define"
        return None

    return check


class ProgramHooks:
    """One program's rules (`loyalty.programs.ProgramRules`): a method per hook of hookspecs.py.

    Each method takes the hook's arguments, has pluggy call the program's plugins, and
    combines their answers by the hook's declaration: the first answer (or None) where
    the first answer wins; the lists joined where each plugin answers a list; every
    answer otherwise; nothing for a notice.
    """

    def __init__(self, manager: pluggy.PluginManager) -> None:
        self.manager = manager
        for hook in HOOKS.values():
            setattr(self, hook.name, _combining(hook, getattr(manager.hook, hook.name)))


def _combining(hook: Hook, caller: pluggy.HookCaller) -> Callable[..., Any]:
    def ask(*args: Any, **kwargs: Any) -> Any:
        if len(args) > len(hook.argnames):
            raise TypeError(f"{hook.name}() takes {len(hook.argnames)} arguments, got {len(args)}")
        if hook.notice:
            with failures.collecting() as failed:
                caller(**dict(zip(hook.argnames, args, strict=False)), **kwargs)
            told = args[0] if args else next(iter(kwargs.values()), None)
            if failed and getattr(told, "id", None) is not None:
                # An outbox delivery: every plugin was told; the failures make it due again.
                raise Undelivered([plugin for plugin, _ in failed], "; ".join(f"{p}: {why}" for p, why in failed))
            return None
        answers = caller(**dict(zip(hook.argnames, args, strict=False)), **kwargs)
        if hook.listed and not hook.firstresult:
            return [item for answer in answers for item in answer]
        return answers

    ask.__name__ = ask.__qualname__ = hook.name
    ask.__doc__ = f"The program's plugins asked `{hook.name}` (plugins/hookspecs.py), answers combined."
    return ask


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
    host = PluginHost(enabled, programs)
    check_achievements(host.catalog, path)
    return host


def check_achievements(catalog: Catalog, path: str | Path) -> None:
    """GA-01 at start-up: every program's achievement definitions usable (unique ids, a known
    `counts`, a goal of at least 1, ...); ConfigError naming the plugin and the achievement."""
    for program in catalog:
        try:
            achievements.check(program)
        except achievements.InvalidAchievement as error:
            raise ConfigError(f"{path}: {error}") from None
        except PluginFailure as error:
            raise ConfigError(f"{path}: plugin {error.plugin!r} failed in achievements at start-up") from None
