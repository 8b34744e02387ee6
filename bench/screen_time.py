"""A screen's wall time as a search pays it, side by side: the trainer before the CPU work (a
git revision: a fresh trial process per trial, float32) against now (a warm trial process,
float32 and bf16).

    .venv/bin/python bench/screen_time.py --rounds 5

A screen is the quick profile's default point trained 2 epochs on fold 1 of 3 of 8,400 real
digits, scored on its validation fold: what ``train_trial_in_process`` does for each of the quick
profile's screens. Its wall time runs from the call to the returned outcome: starting the process
(Python, Keras, TensorFlow), building the model, tracing, training and scoring. "before" runs the
revision's own code (``git archive REV``, in an interpreter that imports it), timed the same way;
"warm" is a trial in a ``TrialProcess`` that has run one trial already (as every trial but the
first of each of its lives). The variants run in a shuffled order each round; the table gives each
one's median, and its ratio to "before" paired within each round.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shlex
import statistics
import subprocess
import sys
import tarfile
import tempfile
import textwrap
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from results_file import write_section  # noqa: E402

from tuner.data.kaggle import load_data  # noqa: E402
from tuner.data.splits import fold_indices, searched_subset  # noqa: E402
from tuner.space.spaces import load_space  # noqa: E402
from tuner.training.folds import TrialWork, train_trial_in_process  # noqa: E402
from tuner.training.process import TrialProcess  # noqa: E402

BEFORE = "38a55e2"  # the last revision before mixed_bfloat16 and warm trial processes
VARIANTS = ["before: fresh, float32", "fresh, float32", "warm, float32", "warm, bf16"]
BASE = VARIANTS[0]

# One screen with the revision's own trainer (its API then: tuner.training.process). A spawned
# trial process imports the main module again: the guard keeps it from screening too.
BEFORE_SCREEN = textwrap.dedent(
    """
    import json, sys, time
    from tuner.data.kaggle import load_data
    from tuner.data.splits import fold_indices, searched_subset
    from tuner.training.process import train_trial_in_process
    if __name__ == "__main__":
        args = json.loads(sys.argv[1])
        part = searched_subset(load_data(args["data"], test=False).train, 8400, 0)
        split = fold_indices(part.labels, 3, 0)[0]
        started = time.perf_counter()
        train_trial_in_process(args["values"], part.images, part.labels, [split], 0, "0",
                               mixed_precision=False)
        print("RESULT", time.perf_counter() - started)
    """
)


def screen(x, y, split, values, mixed: bool, process) -> float:
    started = time.perf_counter()
    work = TrialWork(values, [split], 0, "0", mixed_precision=mixed)
    train_trial_in_process(work, x, y, process=process)
    return time.perf_counter() - started


def before_screen(tree: Path, data: str, values: dict) -> float:
    """A screen timed by the revision in ``tree``, in an interpreter that imports its code."""
    done = subprocess.run(
        [sys.executable, str(tree / "bench_screen.py"), json.dumps({"data": data, "values": values})],
        capture_output=True, text=True, cwd=tree, env={**os.environ, "PYTHONPATH": str(tree)},
    )  # fmt: skip
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            return float(line.split()[1])
    raise SystemExit(f"the screen at {BEFORE} failed:\n{done.stderr[-3000:]}")


def checkout(revision: str, folder: Path) -> Path:
    """``revision``'s tree under ``folder``, with the script that times a screen there."""
    archive = folder / "tree.tar"
    with open(archive, "wb") as f:
        subprocess.run(["git", "archive", revision], cwd=ROOT, stdout=f, check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(folder / "tree", filter="data")
    (folder / "tree" / "bench_screen.py").write_text(BEFORE_SCREEN)
    return folder / "tree"


def rounds(args, tree: Path) -> dict[str, list[float]]:
    part = searched_subset(load_data(args.data, test=False).train, 8400, 0)
    x, y = part.images, part.labels
    split = fold_indices(y, 3, 0)[0]
    values = {**load_space("quick").default_values(), "epochs": 2}
    warm = {False: TrialProcess(), True: TrialProcess()}
    for mixed, process in warm.items():  # each warm process has run a trial already
        screen(x, y, split, values, mixed, process)
    seconds: dict[str, list[float]] = {v: [] for v in VARIANTS}
    for number in range(args.rounds):
        order = VARIANTS[:]
        random.Random(number).shuffle(order)
        for variant in order:
            if variant == BASE:
                seconds[variant].append(before_screen(tree, args.data, values))
            else:
                mixed = variant.endswith("bf16")
                process = warm[mixed] if variant.startswith("warm") else None
                seconds[variant].append(screen(x, y, split, values, mixed, process))
            print(number, variant, f"{seconds[variant][-1]:.1f} s", flush=True)
    for process in warm.values():
        process.close()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(ROOT.parent / "shared/data/digit-recognizer"))
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        seconds = rounds(args, checkout(BEFORE, Path(folder)))
    base = seconds[BASE]
    lines = [f"| variant | wall time, median | ratio to before ({BEFORE}), paired (each round) |",
             "| --- | --- | --- |"]  # fmt: skip
    for variant, times in seconds.items():
        ratios = [t / b for t, b in zip(times, base, strict=True)]
        lines.append(
            f"| {variant} | {statistics.median(times):.1f} s | {statistics.median(ratios):.2f} "
            f"({', '.join(f'{r:.2f}' for r in ratios)}) |"
        )
    command = shlex.join(["python", "bench/screen_time.py", *sys.argv[1:]])
    write_section("\n".join([
        "## A screen's wall time: fresh vs warm trial process, float32 vs bf16", "",
        f"Command: `{command}` ({date.today()}, 2 cores, no GPU)", "", *lines, "",
    ]))  # fmt: skip


if __name__ == "__main__":
    main()
