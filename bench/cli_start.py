"""How quickly the commands that only read a search start: wall time of `digit-tuner --help`,
`searches`, `trials` and `trial` on the fixture search (tests/fixtures/legacy-search), each run in
a fresh interpreter, rounds interleaved; and whether Keras or TensorFlow was loaded.

    .venv/bin/python bench/cli_start.py --rounds 7

Prints the median and the range of each command's wall time, in seconds.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROBE = (
    "import sys, runpy; sys.argv = ['digit-tuner', *sys.argv[1:]]\n"
    "try:\n    runpy.run_module('tuner.cli', run_name='__main__')\n"
    "except SystemExit:\n    pass\n"
    "print('heavy:', sorted(m for m in ('keras', 'tensorflow') if m in sys.modules), file=sys.stderr)"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        results = Path(tmp) / "results"
        shutil.copytree(ROOT / "tests" / "fixtures" / "legacy-search", results / "legacy")
        commands = {
            "--help": ["--help"],
            "searches": ["searches", "--results-dir", str(results)],
            "trials": ["trials", "legacy", "--results-dir", str(results)],
            "trial": ["trial", "1", "--search", "legacy", "--results-dir", str(results)],
        }
        times: dict[str, list[float]] = {name: [] for name in commands}
        heavy: dict[str, str] = {}
        for _ in range(args.rounds):
            for name, argv in commands.items():
                started = time.perf_counter()
                done = subprocess.run(
                    [sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, cwd=tmp
                )
                times[name].append(time.perf_counter() - started)
                heavy[name] = done.stderr.strip().splitlines()[-1]
    for name, values in times.items():
        print(
            f"{name:10s} median {statistics.median(values):.2f} s "
            f"(range {min(values):.2f}-{max(values):.2f}, {len(values)} runs); {heavy[name]}"
        )


if __name__ == "__main__":
    main()
