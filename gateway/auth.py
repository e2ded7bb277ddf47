"""Bearer tokens: HS256 JWTs with a role and OIDC contact claims (contract/README.md, Tokens).

A token is read exactly as the contract says or refused whole (UNAUTHENTICATED): every
claim has its JSON type (a string "false" is no boolean, LB-01), `exp` is a number, the
role is one the gateway knows; where settings name an issuer and an audience, the token
must carry them.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

from loyalty.access import Caller, Role
from loyalty.errors import Unauthenticated
from loyalty.participants import Identity

ALGORITHM = "HS256"

# The JSON type each claim must have where present (booleans are no numbers here).
NUMBER_CLAIMS = ("exp", "iat", "nbf")
STRING_CLAIMS = ("sub", "role", "partner", "email", "phone_number", "iss")
BOOLEAN_CLAIMS = ("email_verified", "phone_number_verified")


def caller_from_header(
    header: str | None, secret: str, *, issuer: str | None = None, audience: str | None = None
) -> Caller | None:
    """The caller an Authorization header names; None without one; UNAUTHENTICATED when bad."""
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthenticated("the Authorization header must be 'Bearer <token>'")
    return caller_from_token(token.strip(), secret, issuer=issuer, audience=audience)


def caller_from_token(token: str, secret: str, *, issuer: str | None = None, audience: str | None = None) -> Caller:
    """Verify a token (signature, HS256 only, exp, issuer and audience where set) and read its claims."""
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            issuer=issuer,
            audience=audience,
            options={"require": ["exp", "sub", "role", *(["iss"] if issuer else []), *(["aud"] if audience else [])]},
            leeway=5,
        )
    except jwt.ExpiredSignatureError:
        raise Unauthenticated("the token has expired") from None
    except jwt.InvalidAudienceError as error:
        expected = f"audience {audience!r}" if audience else "no audience (LOYALTY_JWT_AUDIENCE is unset)"
        raise Unauthenticated(f"the token is not valid: {error}; the gateway expects {expected}") from None
    except jwt.InvalidTokenError as error:
        raise Unauthenticated(f"the token is not valid: {error}") from None
    _check_types(claims)
    try:
        role = Role(claims["role"])
    except ValueError:
        raise Unauthenticated(f"unknown role {claims['role']!r}") from None
    sub = claims["sub"]
    partner = claims.get("partner")
    if role is Role.PARTNER and not partner:
        raise Unauthenticated("a partner token needs a partner claim")
    identity = None
    if role is Role.PARTICIPANT:
        identity = Identity(
            customer_id=sub,
            email=claims.get("email"),
            email_verified=claims.get("email_verified", False),
            phone=claims.get("phone_number"),
            phone_verified=claims.get("phone_number_verified", False),
        )
    return Caller(sub=sub, role=role, partner=partner, identity=identity)


def _check_types(claims: Mapping[str, Any]) -> None:
    """UNAUTHENTICATED unless every known claim present has its JSON type (and ids are not empty)."""
    for name in NUMBER_CLAIMS:
        if name in claims and (isinstance(claims[name], bool) or not isinstance(claims[name], int | float)):
            raise Unauthenticated(f"the token is not valid: claim {name!r} must be a number")
    for name in STRING_CLAIMS:
        if name in claims and not isinstance(claims[name], str):
            raise Unauthenticated(f"the token is not valid: claim {name!r} must be a string")
    for name in BOOLEAN_CLAIMS:
        if name in claims and not isinstance(claims[name], bool):
            raise Unauthenticated(f"the token is not valid: claim {name!r} must be true or false")
    for name in ("sub", "partner"):
        if name in claims and not claims[name].strip():
            raise Unauthenticated(f"the token is not valid: claim {name!r} is empty")


def issue(secret: str, *, role: Role, sub: str, ttl: timedelta = timedelta(hours=12), **claims: Any) -> str:
    """A signed token (for `loyalty token`, the demo and tests)."""
    # Tokens live in real time (PyJWT checks exp against the system clock), not the domain's clock.
    issued = datetime.now(UTC)
    payload = {"sub": sub, "role": role.value, "exp": issued + ttl, "iat": issued, **claims}
    return jwt.encode(payload, secret, algorithm=ALGORITHM)
