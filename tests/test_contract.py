"""The gateway's trusted documents (schema/documents) and the client contract they copy.

The registry's own checks need nothing beside this checkout. The cross-check against
../shared/contract (same operations, same text, no breaking change) runs where it is
present and is skipped with a reason where it is not.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from graphql import build_schema, find_breaking_changes, parse, print_ast

from schema import schema
from schema.export import TARGET, sdl
from schema.registry import CLIENTS, DOCUMENTS, DocumentRegistry, sha256_of
from tests.gql import registry

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
CONTRACT = SHARED / "contract"

needs_contract = pytest.mark.skipif(
    not (CONTRACT / "schema.graphql").exists(),
    reason="no ../shared/contract beside this checkout: the cross-check of schema/documents against the client contract needs it",
)

# The contract operations the gateway serves; each issue adds its own.
BUILT = {
    "Programs",
    "JoinProgram",
    "Wallets",
    "BonusHistory",
    "QuoteRedemption",
    "UpdateProfile",
    "SetMarketingConsent",
    "RequestErasure",
    "UpsertEvent",
    "QuoteForParticipant",
    "RecordOrder",
    "PayOrder",
    "CancelOrder",
    "RefundItems",
    "Order",
    "Participant",
    "AdjustBonus",
    "BlockParticipant",
    "UnblockParticipant",
    # Issue 3: plugins, MGT+, TKT.GE.
    "IssuePromoCodes",
    "CheckPromoCode",
    "SetTier",
    "PartnerReport",
    # Issue 4: gift campaigns.
    "PreviewAudience",
    "CreateGiftCampaign",
    "LaunchCampaign",
    "PauseCampaign",
    "ResumeCampaign",
    "CancelCampaign",
    "Campaign",
    "Campaigns",
    # Issue 8: referrals.
    "MyReferral",
    "ReferralLanding",
    "ReferralsForReview",
    "ReviewReferral",
}


# Trusted documents the current schema cannot run: none since the referral issue (8).
NOT_SERVED: set[str] = set()

# What find_breaking_changes(contract, gateway) finds: nothing (the referral types are built).
KNOWN_BREAKING: set[str] = set()


def test_built_operations_are_served_by_the_registry():
    served = {name for name, operation in registry().items() if operation.served}
    assert served >= BUILT, f"not served: {BUILT - served}"


def test_exactly_the_known_operations_are_not_served_yet():
    assert set(registry().not_served) == NOT_SERVED
    for errors in registry().not_served.values():
        assert errors and all("Cannot query field" in error.message for error in errors)


def test_each_operation_is_held_by_name_and_by_the_sha256_of_its_text():
    held = registry()
    assert {op.client for op in held.values()} == set(CLIENTS)
    for name, operation in held.items():
        assert operation.sha256 == sha256_of(operation.text)
        assert print_ast(operation.document) == operation.text
        assert [d.name.value for d in operation.document.definitions] == [name]  # type: ignore[attr-defined]
        expected = operation if operation.served else None
        assert held.served(name) is expected
        assert held.by_sha256(operation.sha256) is expected
        assert held.by_sha256(operation.sha256.upper()) is expected


def test_an_operation_carries_the_fragments_it_uses(tmp_path):
    for client in CLIENTS:
        (tmp_path / f"{client}.graphql").write_text("")
    (tmp_path / "mobile.graphql").write_text(
        "query Mine { me { ...Who } }\n"
        "fragment Who on Participant { id ...More }\n"
        "fragment More on Participant { status }\n"
        "fragment Unused on Participant { displayName }\n"
        "query Other { programs { id } }\n"
    )
    held = DocumentRegistry.load(schema._schema, folder=tmp_path)
    assert [d.name.value for d in held["Mine"].document.definitions] == ["Mine", "Who", "More"]  # type: ignore[attr-defined]
    assert held["Mine"].served and held["Other"].served
    assert [d.name.value for d in held["Other"].document.definitions] == ["Other"]  # type: ignore[attr-defined]


def test_an_operation_name_used_twice_stops_the_load(tmp_path):
    for client in CLIENTS:
        (tmp_path / f"{client}.graphql").write_text(
            "query Same { programs { id } }" if client in ("mobile", "staff") else ""
        )
    with pytest.raises(ValueError, match=r"Same is in both mobile\.graphql and staff\.graphql"):
        DocumentRegistry.load(schema._schema, folder=tmp_path)


def contract_operations() -> dict[str, tuple[str, str]]:
    """Each operation of the contract's documents: (client, normalised text)."""
    found = {}
    for path in sorted(CONTRACT.glob("*.graphql")):
        if path.name == "schema.graphql":
            continue
        for definition in parse(path.read_text()).definitions:
            found[definition.name.value] = (path.stem, print_ast(definition))  # type: ignore[attr-defined]
    return found


@needs_contract
def test_the_registry_holds_every_contract_operation_with_the_same_text():
    contract = contract_operations()
    ours = {name: (op.client, print_ast(parse(op.text))) for name, op in registry().items()}
    assert sorted(ours) == sorted(contract)
    for name, expected in contract.items():
        assert ours[name] == expected, name
    assert sorted(p.stem for p in DOCUMENTS.glob("*.graphql")) == sorted(
        p.stem for p in CONTRACT.glob("*.graphql") if p.name != "schema.graphql"
    )


@needs_contract
def test_the_contract_schema_finds_only_the_known_breaking_changes():
    contract = build_schema((CONTRACT / "schema.graphql").read_text())
    found = {change.description for change in find_breaking_changes(contract, schema._schema)}
    assert found == KNOWN_BREAKING


def test_the_committed_sdl_export_is_current():
    assert TARGET.exists(), "schema.graphql is missing: run `python -m schema.export`"
    assert TARGET.read_text() == sdl(), "schema.graphql is stale: run `python -m schema.export`"


@pytest.mark.skipif(
    not (SHARED / "tools" / "check_contract.py").exists(),
    reason="no ../shared/tools beside this checkout: the contract tool's own check needs it",
)
def test_check_contract_tool_runs_on_the_exported_schema():
    # The shared tool's two checks over the whole contract; operations not built yet are
    # reported by it, so here only its own success on the BUILT set is asserted above.
    result = subprocess.run(
        [sys.executable, str(SHARED / "tools" / "check_contract.py"), str(TARGET)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert "contract:" in result.stdout
    for name in BUILT:
        assert f": {name}:" not in result.stdout, result.stdout
