"""`loyalty token`: a signed bearer token, and the secret every token command needs."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

import typer

from gateway.auth import issue
from gateway.cli.exits import CommandError
from gateway.settings import Settings
from loyalty.access import Role


def require_secret(settings: Settings, command: str) -> str:
    """LOYALTY_JWT_SECRET, or a CommandError that says how to set it."""
    if not settings.jwt_secret:
        raise CommandError(
            f"LOYALTY_JWT_SECRET is not set; `loyalty {command}` needs the secret that signs tokens.\n"
            "  Set it, e.g.: export LOYALTY_JWT_SECRET="
            "$(python -c 'import secrets; print(secrets.token_urlsafe(32))')\n"
            "  (or try `loyalty demo`, which makes one up for its session)"
        )
    return settings.jwt_secret


def make_token(
    secret: str,
    role: Role,
    sub: str,
    *,
    partner: str | None = None,
    email: str | None = None,
    email_verified: bool = False,
    phone: str | None = None,
    phone_verified: bool = False,
    ttl: timedelta = timedelta(hours=12),
) -> str:
    """A token with the contract's claims; only the claims given are set."""
    if role is Role.PARTNER and not partner:
        raise CommandError("a partner token needs --partner (the program owner's id in plugins.toml)")
    if ttl <= timedelta(0):
        raise CommandError("--ttl-hours must be positive")
    claims: dict[str, Any] = {}
    if partner:
        claims["partner"] = partner
    if email:
        claims["email"] = email
        claims["email_verified"] = email_verified
    if phone:
        claims["phone_number"] = phone
        claims["phone_number_verified"] = phone_verified
    return issue(secret, role=role, sub=sub, ttl=ttl, **claims)


def token(
    role: Annotated[Role, typer.Option(help="the caller's role", case_sensitive=False)],
    sub: Annotated[str, typer.Option(help="customer id (participant) or client name")],
    partner: Annotated[str | None, typer.Option(help="partner id (required for --role partner)")] = None,
    email: Annotated[str | None, typer.Option(help="e-mail address (the email claim)")] = None,
    email_verified: Annotated[bool, typer.Option("--email-verified", help="the e-mail is verified")] = False,
    phone: Annotated[str | None, typer.Option(help="phone number (the phone_number claim)")] = None,
    phone_verified: Annotated[bool, typer.Option("--phone-verified", help="the phone is verified")] = False,
    ttl_hours: Annotated[float, typer.Option(help="lifetime in hours")] = 12.0,
) -> None:
    """Print a signed token (needs LOYALTY_JWT_SECRET).

    An HS256 token signed with LOYALTY_JWT_SECRET, with the claims of the client
    contract (contract/README.md, Tokens). Only the token goes to stdout, so
    TOKEN=$(loyalty token ...) works.
    """
    secret = require_secret(Settings(), "token")
    print(
        make_token(
            secret,
            role,
            sub,
            partner=partner,
            email=email,
            email_verified=email_verified,
            phone=phone,
            phone_verified=phone_verified,
            ttl=timedelta(hours=ttl_hours),
        )
    )
