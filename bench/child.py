"""Runs a measurement in a fresh interpreter: the code prints one ``RESULT {json}`` line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_child(code: str | list[str], args: dict | None, what: str) -> dict:
    """Runs ``code`` (Python source, given ``json.dumps(args)`` as its argument; or the argv of a
    script, ``args`` None) in a fresh interpreter; returns its RESULT, or exits with its output
    when there is none."""
    argv = ["-c", code, json.dumps(args)] if isinstance(code, str) else list(code)
    done = subprocess.run(
        [sys.executable, *argv],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    raise SystemExit(f"{what} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
