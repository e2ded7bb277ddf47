"""Schemathesis against a live gateway: no input may end in INTERNAL or a 5xx.

    LOYALTY_JWT_SECRET=... python .ci/fuzz_graphql.py http://127.0.0.1:8765/graphql [--seconds 75]

Generates GraphQL operations from the gateway's introspected schema for a bounded time
(`--seconds`, or LOYALTY_FUZZ_SECONDS, default 75), each sent with a token of the role
its field's description names (admin where it names none), signed with LOYALTY_JWT_SECRET. Refusals
(BAD_INPUT, NOT_FOUND, FORBIDDEN, RULE, ...) are the gateway doing its job. The stock
GraphQL checks count every error as a failure, so the one check here fails only on a
5xx answer or an error whose extensions.code is INTERNAL. Prints the cases sent and the
INTERNAL and 5xx counts; exits 1 when either is not zero.

The gateway must have introspection on (`loyalty demo` has).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import contextlib

import schemathesis
from hypothesis import strategies as st
from schemathesis.cli import schemathesis as cli

from gateway.cli.tokens import make_token
from loyalty.access import Role

# Strings and ids: short ones, the demo's ids (so lookups find something), and long ones,
# which no column holds: every one must come back BAD_INPUT, never INTERNAL.
KNOWN_IDS = ("live-brighter", "demo-alice", "demo-bob", "demo-carol", "demo-theatre", "demo-1002", "1", "TICKET")
TEXT = st.one_of(
    st.text(max_size=24),
    st.sampled_from(KNOWN_IDS),
    st.text(min_size=60, max_size=700),
)
for name in ("String", "ID"):
    schemathesis.graphql.scalar(name, TEXT.map(schemathesis.graphql.nodes.String))

# Decimal travels as a string: numbers of any size and precision, and some that are not numbers.
schemathesis.graphql.scalar(
    "Decimal",
    st.one_of(
        st.decimals(allow_nan=False, allow_infinity=False).map(str),
        st.integers().map(str),
        st.text(max_size=12),
    ).map(schemathesis.graphql.nodes.String),
)

ROLE = re.compile(r"Role (participant|ticketing|marketer|admin|partner)")
PARTICIPANT = "fuzz-participant"


class Tally:
    """What the run saw, across schemathesis' worker threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.cases = 0
        self.internal = 0
        self.server_errors = 0
        self.examples: list[str] = []

    def saw(self, *, internal: int, server_error: bool, example: str | None) -> None:
        with self.lock:
            self.cases += 1
            self.internal += internal
            self.server_errors += int(server_error)
            if example and len(self.examples) < 5:
                self.examples.append(example)


TALLY = Tally()
TOKENS: dict[str, str] = {}  # by operation label ("Mutation.recordOrder"): the role its description names


def tokens(secret: str) -> dict[str, str]:
    """A token for each operation: the role its description names (admin where it names none)."""
    from schema import schema

    by_role = {
        role: make_token(secret, role, f"fuzz-{role.value}", partner="fuzz-partner" if role is Role.PARTNER else None)
        for role in Role
    }
    by_role[Role.PARTICIPANT] = make_token(
        secret, Role.PARTICIPANT, PARTICIPANT, email=f"{PARTICIPANT}@example.com", email_verified=True
    )
    operations: dict[str, str] = {}
    for root in (schema._schema.query_type, schema._schema.mutation_type):
        assert root is not None
        for name, field in root.fields.items():
            named = ROLE.search(field.description or "")
            role = Role(named.group(1)) if named else (Role.PARTICIPANT if name == "me" else Role.ADMIN)
            operations[f"{root.name}.{name}"] = by_role[role]
    return operations


@schemathesis.hook
def before_call(context, case, kwargs):  # type: ignore[no-untyped-def]
    token = TOKENS.get(case.operation.label) or TOKENS["Query.me"]
    case.headers = {**(case.headers or {}), "Authorization": f"Bearer {token}"}


@schemathesis.check
def no_internal_errors(ctx, response, case):  # type: ignore[no-untyped-def]
    """Fails on a 5xx, or on an error coded INTERNAL; any other refusal is fine."""
    server_error = response.status_code >= 500
    internal = 0
    try:
        body = json.loads(response.content or b"null")
    except ValueError:
        body = None
    errors = body.get("errors") if isinstance(body, dict) else None
    for error in errors or []:
        code = (error.get("extensions") or {}).get("code") if isinstance(error, dict) else None
        if code == "INTERNAL" or code is None:
            internal += 1
    example = f"{response.status_code} {response.content[:300]!r}" if internal or server_error else None
    TALLY.saw(internal=internal, server_error=server_error, example=example)
    if server_error:
        raise AssertionError(f"server error {response.status_code}")
    if internal:
        raise AssertionError(f"{internal} error(s) coded INTERNAL (or with no code): {response.content[:300]!r}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("url")
    parser.add_argument("--seconds", type=int, default=int(os.environ.get("LOYALTY_FUZZ_SECONDS", "75")))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()
    secret = os.environ.get("LOYALTY_JWT_SECRET")
    if not secret:
        parser.error("LOYALTY_JWT_SECRET must be the gateway's token secret")
    TOKENS.update(tokens(secret))
    argv = [
        "run",
        args.url,
        "--checks",
        "no_internal_errors",
        "--max-time",
        str(args.seconds),
        "--workers",
        str(args.workers),
        "--continue-on-failure",
        "--max-examples",
        "1000000",
        "--request-timeout",
        "30",
        "--suppress-health-check",
        "all",
    ]
    if args.seed is not None:
        argv += ["--seed", str(args.seed)]
    with contextlib.suppress(SystemExit):
        cli.main(argv, standalone_mode=False)
    print(
        f"graphql fuzz: {TALLY.cases} cases, {TALLY.internal} INTERNAL errors, "
        f"{TALLY.server_errors} 5xx answers in {args.seconds} s"
    )
    for example in TALLY.examples:
        print(f"  e.g. {example}")
    return 1 if TALLY.internal or TALLY.server_errors else 0


if __name__ == "__main__":
    sys.exit(main())
