"""Bearer tokens: HS256 JWTs with a role and OIDC contact claims (contract/README.md, Tokens)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

from loyalty.access import Caller, Role
from loyalty.errors import Unauthenticated
from loyalty.participants import Identity

ALGORITHM = "HS256"


def caller_from_header(header: str | None, secret: str) -> Caller | None:
    """The caller an Authorization header names; None without one; UNAUTHENTICATED when bad."""
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthenticated("the Authorization header must be 'Bearer <token>'")
    return caller_from_token(token.strip(), secret)


def caller_from_token(token: str, secret: str) -> Caller:
    """Verify a token and read its claims."""
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            options={"require": ["exp", "sub", "role"]},
            leeway=5,
        )
    except jwt.ExpiredSignatureError:
        raise Unauthenticated("the token has expired") from None
    except jwt.InvalidTokenError as error:
        raise Unauthenticated(f"the token is not valid: {error}") from None
    try:
        role = Role(claims["role"])
    except ValueError:
        raise Unauthenticated(f"unknown role {claims['role']!r}") from None
    sub = str(claims["sub"])
    if role is Role.PARTNER and not claims.get("partner"):
        raise Unauthenticated("a partner token needs a partner claim")
    identity = None
    if role is Role.PARTICIPANT:
        identity = Identity(
            customer_id=sub,
            email=claims.get("email"),
            email_verified=bool(claims.get("email_verified", False)),
            phone=claims.get("phone_number"),
            phone_verified=bool(claims.get("phone_number_verified", False)),
        )
    return Caller(sub=sub, role=role, partner=claims.get("partner"), identity=identity)


def issue(secret: str, *, role: Role, sub: str, ttl: timedelta = timedelta(hours=12), **claims: Any) -> str:
    """A signed token (for `loyalty token`, the demo and tests)."""
    # Tokens live in real time (PyJWT checks exp against the system clock), not the domain's clock.
    issued = datetime.now(UTC)
    payload = {"sub": sub, "role": role.value, "exp": issued + ttl, "iat": issued, **claims}
    return jwt.encode(payload, secret, algorithm=ALGORITHM)
