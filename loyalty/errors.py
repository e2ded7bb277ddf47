"""Refusals the domain raises; each maps to one error code of the client contract."""

from __future__ import annotations


class DomainError(Exception):
    """An operation was refused and nothing changed."""

    code = "BAD_INPUT"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadInput(DomainError):
    """Malformed input: negative amounts, empty items, an empty audience."""

    code = "BAD_INPUT"


class NotFound(DomainError):
    """An id in the input names nothing."""

    code = "NOT_FOUND"


class Forbidden(DomainError):
    """The caller may not do this, or the data is someone else's."""

    code = "FORBIDDEN"


class Conflict(DomainError):
    """An id reused with other content, or a state that forbids the change."""

    code = "CONFLICT"


class RuleViolation(DomainError):
    """A rule of RULES.md forbids it; `rule` is the rule's id (LB-08, MG-12, ...)."""

    code = "RULE"

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule


class Unavailable(DomainError):
    """Storage could not be written (LB-13); safe to retry."""

    code = "UNAVAILABLE"


class PluginFailure(DomainError):
    """A plugin raised while deciding; the operation is refused whole (PL-03)."""

    code = "UNAVAILABLE"

    def __init__(self, plugin: str, message: str) -> None:
        super().__init__(message)
        self.plugin = plugin


class Unauthenticated(DomainError):
    """No token, a bad signature, or an expired token."""

    code = "UNAUTHENTICATED"


class Undelivered(Exception):
    """An outbox notification was not delivered: a plugin's `notify` failed; retried later."""

    def __init__(self, plugins: list[str], message: str) -> None:
        super().__init__(message)
        self.plugins = plugins
        self.message = message
