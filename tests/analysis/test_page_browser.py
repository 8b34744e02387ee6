"""The search's page in a real browser (headless Chromium): it loads without a console error,
sorting the trials table reorders it, and a full-page screenshot is taken. Skipped, with the
reason, where Chromium cannot be had (``.ci/run`` installs Debian's ``chromium``)."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from tests.analysis.test_page import synthetic_search
from tuner.analysis.page import search_page

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium here (apt-get install -y chromium; .ci/run installs it)"
)
# After the page loads: sort the trials by score (twice: descending), and write the order the
# browser shows into the page, where --dump-dom reads it.
PROBE = """<script>window.addEventListener('load', () => {
const th = document.querySelector('#trials thead th:nth-child(3)'); sortBy(th); sortBy(th);
document.body.dataset.order = [...document.querySelectorAll('#trials tbody tr')]
  .map(r => r.children[2].dataset.v).join(',');});</script>"""


def browse(page, *options: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr",
         "--v=0", *options, page.as_uri()],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_the_page_sorts_its_trials_in_a_browser_without_console_errors(tmp_path):
    text = search_page(synthetic_search(tmp_path)).replace("</body>", PROBE + "</body>")
    page = tmp_path / "report.html"
    page.write_text(text)
    done = browse(page, "--dump-dom", "--virtual-time-budget=5000")
    assert done.returncode == 0, done.stderr[-2000:]
    order = re.search(r'data-order="([^"]*)"', done.stdout)
    assert order, done.stdout[-2000:]
    scores = [float(v) for v in order.group(1).split(",")]
    assert len(scores) == 100 and scores == sorted(scores, reverse=True)
    errors = [line for line in done.stderr.splitlines() if "CONSOLE" in line and "rror" in line]
    assert errors == []
    shot = tmp_path / "report.png"
    taken = browse(page, f"--screenshot={shot}", "--window-size=1200,4000")
    assert taken.returncode == 0 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
