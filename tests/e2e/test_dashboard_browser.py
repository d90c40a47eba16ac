"""The executive dashboard in a real browser: an executive signs in, lands on the dashboard, picks
March 2026 (the hand-built world of tests/dashboard/conftest.py) and sees every chart drawn (no
server error, no empty chart area: each image decoded, with its figures in the alt text, and a
table beside it); an empty period says so and draws no chart.
Screenshots: tests/e2e/screenshots/dashboard-*.png."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from accounts.models import User

from ..dashboard.conftest import World, world  # noqa: F401 - the hand-built world, a fixture
from .conftest import SCREENSHOTS

pytestmark = pytest.mark.e2e

PASSWORD = "correct-horse-battery"  # tests.factories.UserFactory's


def _charts(page) -> list[dict]:
    """Each chart image: its alt text and decoded size (0 wide when it failed to draw)."""
    return page.eval_on_selector_all(
        "figure.chart img", "imgs => imgs.map(i => ({alt: i.alt, width: i.naturalWidth, complete: i.complete}))"
    )


def test_an_executive_lands_on_the_dashboard_and_sees_every_chart(
    page,
    log_in,
    world: World,  # noqa: F811 - the fixture imported above
    executive: User,
) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)
    log_in(executive.username, PASSWORD)
    page.wait_for_url("**/dashboard/")  # an executive's home is the dashboard
    expect(page.get_by_role("heading", level=1)).to_contain_text("Dashboard")

    response = page.goto("/dashboard/?period=custom&from=2026-03-01&to=2026-03-31")
    assert response is not None and response.status == 200
    expect(page.locator("#dashboard-period")).to_contain_text("1 Mar 2026")
    charts = _charts(page)
    assert len(charts) >= 5, charts
    assert [c for c in charts if not c["complete"] or c["width"] == 0 or not c["alt"]] == []
    # Every section that draws a chart has its figures beside it, as a table.
    for section in ("#dash-open", "#dash-flow", "#dash-kpis", "#dash-vendors"):
        expect(page.locator(f"{section} table.figures tbody tr").first).to_be_visible()
    # The restricted incident (R) is not the executive's: its ransomware never shows.
    expect(page.locator("main")).not_to_contain_text("Ransomware")
    page.screenshot(path=str(SCREENSHOTS / "dashboard-1-march.png"), full_page=True)

    page.goto("/dashboard/?period=custom&from=2020-01-01&to=2020-01-31")
    expect(page.locator("#dash-empty")).to_contain_text("No incidents were opened or closed in this period.")
    assert [c for c in _charts(page) if c["width"] == 0] == []  # no empty chart frame either
    page.screenshot(path=str(SCREENSHOTS / "dashboard-2-empty.png"), full_page=True)
