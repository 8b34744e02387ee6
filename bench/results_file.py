"""results/benchmarks.md: each benchmark owns one "## " section and replaces it when it reruns."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "results" / "benchmarks.md"
# A benchmark's section ends, from this line on, with what a person read into its figures: the
# figures are rewritten on each run, the reading is kept under them until edited by hand.
BY_HAND = "<!-- read by hand: kept when the benchmark rewrites its section -->"


def repo_path(path: Path) -> str:
    """``path`` as results name it: relative to the repository when it is inside."""
    path = path.resolve()
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def write_section(text: str, out: Path = OUT) -> None:
    """Writes ``text`` (starting with its "## " title) in place of the section of that title (the
    whole line: a title that begins another is another section), or at the end of the file. The
    old section's lines from ``BY_HAND`` on follow the new text, unless it brings its own."""
    title = text.splitlines()[0]
    previous = out.read_text() if out.exists() else "# Benchmarks\n"
    lines = previous.splitlines(keepends=True)
    starts = [i for i, line in enumerate(lines) if line.rstrip("\n") == title]
    if not starts:
        out.write_text(previous.rstrip("\n") + "\n\n" + text)
        return
    start = starts[0]
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    old = "".join(lines[start:end])
    section = text.rstrip("\n") + "\n"
    if BY_HAND in old and BY_HAND not in text:
        section += "\n" + old[old.index(BY_HAND) :].rstrip("\n") + "\n"
    after = "".join(lines[end:])
    out.write_text("".join(lines[:start]) + section + ("\n" + after if after else ""))
