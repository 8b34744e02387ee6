"""results/benchmarks.md as the benchmarks write it (bench/results_file.py): each owns a section,
rewrites it where it stands, and keeps the reading written by hand beneath its figures."""

from __future__ import annotations

import sys

from tests.helpers import ROOT

sys.path.insert(0, str(ROOT / "bench"))

from results_file import BY_HAND, write_section  # noqa: E402  (bench/ is not a package)


def test_a_benchmark_section_is_replaced_by_its_whole_title_only(tmp_path):
    out = tmp_path / "b.md"
    first = "## Replayed on the table"
    second = "## Replayed on the table `results/curves-8400.jsonl`"
    write_section(f"{second}\n\nsecond v1\n", out)
    write_section(f"{first}\n\nfirst v1\n", out)  # a prefix of the other title: its own section
    write_section(f"{second}\n\nsecond v2\n", out)
    write_section(f"{first}\n\nfirst v2\n", out)
    text = out.read_text()
    assert "v1" not in text
    assert text.count(first) == 2 and "second v2" in text and "first v2" in text


def test_a_rewritten_section_keeps_its_place_and_the_reading_under_its_figures(tmp_path):
    out = tmp_path / "b.md"
    out.write_text(
        "# Benchmarks\n\n## A\n\nfigures v1\n\n"
        f"{BY_HAND}\n- Read by hand: v1 was slow.\n\n## B\n\nother\n"
    )
    write_section("## A\n\nfigures v2\n", out)
    text = out.read_text()
    assert "figures v1" not in text
    assert text.index("## A") < text.index("figures v2") < text.index("Read by hand: v1")
    assert text.index("Read by hand: v1") < text.index("## B")  # in place, not moved to the end
    assert text.endswith("## B\n\nother\n") and "\n\n\n" not in text
    write_section(f"## B\n\nnew\n\n{BY_HAND}\n- its own reading\n", out)  # a section's own wins
    assert out.read_text().count(BY_HAND) == 2
    write_section("## A\n\nfigures v3\n", out)
    assert out.read_text().count("Read by hand: v1") == 1
