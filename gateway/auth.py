"""Bearer tokens: HS256 JWTs with a role and OIDC contact claims (contract/README.md, Tokens).

A token is read exactly as the contract says or refused whole (UNAUTHENTICATED): every
claim has its JSON type (a string "false" is no boolean, LB-01), `exp` is a number, the
role is one the gateway knows; where settings name an issuer and an audience, the token
must carry them.

A token verified once is remembered (`VerifiedTokens`: the last 10,000, by the token's
text and the settings it was checked with) until its `exp` passes, so a client's
requests after the first skip the signature check and the claims' reading. Only what
the token says is remembered: who the participant is now (blocked, erased) is read from
the database on every request, as before.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

from loyalty.access import Caller, Role
from loyalty.errors import Unauthenticated
from loyalty.participants import Identity

ALGORITHM = "HS256"
LEEWAY_SECONDS = 5

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


class VerifiedTokens:
    """The callers of tokens verified lately, each until its exp (with PyJWT's leeway) passes.

    Bounded: past `size` tokens the least recently used is forgotten. Keyed by the token
    and the secret, issuer and audience it was verified with. A refused token is never
    remembered, so it is refused again, with the same words, every time.
    """

    def __init__(self, size: int = 10_000) -> None:
        self.size = size
        self._found: OrderedDict[tuple[str, str, str | None, str | None], tuple[Caller, float]] = OrderedDict()

    def get(self, key: tuple[str, str, str | None, str | None]) -> Caller | None:
        found = self._found.get(key)
        if found is None:
            return None
        caller, expires = found
        # PyJWT refuses once exp <= now - leeway.
        if expires <= time.time() - LEEWAY_SECONDS:
            del self._found[key]
            return None
        self._found.move_to_end(key)
        return caller

    def put(self, key: tuple[str, str, str | None, str | None], caller: Caller, expires: float) -> None:
        self._found[key] = (caller, expires)
        self._found.move_to_end(key)
        while len(self._found) > self.size:
            self._found.popitem(last=False)

    def clear(self) -> None:
        self._found.clear()


VERIFIED = VerifiedTokens()


def caller_from_token(token: str, secret: str, *, issuer: str | None = None, audience: str | None = None) -> Caller:
    """Verify a token (signature, HS256 only, exp, issuer and audience where set) and read its claims.

    A token verified before and not expired since is answered from `VERIFIED`.
    """
    key = (token, secret, issuer, audience)
    known = VERIFIED.get(key)
    if known is not None:
        return known
    caller, expires = _verify(token, secret, issuer=issuer, audience=audience)
    VERIFIED.put(key, caller, expires)
    return caller


def _verify(token: str, secret: str, *, issuer: str | None, audience: str | None) -> tuple[Caller, float]:
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            issuer=issuer,
            audience=audience,
            options={"require": ["exp", "sub", "role", *(["iss"] if issuer else []), *(["aud"] if audience else [])]},
            leeway=LEEWAY_SECONDS,
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
    return Caller(sub=sub, role=role, partner=partner, identity=identity), float(int(claims["exp"]))


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
