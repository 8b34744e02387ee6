"""Keras' own input pipeline for arrays against the toolkit's (``tuner.backend.fit_inputs``), fit
by fit in one process: each epoch's wall time, and the wait after fit's last epoch.

    .venv/bin/python bench/input_stalls.py --fits 8

Each fit is the quick profile's default point (bf16 where the CPU has it, as a search trains;
float32 with ``--float32``)
built afresh, trained ``--epochs`` epochs on fold 1 of 3 of 8,400 real digits and validated on
the fold's 2,800 others after each epoch: ``model.fit(x, y, batch_size=..., validation_data=...)``
as a user writes it, or with the toolkit's pipelines. The two alternate, fit by fit. An epoch
counts as stalled when it took more than ``STALL`` seconds longer than the fit's fastest epoch
after the first (the first traces the graphs); "after the last epoch" is the time from Keras'
``on_train_end`` to ``fit`` returning (freeing its iterators).
"""

from __future__ import annotations

import argparse
import itertools
import shlex
import statistics
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tuner.backend import fit_inputs, fresh_session, keras, use_mixed_precision  # noqa: E402

from results_file import write_section  # noqa: E402

from tuner.data.kaggle import load_data  # noqa: E402
from tuner.data.splits import fold_indices, searched_subset  # noqa: E402
from tuner.models.hypermodels import build  # noqa: E402
from tuner.space.spaces import load_space  # noqa: E402

MODES = ["Keras' pipeline for arrays", "the toolkit's pipelines (fit_inputs)"]
STALL = 0.7  # seconds over the fit's fastest later epoch


class Marks(keras.callbacks.Callback):
    """Epoch ends and the training's end, as perf_counter times."""

    def __init__(self):
        super().__init__()
        self.epochs, self.ended = [], None

    def on_epoch_end(self, epoch, logs=None):
        self.epochs.append(time.perf_counter())

    def on_train_end(self, logs=None):
        self.ended = time.perf_counter()


def one_fit(mode: str, x, y, split, values, seed: int) -> dict:
    train, val = split
    fresh_session()
    model = build(values, seed=seed, train_size=len(train))
    marks = Marks()
    given = dict(epochs=int(values["epochs"]), verbose=0, callbacks=[marks])
    started = time.perf_counter()
    if mode == MODES[0]:
        model.fit(x[train], y[train], batch_size=int(values["batch_size"]),
                  validation_data=(x[val], y[val]), **given)  # fmt: skip
    else:
        data = fit_inputs(x[train], y[train], batch_size=int(values["batch_size"]), seed=seed,
                          validation=(x[val], y[val]))  # fmt: skip
        model.fit(**data, **given)
    returned = time.perf_counter()
    laps = [b - a for a, b in itertools.pairwise([started, *marks.epochs])]
    return {"laps": laps, "after": returned - marks.ended, "wall": returned - started}


def table(readings: dict[str, list[dict]]) -> list[str]:
    lines = [
        "| input pipeline | fit's wall time, median | an epoch after the first, median "
        "| epochs stalled (> +0.7 s) | after the last epoch: median, max |",
        "| --- | --- | --- | --- | --- |",
    ]
    for mode, fits in readings.items():
        later = [lap for f in fits for lap in f["laps"][1:]]
        stalled = sum(lap > min(f["laps"][1:]) + STALL for f in fits for lap in f["laps"][1:])
        after = [f["after"] for f in fits]
        lines.append(
            f"| {mode} | {statistics.median(f['wall'] for f in fits):.1f} s "
            f"| {statistics.median(later):.2f} s | {stalled} of {len(later)} "
            f"| {statistics.median(after):.2f} s, {max(after):.2f} s |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(ROOT.parent / "shared/data/digit-recognizer"))
    parser.add_argument("--fits", type=int, default=8, help="fits of each pipeline")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--float32", action="store_true", help="not the hardware's precision")
    args = parser.parse_args()
    part = searched_subset(load_data(args.data, test=False).train, 8400, 0)
    split = fold_indices(part.labels, 3, 0)[0]
    values = {**load_space("quick").default_values(), "epochs": args.epochs}
    use_mixed_precision(False if args.float32 else None)
    readings: dict[str, list[dict]] = {mode: [] for mode in MODES}
    for number in range(2 * args.fits):
        mode = MODES[number % 2]
        reading = one_fit(mode, part.images, part.labels, split, values, number)
        readings[mode].append(reading)
        print(mode, [round(lap, 2) for lap in reading["laps"]], f"{reading['after']:.2f}",
              flush=True)  # fmt: skip
    command = shlex.join(["python", "bench/input_stalls.py", *sys.argv[1:]])
    policy = keras.config.dtype_policy().name
    write_section("\n".join([
        f"## Keras' input pipeline for arrays vs the toolkit's: stalls at the epochs' ends, {policy}",
        "", f"Command: `{command}` ({date.today()}, 2 cores, no GPU; {args.epochs} epochs of 5,600 "
        "images validated on 2,800, the two alternating)", "", *table(readings), "",
    ]))  # fmt: skip


if __name__ == "__main__":
    main()
