"""The hooks as data, and the PL-03 failure policy applied inside pluggy's call chain.

`HOOKS` reads every hook of hookspecs.py once (its arguments, whether the first answer
wins, the type of one plugin's answer), so nothing else restates them.

`guarded` turns one plugin, in one program, into the object pluggy registers: each of
the plugin's hook implementations wrapped so that pluggy, calling it, applies PL-03:

- a plain implementation that raises, or answers something of the wrong type, refuses
  the operation with `PluginFailure` (UNAVAILABLE); for an optional plugin the failure
  is logged and the wrapper answers None, which pluggy leaves out of the results;
- a plugin's own wrappers (``wrapper=True``, old-style ``hookwrapper=True``) are
  guarded the same way: a raising optional wrapper is as if it were not there;
- hooks that answer nothing (``notify``) run after commit: failures are logged, never raised;
- every `Credit` and `AchievementDefinition` a plugin answers is stamped with the plugin's
  name (PL-04).
"""

from __future__ import annotations

import functools
import inspect
import logging
import re
import types
from collections.abc import Callable, Generator
from dataclasses import dataclass, replace
from typing import Any, Union, get_args, get_origin, get_type_hints

import pluggy

from loyalty.errors import PluginFailure
from loyalty.facts import AchievementDefinition, Credit
from plugins import failures, hookspecs

log = logging.getLogger("loyalty.plugins")

IMPL_MARK = hookspecs.PROJECT + "_impl"


@dataclass(frozen=True)
class Hook:
    """One hook of hookspecs.py."""

    name: str
    argnames: tuple[str, ...]
    firstresult: bool
    answer: Any  # the return annotation: the type of one plugin's answer

    @property
    def notice(self) -> bool:
        """Told, not asked: the answer is ignored and failures never fail anything."""
        return self.answer is type(None)

    @property
    def listed(self) -> bool:
        """Each plugin answers a list; the lists are joined."""
        return get_origin(self.answer) is list


def _read_hooks() -> dict[str, Hook]:
    found = {}
    for name, spec in inspect.getmembers(hookspecs, inspect.isfunction):
        opts = getattr(spec, hookspecs.PROJECT + "_spec", None)
        if opts is None:
            continue
        found[name] = Hook(
            name=name,
            argnames=tuple(inspect.signature(spec).parameters),
            firstresult=bool(opts.get("firstresult")),
            answer=get_type_hints(spec)["return"],
        )
    return found


HOOKS: dict[str, Hook] = _read_hooks()


def conforms(value: Any, annotation: Any) -> bool:
    """Whether `value` is of the annotated type (unions, lists, dicts and classes)."""
    if annotation is Any:
        return True
    if annotation is type(None):
        return value is None
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        return any(conforms(value, option) for option in get_args(annotation))
    if origin is list:
        (item,) = get_args(annotation)
        return isinstance(value, list | tuple) and all(conforms(v, item) for v in value)
    if origin is not None:
        return isinstance(value, origin)
    return isinstance(value, annotation)


def _name(annotation: Any) -> str:
    if get_origin(annotation) is None and hasattr(annotation, "__name__"):
        return str(annotation.__name__)
    return re.sub(r"[\w.]+\.", "", str(annotation))  # list[loyalty.facts.Credit]: list[Credit]


def _stamped(value: Any, plugin: str, override: bool) -> Any:
    """`value` with lists as lists (a tuple answer is fine) and its credits and achievements
    stamped with `plugin`."""
    if isinstance(value, list | tuple):
        return [_stamped(item, plugin, override) for item in value]
    if isinstance(value, Credit | AchievementDefinition) and (override or value.plugin is None):
        return replace(value, plugin=plugin)
    return value


AnswerCheck = Callable[[str, Any], "str | None"]


class Guard:
    """PL-03 for one plugin in one program: what a failure does, and what an answer must be."""

    def __init__(self, plugin: str, optional: bool, check: AnswerCheck | None = None) -> None:
        self.plugin = plugin
        self.optional = optional
        self.check = check

    def failed(self, hook: Hook, args: tuple[Any, ...], error: BaseException | None, problem: str = "") -> None:
        """Log the failure; raise PluginFailure unless the plugin is optional or the hook a notice."""
        why = f": {problem}" if problem else ""
        exc_info = (type(error), error, error.__traceback__) if error is not None else None
        failures.record(
            self.plugin,
            hook.name,
            "ignored" if hook.notice else "skipped" if self.optional else "refused",
            problem or (f"{type(error).__name__}: {error}" if error is not None else ""),
        )
        if hook.notice:
            about = ", ".join(str(arg.kind) for arg in args if hasattr(arg, "kind"))
            log.error(
                "plugin %s failed in %s(%s); ignored, the change stands%s",
                self.plugin,
                hook.name,
                about,
                why,
                exc_info=exc_info,
            )
        elif self.optional:
            log.error("optional plugin %s failed in %s; skipped%s", self.plugin, hook.name, why, exc_info=exc_info)
        else:
            log.error(
                "plugin %s failed in %s; the operation is refused%s", self.plugin, hook.name, why, exc_info=exc_info
            )
            raise PluginFailure(self.plugin, f"a rule could not be applied ({hook.name})") from error

    def problem(self, hook: Hook, answer: Any) -> str | None:
        """What is wrong with one answer of this plugin, or None (no answer is always fine)."""
        if answer is None or hook.notice:
            return None
        if not conforms(answer, hook.answer):
            return f"answered {type(answer).__name__}, not {_name(hook.answer)}"
        return self.check(hook.name, answer) if self.check else None

    def result_problem(self, hook: Hook, result: Any) -> str | None:
        """What is wrong with a wrapper's result: one answer, or the list of every plugin's answers."""
        if hook.notice or hook.firstresult:
            return self.problem(hook, result)
        if not isinstance(result, list):
            return f"answered {type(result).__name__}, not a list of answers"
        for answer in result:
            if answer is None:
                return "answered a list with None in it"
            if found := self.problem(hook, answer):
                return found
        return None

    # ---------------------------------------------------------- the three kinds of implementation

    def plain(self, hook: Hook, method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            try:
                answer = method(*args, **kwargs)
            except Exception as error:
                self.failed(hook, args, error)
                return None
            if problem := self.problem(hook, answer):
                self.failed(hook, args, None, problem)
                return None
            return _stamped(answer, self.plugin, override=True)

        return guarded

    def wrapper(self, hook: Hook, method: Callable[..., Any]) -> Callable[..., Any]:
        """A new-style wrapper (``wrapper=True``): it gets the result from ``yield`` and returns its own."""

        @functools.wraps(method)
        def guarded(*args: Any, **kwargs: Any) -> Generator[None, Any, Any]:
            try:
                inner = method(*args, **kwargs)
                next(inner)
            except StopIteration:
                self.failed(hook, args, None, "the wrapper did not yield")
                return (yield)
            except Exception as error:
                self.failed(hook, args, error)
                return (yield)
            try:
                result = yield
            except Exception as raised:  # a plugin inside refused: the wrapper may handle it
                try:
                    inner.throw(raised)
                except StopIteration as done:
                    return self._settled(hook, args, done.value, raised)
                except Exception as error:
                    if error is not raised:
                        self.failed(hook, args, error)
                    raise raised  # noqa: B904 - the inner refusal, unchanged
                inner.close()
                self.failed(hook, args, None, "the wrapper yielded twice")
                raise
            try:
                inner.send(result)
            except StopIteration as done:
                return self._settled(hook, args, done.value, result)
            except Exception as error:
                self.failed(hook, args, error)
                return result
            inner.close()
            self.failed(hook, args, None, "the wrapper yielded twice")
            return result

        return guarded

    def _settled(self, hook: Hook, args: tuple[Any, ...], value: Any, otherwise: Any) -> Any:
        """The wrapper's result, checked and stamped; `otherwise` when an optional wrapper's is wrong."""
        if problem := self.result_problem(hook, value):
            self.failed(hook, args, None, problem)
            if isinstance(otherwise, BaseException):
                raise otherwise
            return otherwise
        return _stamped(value, self.plugin, override=False) if isinstance(value, list) else value

    def hookwrapper(self, hook: Hook, method: Callable[..., Any]) -> Callable[..., Any]:
        """An old-style wrapper (``hookwrapper=True``): it gets a `pluggy.Result` from ``yield``."""

        @functools.wraps(method)
        def guarded(*args: Any, **kwargs: Any) -> Generator[None, pluggy.Result[Any], None]:
            try:
                inner = method(*args, **kwargs)
                next(inner)
            except StopIteration:
                self.failed(hook, args, None, "the wrapper did not yield")
                yield
                return
            except Exception as error:
                self.failed(hook, args, error)
                yield
                return
            outcome = yield
            before = outcome.exception, None if outcome.exception else outcome.get_result()
            failure: Exception | None = None
            problem = ""
            try:
                inner.send(outcome)
                inner.close()
                problem = "the wrapper yielded twice"
            except StopIteration:
                if outcome.exception is None:
                    problem = self.result_problem(hook, outcome.get_result()) or ""
            except Exception as raised:
                failure = raised
            if failure is None and not problem:
                if outcome.exception is None and isinstance(outcome.get_result(), list):
                    outcome.force_result(_stamped(outcome.get_result(), self.plugin, override=False))
                return
            # Undo what the wrapper did to the outcome, then refuse or skip it.
            if before[0] is not None:
                outcome.force_exception(before[0])
            else:
                outcome.force_result(before[1])
            try:
                self.failed(hook, args, failure, problem)
            except PluginFailure as refused:
                outcome.force_exception(refused)

        return guarded


class GuardedPlugin:
    """What pluggy registers for a plugin in one program: its hook implementations, guarded."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"<plugin {self.name}>"


def guarded(manager: pluggy.PluginManager, instance: object, guard: Guard, trylast: bool) -> GuardedPlugin | None:
    """The plugin's implementations marked `trylast` (or not), each under `guard`; None if there are none.

    The two halves are registered apart because pluggy calls the ``trylast`` ones in
    registration order and every other one in reverse registration order.
    """
    found = GuardedPlugin(guard.plugin)
    for attr in dir(instance):
        opts = manager.parse_hookimpl_opts(instance, attr)
        if opts is None or bool(opts.get("trylast")) is not trylast:
            continue
        hook = HOOKS.get(opts.get("specname") or attr)
        method = getattr(instance, attr)
        if hook is None:  # no such hook: the registry has refused it already
            continue
        if opts.get("wrapper"):
            function = guard.wrapper(hook, method)
        elif opts.get("hookwrapper"):
            function = guard.hookwrapper(hook, method)
        else:
            function = guard.plain(hook, method)
        setattr(function, IMPL_MARK, dict(opts))
        setattr(found, attr, function)
    return found if len(vars(found)) > 1 else None
