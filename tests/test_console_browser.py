"""The marketing console in a real browser (issue 12): Debian's Chromium driven by Playwright.

The gateway runs under real uvicorn (`tests.console_gateway`) on the test session's
database, with the in-process queue; each campaign batch waits a little, like a busy
worker, so the page can watch a campaign run and pause it. The page sends only the
contract's marketing documents. Each main view is saved to tests/screenshots/
(ignored by git) for a person to look at.

Without /usr/bin/chromium the tests skip, except in CI (CI=true), where .ci/run
installs it and they must run.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.auth import issue
from loyalty import sql
from loyalty.access import Role
from tests.conftest import ROOT
from tests.population import populate
from tests.test_uvicorn import SECRET, free_port, gateway_env, stop, wait_healthy

CHROMIUM = Path(os.environ.get("LOYALTY_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = ROOT / "tests" / "screenshots"
DOCUMENTS = ROOT / "schema" / "documents" / "marketing.graphql"
PROGRAM = "live-brighter"
BATCH = 100  # participants per batch: 2,000 make 20 batches
BATCH_SECONDS = 0.2  # each batch's wait: a campaign of 2,000 runs for at least 4 s
TIMEOUT_MS = 20_000


def chromium_or_skip() -> None:
    if CHROMIUM.exists():
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{CHROMIUM} is missing; in CI the browser tests must run (.ci/run installs chromium)")
    pytest.skip(f"no {CHROMIUM}: `apt-get install chromium` to run the console's browser tests")


def marketer(ttl: timedelta = timedelta(hours=1)) -> str:
    return issue(SECRET, role=Role.MARKETER, sub="console-test", ttl=ttl)


@pytest.fixture(scope="module")
def gateway(orm: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The gateway's base URL: real uvicorn on the session's database, jobs in-process (no REDIS_URL)."""
    chromium_or_skip()
    port = free_port()
    log_path = tmp_path_factory.mktemp("console") / "gateway.log"
    env = gateway_env(orm) | {
        "LOYALTY_CAMPAIGN_BATCH": str(BATCH),
        "CONSOLE_TEST_BATCH_SECONDS": str(BATCH_SECONDS),
    }
    env.pop("LOYALTY_CONSOLE", None)
    with log_path.open("w") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "tests.console_gateway", str(port)],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=10) as http:
            wait_healthy(server, http, log_path)
        yield base
    finally:
        stop(server)


@pytest.fixture(scope="module")
async def browser(gateway: str) -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            await chromium.close()


@pytest.fixture
async def page(browser: Any) -> AsyncIterator[Any]:
    """A fresh browser context (empty sessionStorage); page errors fail the test."""
    context = await browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
    context.set_default_timeout(TIMEOUT_MS)
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        yield page
    finally:
        await context.close()
    assert not errors, errors


async def shot(page: Any, name: str, **options: Any) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True, **options)


async def open_console(page: Any, gateway: str, token: str) -> None:
    """The console as `loyalty demo` prints it: the token and the program in the fragment."""
    await page.goto(f"{gateway}/console/#token={token}&program={PROGRAM}")
    await page.wait_for_selector("html[data-ready]")


async def audience_count(page: Any, expected: int) -> None:
    await page.wait_for_selector(f"#audience-size[data-count='{expected}']")


def csv_file(ids: list[str], header: str | None = "participant_id") -> dict[str, Any]:
    lines = ([header] if header else []) + ids
    return {"name": "audience.csv", "mimeType": "text/csv", "buffer": ("\n".join(lines) + "\n").encode()}


async def figure(page: Any, name: str) -> int:
    return int(re.sub(r"\D", "", await page.text_content(f"#c-{name}")) or 0)


async def test_ca02_ca03_ca05_console_builds_an_audience_from_a_csv_launches_pauses_resumes_and_finishes(
    gateway: str, page: Any
) -> None:
    # 2,000 participants the CSV names, 500 others: all active participants are 2,500.
    await populate("console-", 2000, PROGRAM)
    await populate("other-", 500, PROGRAM)

    await open_console(page, gateway, marketer())
    assert "token=" not in page.url  # taken from the fragment, then dropped from the address
    await page.wait_for_selector("#token-who:has-text('console-test (role marketer)')")
    await page.wait_for_selector("#campaigns-empty:not([hidden])")

    # The audience: its size follows the filters (they combine with AND).
    await page.get_by_role("link", name="New campaign").first.click()
    await page.wait_for_selector("#view-new:not([hidden])")
    assert await page.input_value("#program") == PROGRAM
    await page.get_by_label("All active participants").check()
    await audience_count(page, 2500)
    await page.get_by_label("Bought in category").fill("concert")  # nobody bought a concert ticket
    await audience_count(page, 0)
    await page.get_by_label("Bought in category").fill("")
    await audience_count(page, 2500)
    # A CSV of 100,000 ids (the cap) with a header line, of which 2,000 are participants.
    await page.get_by_label("Participant ids (CSV file, up to 100,000)").set_input_files(
        csv_file([f"console-{i}" for i in range(1, 100_001)])
    )
    await page.wait_for_selector(
        "#csv-status:has-text('100,000 participant ids read from audience.csv (header line skipped)')"
    )
    await audience_count(page, 2000)

    await page.get_by_label("Campaign name").fill("Winter thank-you")
    await page.get_by_label("Bonuses per participant").fill("50")
    await page.get_by_label("Days valid").fill("30")
    await page.get_by_label("Message to participants").fill("Thank you for a year of live shows!")
    await shot(page, "2-new-campaign")
    await page.get_by_role("button", name="Create campaign").click()

    # The draft: launch it and watch it run.
    await page.wait_for_selector("#view-campaign[data-status='DRAFT']")
    assert await page.text_content("#campaign-title") == "Winter thank-you"
    assert await figure(page, "audience") == 2000
    await page.get_by_role("button", name="Launch").click()
    await page.wait_for_selector("#view-campaign[data-status='RUNNING']")
    await page.wait_for_selector("#c-rate:has-text('per second')")  # two polls apart
    assert re.fullmatch(r"\d+ (s|min \d+ s)", await page.text_content("#c-left")), await page.text_content("#c-left")
    await shot(page, "3-campaign-running")

    await page.get_by_role("button", name="Pause").click()
    await page.wait_for_selector("#view-campaign[data-status='PAUSED']")
    await page.wait_for_timeout(1000)  # a batch under way when the pause came may still finish
    await page.get_by_role("button", name="Resume").wait_for()
    paused_at = await figure(page, "granted")
    await page.wait_for_timeout(2500)  # a paused campaign's page polls every 2 s
    assert await figure(page, "granted") == paused_at
    assert 0 < paused_at < 2000, paused_at
    assert await page.text_content("#c-left") == "paused"
    await shot(page, "4-campaign-paused")

    await page.get_by_role("button", name="Resume").click()
    await page.wait_for_selector("#view-campaign[data-status='FINISHED']", timeout=30_000)
    assert await page.text_content("#campaign-progress-text") == "2,000 of 2,000 participants (100 %)"
    assert await page.get_attribute("#campaign-progress", "value") == "2000"
    assert await figure(page, "granted") == 2000
    assert await figure(page, "skipped") == 0
    assert await figure(page, "bonus-granted") == 100_000
    assert await page.get_by_role("button", name="Pause").is_hidden()
    await shot(page, "5-campaign-finished")

    # The table of recent campaigns (CA-05).
    await page.get_by_role("link", name="All campaigns").click()
    row = page.locator("#campaigns tbody tr").first
    await row.locator("th a", has_text="Winter thank-you").wait_for()
    cells = [text.strip() for text in await row.locator("td").all_inner_texts()]
    assert cells == ["Finished", "2,000", "2,000", "0", "100,000", "0", "0"]
    await shot(page, "1-campaigns")
    await page.set_viewport_size({"width": 390, "height": 844})
    await shot(page, "6-campaigns-phone")
    await page.get_by_role("link", name="Winter thank-you").click()
    await page.wait_for_selector("#view-campaign[data-status='FINISHED']")
    await shot(page, "7-campaign-phone")

    # The gateway's own record: one gift each, to the CSV's participants only.
    rows = await sql.fetch(
        "SELECT COUNT(*) AS n, MIN(p.customer_id) AS low FROM campaign_grant g"
        " JOIN participant p ON p.id = g.participant_id WHERE g.granted"
    )
    assert int(rows[0]["n"]) == 2000
    assert str(rows[0]["low"]).startswith("console-")


async def test_console_shows_the_gateways_refusals_beside_their_fields(gateway: str, page: Any) -> None:
    await populate("refuse-", 5, PROGRAM)
    token = marketer()
    await open_console(page, gateway, token)
    await page.get_by_role("link", name="New campaign").first.click()

    # A tier the program lacks: the gateway's words, under the tier field.
    await page.get_by_label("Tier").fill("Gold")
    await page.wait_for_selector("#tier-error:has-text(\"program 'live-brighter' has no tier 'Gold'\")")
    assert await page.get_attribute("#tier", "aria-invalid") == "true"
    await page.get_by_label("Tier").fill("")

    # A segment no plugin defines, and parameters that are not a JSON object.
    await page.get_by_label("Plugin segment").fill("newcomers")
    await page.wait_for_selector(
        "#segment-error:has-text(\"no plugin of program 'live-brighter' defines the segment 'newcomers'\")"
    )
    await page.get_by_label("Segment parameters (JSON object)").fill("[30]")
    await page.wait_for_selector("#segment-params-error:has-text('segment parameters must be a JSON object')")
    await page.get_by_label("Plugin segment").fill("")
    await page.get_by_label("Segment parameters (JSON object)").fill("")

    # A file past 100,000 ids is refused in the page, beside the file field.
    await page.get_by_label("Participant ids (CSV file, up to 100,000)").set_input_files(
        csv_file([f"x{i}" for i in range(100_001)], header=None)
    )
    await page.wait_for_selector("#csv-error:has-text('more than 100,000 participant ids')")

    # An empty audience: ids nobody has; preview says 0, and creating is refused.
    await page.get_by_label("Participant ids (CSV file, up to 100,000)").set_input_files(
        csv_file(["nobody-1", "nobody-2", "nobody-2"], header=None)
    )
    await page.wait_for_selector(
        "#csv-status:has-text('2 participant ids read from audience.csv (1 duplicate dropped)')"
    )
    await audience_count(page, 0)
    await page.get_by_label("Campaign name").fill("Nobody's gift")
    await page.get_by_label("Bonuses per participant").fill("10")
    await page.get_by_role("button", name="Create campaign").click()
    await page.wait_for_selector("#audience-error:has-text('the audience is empty')")
    await shot(page, "8-error-empty-audience")

    # A refused launch: another marketer cancelled the draft while this page showed it.
    await page.get_by_role("button", name="Remove the file").click()
    await page.get_by_label("All active participants").check()
    await audience_count(page, 5)
    await page.get_by_label("Campaign name").fill("Cancelled elsewhere")
    await page.get_by_role("button", name="Create campaign").click()
    await page.wait_for_selector("#view-campaign[data-status='DRAFT']")
    campaign_id = page.url.rsplit("/", 1)[1]
    async with httpx.AsyncClient(base_url=gateway) as http:
        cancelled = await http.post(
            "/graphql",
            json={"query": DOCUMENTS.read_text(), "operationName": "CancelCampaign", "variables": {"id": campaign_id}},
            headers={"Authorization": f"Bearer {token}"},
        )
    assert cancelled.json()["data"]["cancelCampaign"]["campaign"]["status"] == "CANCELLED"
    await page.get_by_role("button", name="Launch").click()
    await page.wait_for_selector(
        f"#campaign-error:has-text('campaign {campaign_id} is CANCELLED: it cannot be launched')"
    )
    await page.wait_for_selector("#view-campaign[data-status='CANCELLED']")  # the page shows what is now true
    assert await page.get_by_role("button", name="Launch").is_hidden()
    await shot(page, "9-error-refused-launch")

    # An expired token: the gateway's words, beside the token field.
    await page.get_by_role("link", name="Campaigns", exact=True).click()
    await page.get_by_label("Marketer token").fill(marketer(ttl=timedelta(minutes=-5)))
    await page.get_by_role("button", name="Use token").click()
    await page.wait_for_selector("#token-error:has-text('the token has expired')")
    await page.wait_for_selector("#campaigns-error:has-text('refused the token')")
    await shot(page, "10-error-expired-token")


async def test_console_is_usable_from_the_keyboard_at_a_phones_width_and_labels_every_control(
    gateway: str, page: Any
) -> None:
    await populate("keys-", 3, PROGRAM)
    await page.set_viewport_size({"width": 390, "height": 844})
    await open_console(page, gateway, marketer())
    await page.goto(f"{gateway}/console/#/new")
    await page.wait_for_selector("#view-new:not([hidden])")
    # Every control has an accessible name.
    unnamed = await page.evaluate(
        """() => [...document.querySelectorAll('input, textarea, select, button')]
            .filter((el) => !el.closest('[hidden]'))
            .filter((el) => !(el.labels?.length || el.getAttribute('aria-label') || el.textContent.trim()))
            .map((el) => el.id || el.outerHTML)"""
    )
    assert unnamed == []
    # Keyboard only: tab to "All active participants", tick it with the space bar, see the size.
    await page.focus("#program")
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.id") == "all"
    await page.keyboard.press("Space")
    await audience_count(page, 3)
    # Nothing is wider than the phone's screen.
    assert await page.evaluate("document.documentElement.scrollWidth") <= 390
    await shot(page, "11-new-campaign-phone")
    await page.focus("#name")
    await page.keyboard.type("Keyboard gift")
    await page.keyboard.press("Tab")
    await page.keyboard.type("5")
    await page.keyboard.press("Enter")  # submits the form
    await page.wait_for_selector("#view-campaign[data-status='DRAFT']")
    assert await page.evaluate("document.activeElement.id") == "campaign-title"
    await page.keyboard.press("Tab")  # the first control after the title
    for _ in range(5):
        if await page.evaluate("document.activeElement.id") == "launch":
            break
        await page.keyboard.press("Tab")
    await page.keyboard.press("Enter")
    await page.wait_for_selector("#view-campaign[data-status='FINISHED']")
    assert await figure(page, "granted") == 3


async def test_a_marketer_gifts_the_demo_participants_from_the_console_loyalty_demo_prints(
    browser: Any, tmp_path: Path
) -> None:
    """`loyalty demo` in an empty folder: its printed console address is all a marketer needs."""
    port = free_port()
    log_path = tmp_path / "demo.log"
    env = {k: v for k, v in gateway_env("unused").items() if k not in ("DATABASE_URL", "LOYALTY_JWT_SECRET")}
    env["PYTHONPATH"] = str(ROOT)
    env.pop("LOYALTY_CONSOLE", None)
    with log_path.open("w") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "gateway.cli", "demo", "--port", str(port)],
            cwd=tmp_path,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    context = await browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
    context.set_default_timeout(TIMEOUT_MS)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            wait_healthy(server, http, log_path)
        found = re.search(
            r"Marketing console: (http://\S+/console/#token=\S+&program=live-brighter)\n", log_path.read_text()
        )
        assert found, log_path.read_text()
        page = await context.new_page()
        await page.goto(found.group(1))
        await page.wait_for_selector("#token-who:has-text('marketing-demo (role marketer)')")
        await page.wait_for_selector("#campaigns-empty:not([hidden])")
        await page.get_by_role("link", name="New campaign").first.click()
        await page.get_by_label("All active participants").check()
        await audience_count(page, 2)  # demo-alice and demo-bob; demo-carol's wallet is PENDING (LB-01)
        await page.get_by_label("Campaign name").fill("Demo welcome")
        await page.get_by_label("Bonuses per participant").fill("300")
        await page.get_by_label("until the end of").check()
        await page.get_by_label("Last day valid").fill("2099-12-31")
        await page.get_by_role("button", name="Create campaign").click()
        await page.get_by_role("button", name="Launch").click()
        await page.wait_for_selector("#view-campaign[data-status='FINISHED']")
        assert await figure(page, "granted") == 2
        assert await figure(page, "bonus-granted") == 600
        await page.get_by_role("link", name="All campaigns").click()
        await page.locator("#campaigns tbody tr th a", has_text="Demo welcome").wait_for()
        await shot(page, "0-demo-campaigns")
    finally:
        await context.close()
        stop(server)


async def test_console_reads_participant_ids_from_a_csv_as_marketing_exports_them(gateway: str, page: Any) -> None:
    """The page's CSV reading (gateway/console/audience.js), run in the browser."""
    await page.goto(f"{gateway}/console/")
    parsed = await page.evaluate(
        """async () => {
            const { parseIds } = await import("./audience.js");
            const cases = [
                "id\\nc-1\\nc-2\\n",                        // a header, one id a line
                "customer_id,name\\r\\nc-1,Ann\\r\\nc-2,Bo\\r\\n",  // the first column, CRLF
                "\\"c-1\\";x\\n\\n  c-2  \\nc-1\\n",              // quotes, blanks, a duplicate
                "42\\n43",                                   // numeric ids, no header
            ];
            const read = cases.map((text) => parseIds(text));
            let refused = null;
            try { parseIds(Array.from({ length: 100001 }, (_, i) => `p${i}`).join("\\n")); }
            catch (error) { refused = error.message; }
            const capped = parseIds(Array.from({ length: 100000 }, (_, i) => `p${i}`).join("\\n")).ids.length;
            return { read, refused, capped };
        }"""
    )
    assert [case["ids"] for case in parsed["read"]] == [["c-1", "c-2"], ["c-1", "c-2"], ["c-1", "c-2"], ["42", "43"]]
    assert [case["header"] for case in parsed["read"]] == [True, True, False, False]
    assert parsed["read"][2]["duplicates"] == 1
    assert parsed["refused"] == "the file holds more than 100,000 participant ids"
    assert parsed["capped"] == 100_000


async def test_ca01_ca03_console_schedules_a_campaign_then_pauses_resumes_and_cancels_it(
    gateway: str, page: Any
) -> None:
    await populate("later-", 4, PROGRAM)
    await open_console(page, gateway, marketer())
    await page.get_by_role("link", name="New campaign").first.click()
    await page.get_by_label("All active participants").check()
    await audience_count(page, 4)
    await page.get_by_label("Campaign name").fill("New Year, later")
    await page.get_by_label("Bonuses per participant").fill("20")
    await page.get_by_label("Start time").fill("2099-01-01T10:00")  # picks "Start at"
    assert await page.get_by_label("at", exact=True).is_checked()
    await page.get_by_label("Last day valid").fill("2099-01-31")  # picks "until the end of"
    assert await page.get_by_label("until the end of").is_checked()
    await page.get_by_role("button", name="Create campaign").click()
    await page.get_by_role("button", name="Launch").click()
    await page.wait_for_selector("#view-campaign[data-status='SCHEDULED']")
    assert await figure(page, "granted") == 0
    await page.get_by_role("button", name="Pause").click()
    await page.wait_for_selector("#view-campaign[data-status='PAUSED']")
    await page.get_by_role("button", name="Resume").click()
    await page.wait_for_selector("#view-campaign[data-status='SCHEDULED']")  # startsAt is still ahead
    page.once("dialog", lambda dialog: dialog.accept())
    await page.get_by_role("button", name="Cancel campaign").click()
    await page.wait_for_selector("#view-campaign[data-status='CANCELLED']")
    for name in ("Launch", "Pause", "Resume", "Cancel campaign"):
        assert await page.get_by_role("button", name=name).is_hidden(), name
    assert await figure(page, "granted") == 0
    await shot(page, "12-campaign-cancelled")
