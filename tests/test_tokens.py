"""Bearer tokens (contract/README.md, Tokens): claims with their JSON types, or UNAUTHENTICATED.

A token the gateway cannot read exactly as the contract says is refused whole: a
string "false" is not a boolean (LB-01 would read it as a verified contact), an `exp`
that is not a number is no expiry, `alg: none` is no signature.
"""

from __future__ import annotations

import json
import time
from typing import Any

import jwt
import pytest

from loyalty.models import Participant, Wallet
from tests.gql import SECRET, Client, error_code, participant_token, token

PROGRAM = "live-brighter"
LATER = int(time.time()) + 3600
JOIN = {"input": {"programId": PROGRAM, "acceptRules": True, "personalDataConsent": True, "marketingConsent": False}}
WHO_AM_I = "{ me { id status } }"
STAFF_LOOKUP = '{ participant(id: "ann") { id } }'


@pytest.fixture
async def gql():
    client = Client()
    yield client
    await client.http.aclose()


def signed(payload: dict[str, Any], secret: str = SECRET, algorithm: str = "HS256") -> str:
    """A token with exactly these claims, as given: no defaults added, no types checked."""
    return jwt.api_jws.encode(json.dumps(payload).encode(), secret, algorithm=algorithm)


def unauthenticated(answer: dict[str, Any]) -> bool:
    """Refused as UNAUTHENTICATED, and no data in the answer (a nullable field's null)."""
    data = answer.get("data") or {}
    return error_code(answer) == "UNAUTHENTICATED" and all(value is None for value in data.values())


def participant(**claims: Any) -> dict[str, Any]:
    return {"sub": "ann", "role": "participant", "exp": LATER, **claims}


# ---------------------------------------------------------------- LB-01: verified contacts are booleans


@pytest.mark.parametrize(
    "contact",
    [
        {"email": "ann@example.com", "email_verified": "false"},
        {"phone_number": "+77010000001", "phone_number_verified": "false"},
    ],
    ids=["email", "phone"],
)
async def test_lb01_string_false_does_not_verify(gql, contact):
    joined = await gql.op("JoinProgram", JOIN, signed(participant(**contact)))
    assert unauthenticated(joined), joined
    assert "verified" in joined["errors"][0]["message"]
    assert (await Participant.all().count(), await Wallet.all().count()) == (0, 0)


async def test_lb01_boolean_true_verifies_and_false_leaves_the_wallet_pending(gql):
    pending = await gql.op("JoinProgram", JOIN, participant_token("bob", verified=False))
    assert pending["data"]["joinProgram"]["wallet"]["status"] == "PENDING"
    active = await gql.op("JoinProgram", JOIN, participant_token("ann", verified=True))
    assert active["data"]["joinProgram"]["wallet"]["status"] == "ACTIVE"


@pytest.mark.parametrize(
    "claims",
    [
        {"email": "ann@example.com", "email_verified": "true"},
        {"email": "ann@example.com", "email_verified": 1},
        {"email": "ann@example.com", "email_verified": None},
        {"phone_number": "+77010000001", "phone_number_verified": "true"},
        {"phone_number": "+77010000001", "phone_number_verified": 0},
        {"email": 42, "email_verified": True},
        {"email": ["ann@example.com"], "email_verified": True},
        {"phone_number": 77010000001, "phone_number_verified": True},
        {"exp": str(LATER)},
        {"exp": True},
        {"exp": None},
        {"iat": "now"},
        {"nbf": str(LATER - 7200)},
        {"sub": 42},
        {"sub": ""},
        {"role": ["participant"]},
        {"role": {"name": "participant"}},
        {"role": "Participant"},
    ],
    ids=lambda claims: ",".join(f"{k}={v!r}" for k, v in claims.items()),
)
async def test_lb01_claims_of_the_wrong_json_type_are_unauthenticated(gql, claims):
    answer = await gql(WHO_AM_I, token=signed(participant(**claims)))
    assert unauthenticated(answer), answer
    assert await Participant.all().count() == 0


@pytest.mark.parametrize("partner", [42, "", ["ticketon"], None])
async def test_partner_claim_must_be_a_partner_id(gql, partner):
    claims = {"sub": "x", "role": "partner", "exp": LATER, "partner": partner}
    assert unauthenticated(await gql(STAFF_LOOKUP, token=signed(claims)))


# ---------------------------------------------------------------- signature, expiry, role


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")  # HS512 with the HS256 secret
async def test_alg_none_is_unauthenticated(gql):
    unsigned = jwt.encode({"sub": "ann", "role": "admin", "exp": LATER}, None, algorithm="none")
    assert unsigned.endswith(".")  # header.payload. with no signature
    assert error_code(await gql(STAFF_LOOKUP, token=unsigned)) == "UNAUTHENTICATED"
    # The same claims signed with the secret under another algorithm than HS256: refused too
    other = signed({"sub": "ann", "role": "admin", "exp": LATER}, algorithm="HS512")
    assert error_code(await gql(STAFF_LOOKUP, token=other)) == "UNAUTHENTICATED"


async def test_a_token_without_exp_is_unauthenticated(gql):
    forever = signed({"sub": "ann", "role": "admin"})
    answer = await gql(STAFF_LOOKUP, token=forever)
    assert error_code(answer) == "UNAUTHENTICATED"
    assert "exp" in answer["errors"][0]["message"]


async def test_a_token_without_role_or_sub_is_unauthenticated(gql):
    assert error_code(await gql(STAFF_LOOKUP, token=signed({"sub": "ann", "exp": LATER}))) == "UNAUTHENTICATED"
    assert error_code(await gql(STAFF_LOOKUP, token=signed({"role": "admin", "exp": LATER}))) == "UNAUTHENTICATED"


@pytest.mark.parametrize("role", ["superuser", "root", "support", ""])
async def test_a_token_for_an_unknown_role_is_unauthenticated(gql, role):
    answer = await gql(STAFF_LOOKUP, token=signed({"sub": "ann", "role": role, "exp": LATER}))
    assert unauthenticated(answer), answer


async def test_a_valid_admin_token_reads(gql):
    answer = await gql(STAFF_LOOKUP, token=token("admin", "support"))
    assert answer == {"data": {"participant": None}}


# ---------------------------------------------------------------- issuer and audience


ISSUER = "https://id.example.com"
AUDIENCE = "loyalty-gateway"


@pytest.fixture
async def checked():
    client = Client(settings={"LOYALTY_JWT_ISSUER": ISSUER, "LOYALTY_JWT_AUDIENCE": AUDIENCE})
    yield client
    await client.http.aclose()


@pytest.mark.parametrize(
    "claims",
    [
        {},
        {"iss": ISSUER},
        {"aud": AUDIENCE},
        {"iss": "https://evil.example.com", "aud": AUDIENCE},
        {"iss": ISSUER, "aud": "another-service"},
        {"iss": ISSUER, "aud": ["another-service"]},
        {"iss": [ISSUER], "aud": AUDIENCE},
    ],
    ids=lambda claims: ",".join(f"{k}={v!r}" for k, v in claims.items()) or "neither",
)
async def test_configured_issuer_and_audience_are_required(checked, claims):
    answer = await checked(STAFF_LOOKUP, token=signed({"sub": "s", "role": "admin", "exp": LATER, **claims}))
    assert error_code(answer) == "UNAUTHENTICATED", answer


@pytest.mark.parametrize("audience", [AUDIENCE, [AUDIENCE], ["another-service", AUDIENCE]])
async def test_the_configured_issuer_and_audience_are_accepted(checked, audience):
    claims = {"sub": "s", "role": "admin", "exp": LATER, "iss": ISSUER, "aud": audience}
    assert await checked(STAFF_LOOKUP, token=signed(claims)) == {"data": {"participant": None}}


async def test_without_configured_issuer_any_issuer_and_no_audience_is_accepted(gql):
    claims = {"sub": "s", "role": "admin", "exp": LATER, "iss": "https://whoever.example.com"}
    assert await gql(STAFF_LOOKUP, token=signed(claims)) == {"data": {"participant": None}}
    # A token made for some audience is not made for a gateway that names none
    assert error_code(await gql(STAFF_LOOKUP, token=signed({**claims, "aud": AUDIENCE}))) == "UNAUTHENTICATED"
