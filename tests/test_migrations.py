"""The checked-in migrations (loyalty/migrations) match the models.

Tortoise's own autodetector (what `tortoise -c gateway.db.TORTOISE_ORM makemigrations`
runs) compares the state the migrations build with the models; it must find nothing
to write. It runs in a subprocess on a fresh temporary SQLite file, so it never touches
the test session's ORM.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.conftest import ROOT

DETECT = textwrap.dedent(
    """
    import asyncio, json, sys, tempfile

    from tortoise.context import TortoiseContext
    from tortoise.migrations.autodetector import MigrationAutodetector

    from gateway import db

    async def detect(migrations):
        with tempfile.TemporaryDirectory() as folder:
            config = db.tortoise_config(f"sqlite://{folder}/detect.sqlite3")
            config["apps"][db.APP]["migrations"] = migrations
            async with TortoiseContext() as ctx:
                await ctx.init(config=config)
                writers = await MigrationAutodetector(ctx.apps, config["apps"]).changes()
        return [
            {"name": w.name, "operations": [op.describe() for op in w.operations]} for w in writers
        ]

    print(json.dumps(asyncio.run(detect(sys.argv[1]))))
    """
)


def detect_changes(migrations_module: str, tmp_path: Path | None = None) -> list[dict]:
    env_path = [str(ROOT)] + ([str(tmp_path)] if tmp_path else [])
    result = subprocess.run(
        [sys.executable, "-c", DETECT, migrations_module],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(env_path)},
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_checked_in_migrations_match_the_models():
    changes = detect_changes("loyalty.migrations")
    assert changes == [], (
        "the models changed without a migration; run "
        "`tortoise -c gateway.db.TORTOISE_ORM makemigrations` and check the file in:\n" + json.dumps(changes, indent=2)
    )


def test_the_detector_sees_models_without_migrations(tmp_path):
    """Guards the test above from passing vacuously: with no migrations, every model is new."""
    (tmp_path / "no_migrations_yet").mkdir()
    (tmp_path / "no_migrations_yet" / "__init__.py").write_text("")
    changes = detect_changes("no_migrations_yet", tmp_path)
    described = " ".join(op for change in changes for op in change["operations"])
    for model in ("Participant", "Wallet", "Lot", "Entry", "Order"):
        assert model in described, described
