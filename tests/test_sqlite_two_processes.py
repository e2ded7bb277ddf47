"""SQLite with a worker beside it: two processes writing one file (WAL, busy timeout,
BEGIN IMMEDIATE in gateway.sqlite). A deferred transaction that read first fails its
first write with "database is locked" when the other process committed in between."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, postgres_url

pytestmark = pytest.mark.skipif(postgres_url() is not None, reason="an SQLite file's concurrency")

WRITES = 80  # per process and wallet


def _run(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.sqlite_writer", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _result(process: subprocess.Popen[str]) -> dict[str, Any]:
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1])


def test_two_processes_write_one_sqlite_file_without_database_is_locked(tmp_path: Path) -> None:
    url = f"sqlite://{tmp_path / 'shared.sqlite3'}"
    setup = _run("setup", url)
    _, err = setup.communicate(timeout=60)
    assert setup.returncode == 0, err

    writers = [_run("write", url, name, str(WRITES)) for name in ("gateway", "worker")]
    results = [_result(writer) for writer in writers]

    errors = [error for result in results for error in result["errors"]]
    assert errors == [], f"{len(errors)} failed writes, e.g. {errors[:3]}"
    assert [result["written"] for result in results] == [2 * WRITES, 2 * WRITES]
    # Every adjustment is one entry, and the ledger invariants hold in the shared file.
    check = _run("check", url)
    assert _result(check) == {"entries": 4 * WRITES}
