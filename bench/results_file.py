"""results/benchmarks.md: each benchmark owns one "## " section and replaces it when it reruns."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "results" / "benchmarks.md"


def repo_path(path: Path) -> str:
    """``path`` as results name it: relative to the repository when it is inside."""
    path = path.resolve()
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def write_section(text: str, out: Path = OUT) -> None:
    """Writes ``text`` (starting with its "## " title) in place of the section of that title (the
    whole line: a title that begins another is another section), or at the end of the file."""
    title = text.splitlines()[0]
    previous = out.read_text() if out.exists() else "# Benchmarks\n"
    lines = previous.splitlines(keepends=True)
    starts = [i for i, line in enumerate(lines) if line.rstrip("\n") == title]
    if starts:
        start = starts[0]
        end = next(
            (i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines)
        )
        previous = "".join(lines[:start] + lines[end:])
    out.write_text(previous.rstrip("\n") + "\n\n" + text)
