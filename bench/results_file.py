"""results/benchmarks.md: each benchmark owns one "## " section and replaces it when it reruns."""

from __future__ import annotations

from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "results" / "benchmarks.md"


def write_section(text: str, out: Path = OUT) -> None:
    """Writes ``text`` (starting with its "## " title) in place of the section of that title, or
    at the end of the file."""
    title = text.splitlines()[0]
    previous = out.read_text() if out.exists() else "# Benchmarks\n"
    if title in previous:
        head, _, tail = previous.partition(title)
        rest = tail.split("\n## ", 1)
        previous = head + ("## " + rest[1] if len(rest) > 1 else "")
    out.write_text(previous.rstrip("\n") + "\n\n" + text)
