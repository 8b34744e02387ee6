"""The search page's size and render time for a long search: the legacy search of the tests with
100 made-up trials (tests/analysis/test_page.py's ``synthetic_search``), built, written, and
rendered by headless Chromium to a full-page screenshot, ``--rounds`` times.

    .venv/bin/python bench/page.py --rounds 5

"Render" is Chromium's whole run for the screenshot (its start included), so it bounds the time a
browser takes to show the page from above.
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from results_file import ROOT, write_section

sys.path.insert(0, str(ROOT))

from tests.analysis.test_page import synthetic_search  # noqa: E402
from tuner.analysis.page import search_page  # noqa: E402


def render_seconds(chromium: str, page: Path, shot: Path) -> float:
    started = time.perf_counter()
    subprocess.run(
        [chromium, "--headless=new", "--no-sandbox", "--disable-gpu", f"--screenshot={shot}",
         "--window-size=1200,6000", page.as_uri()],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        text = search_page(synthetic_search(Path(tmp)))
        build = time.perf_counter() - started
        page = Path(tmp) / "report.html"
        page.write_text(text)
        renders = [render_seconds(chromium, page, Path(tmp) / "shot.png")
                   for _ in range(args.rounds)] if chromium else []  # fmt: skip
    rendered = (
        f"median {statistics.median(renders):.2f} s, max {max(renders):.2f} s"
        if renders else "not measured (no chromium)"
    )  # fmt: skip
    lines = [
        "## The search page for a 100-trial search: size and render time",
        "",
        f"`python bench/page.py --rounds {args.rounds}` ({dt.date.today()}, 2 cores, no GPU; "
        "nothing else running)",
        "",
        "| page | built in | size | headless Chromium, start to full-page screenshot |",
        "| --- | --- | --- | --- |",
        f"| 100 trials, 3 folds x 30 epochs of curves each | {build:.2f} s | "
        f"{len(text.encode()) / 1e3:.0f} kB | {rendered} ({len(renders)} rounds) |",
    ]
    print("\n".join(lines))
    write_section("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
