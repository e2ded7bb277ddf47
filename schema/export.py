"""Writes the schema's SDL to schema.graphql at the repository root.

python -m schema.export            # write it
python -m schema.export --check    # exit 1 when the committed file is stale
"""

from __future__ import annotations

import sys
from pathlib import Path

from schema import schema

TARGET = Path(__file__).resolve().parent.parent / "schema.graphql"


def sdl() -> str:
    """The schema as SDL, ending in one newline."""
    return schema.as_str().rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if "--check" in args:
        if not TARGET.exists() or TARGET.read_text() != sdl():
            print(f"{TARGET.name} is stale: run `python -m schema.export`")
            return 1
        return 0
    TARGET.write_text(sdl())
    print(f"wrote {TARGET}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
