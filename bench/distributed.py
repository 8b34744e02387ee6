"""Wall time of an 8-trial search: one process vs a chief with 1 or 2 local workers.

All three runs happen side by side in one invocation, on the same space, data and seed:

- local:     `digit-tuner search` (one process, a worker process per trial);
- 1 worker:  `digit-tuner search --workers 1` (chief + 1 worker, all cores for the worker);
- 2 workers: `digit-tuner search --workers 2` (chief + 2 workers, cores shared between them:
             TF_NUM_INTRAOP_THREADS = cores / workers).

    .venv/bin/python bench/distributed.py      # appends its table to results/benchmarks.md
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from results_file import write_section

SPACE = """
[search]
max_trials = 8
folds = 3
[hyperparameters]
input_batch_norm = false
conv_blocks = { type = "int", min = 1, max = 2 }
conv_filters = { type = "choice", values = [16, 24, 32] }
dense_layers = 1
dense_units = { type = "choice", values = [32, 64] }
learning_rate = { type = "float", min = 1e-3, max = 3e-3, sampling = "log" }
batch_size = 128
epochs = 2
augment_strength = 0.5
"""
ROOT = Path(__file__).resolve().parents[1]


def run(label: str, extra: list[str], tmp: Path) -> tuple[str, float, int]:
    command = [
        sys.executable,
        "-m",
        "tuner.cli",
        "search",
        "--space",
        str(tmp / "bench.toml"),
        "--results-dir",
        str(tmp),
        "--name",
        label.replace(" ", "-"),
        *extra,
    ]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{label} failed:\n{done.stdout}\n{done.stderr}")
    return label, seconds, done.returncode


def main() -> int:
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        (tmp / "bench.toml").write_text(SPACE)
        rows = [
            run("local", [], tmp),
            run("1 worker", ["--workers", "1"], tmp),
            run("2 workers", ["--workers", "2"], tmp),
        ]
    base = rows[0][1]
    lines = [
        "## Distributed search: 8 trials, 1 vs 2 workers",
        "",
        f"Command: `.venv/bin/python bench/distributed.py` ({os.cpu_count()} cores; embedded "
        "4,000 digits; 8 trials x 3 folds x 2 epochs of small CNNs; the three runs side by side).",
        "",
        "| run | wall time | vs local |",
        "| --- | --- | --- |",
        *(f"| {label} | {seconds:.0f} s | {seconds / base:.2f}x |" for label, seconds, _ in rows),
        "",
    ]
    text = "\n".join(lines)
    print(text)
    write_section(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
