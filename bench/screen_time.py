"""A screen's wall time as a search pays it: a fresh trial process per trial vs a warm one, in
float32 and in mixed_bfloat16, side by side.

    .venv/bin/python bench/screen_time.py --rounds 4

A screen is the quick profile's default point trained 2 epochs on fold 1 of 3 of 8,400 real
digits, scored on its validation fold: what ``train_trial_in_process`` does for each of the quick
profile's screens. Its wall time runs from the call to the returned outcome: starting the process
(Python, Keras, TensorFlow), building the model, tracing, training and scoring. "warm" is a trial
in a ``TrialProcess`` that has run one trial already (as every trial but the first of each of its
lives). The variants run in a shuffled order each round; the table gives each one's median, and
its ratio to "fresh, float32" paired within each round.
"""

from __future__ import annotations

import argparse
import random
import shlex
import statistics
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from results_file import write_section  # noqa: E402

from tuner.data.kaggle import load_data  # noqa: E402
from tuner.data.splits import fold_indices, searched_subset  # noqa: E402
from tuner.space.spaces import load_space  # noqa: E402
from tuner.training.folds import train_trial_in_process  # noqa: E402
from tuner.training.process import TrialProcess  # noqa: E402

VARIANTS = ["fresh, float32", "warm, float32", "fresh, bf16", "warm, bf16"]


def screen(x, y, split, values, mixed: bool, process) -> float:
    started = time.perf_counter()
    train_trial_in_process(values, x, y, [split], 0, "0", process=process, mixed_precision=mixed)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(ROOT.parent / "shared/data/digit-recognizer"))
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
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
            mixed = variant.endswith("bf16")
            process = warm[mixed] if variant.startswith("warm") else None
            seconds[variant].append(screen(x, y, split, values, mixed, process))
            print(number, variant, f"{seconds[variant][-1]:.1f} s", flush=True)
    for process in warm.values():
        process.close()
    base = seconds["fresh, float32"]
    lines = ["| variant | wall time, median | ratio to fresh float32, paired (each round) |",
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
