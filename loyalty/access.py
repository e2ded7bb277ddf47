"""Who calls and what their role lets them do (contract/README.md, Tokens)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from loyalty.errors import Forbidden, Unauthenticated
from loyalty.participants import Identity
from loyalty.programs import Catalog


class Role(StrEnum):
    PARTICIPANT = "participant"
    TICKETING = "ticketing"
    MARKETER = "marketer"
    PARTNER = "partner"
    ADMIN = "admin"


@dataclass(frozen=True)
class Caller:
    """The token's subject, role, partner id (role partner) and verified contacts."""

    sub: str
    role: Role
    partner: str | None = None
    identity: Identity | None = None


def require(caller: Caller | None, *roles: Role) -> Caller:
    """The caller, if their role is one of `roles`; UNAUTHENTICATED or FORBIDDEN otherwise."""
    if caller is None:
        raise Unauthenticated("a valid token is required")
    if caller.role not in roles:
        raise Forbidden(f"role {caller.role.value} may not do this")
    return caller


def require_program_staff(caller: Caller | None, catalog: Catalog, program_id: str | None) -> Caller:
    """The caller, if admin (any program) or a partner owning the program; program None: admin only."""
    who = require(caller, Role.ADMIN, Role.PARTNER)
    program = catalog.get(program_id) if program_id is not None else None
    if who.role is Role.PARTNER:
        if program is None:
            raise Forbidden("only an admin acts on every program at once")
        if program.owner is None or program.owner != who.partner:
            raise Forbidden(f"partner {who.partner!r} does not own program {program.id!r}")
    return who


def visible_programs(caller: Caller, catalog: Catalog) -> set[str] | None:
    """Programs whose wallets the caller may see: None for all (admin), owned ones for a partner."""
    if caller.role is Role.PARTNER:
        return {program.id for program in catalog if program.owner and program.owner == caller.partner}
    return None
