"""The gateway the console's browser tests drive: `create_app` under real uvicorn, jobs in-process.

`python -m tests.console_gateway PORT` (settings from the environment). The only change
to the app is pace: each campaign batch waits `CONSOLE_TEST_BATCH_SECONDS` before it
runs, like a busy worker, so that a browser can see a campaign running and pause it.
The queue, the jobs and the database are the real ones.
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

import uvicorn

from gateway.app import create_app
from gateway.settings import Settings


def paced_app(seconds: float) -> Any:
    """The gateway with each grant_batch job started `seconds` late."""
    app = create_app(Settings())
    queue = app.state.queue
    grant = queue.functions["grant_batch"]

    async def paced(ctx: dict[str, Any], *args: Any) -> Any:
        await asyncio.sleep(seconds)
        return await grant(ctx, *args)

    queue.functions = {**queue.functions, "grant_batch": paced}
    return app


def main() -> None:
    port = int(sys.argv[1])
    app = paced_app(float(os.environ.get("CONSOLE_TEST_BATCH_SECONDS", "0")))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


if __name__ == "__main__":
    main()
