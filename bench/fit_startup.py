"""What one fit spends before its epochs run at speed: building the model and tracing its graphs.

Fits the ``quick`` profile's default point ``--fits`` times in one process on the embedded
digits (``--images`` of them, 600 more as validation), as a fold trains (the toolkit's trainer,
mixed precision where the CPU has it), and prints each fit's epoch times: the first epoch's
excess over the others is the start-up a fold, a screen or a final model pays, which the export
plans for (``tuner.training.fit.training_speed``).

    .venv/bin/python bench/fit_startup.py --fits 3 --images 2400
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tuner.backend import precision  # noqa: E402

from tuner.data.kaggle import load_data  # noqa: E402
from tuner.space.spaces import load_space  # noqa: E402
from tuner.space.values import resolve_values  # noqa: E402
from tuner.training.callbacks import EpochClock  # noqa: E402
from tuner.training.fit import Recipe, fit_model  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fits", type=int, default=3)
    parser.add_argument("--images", type=int, default=2400)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    data = load_data(None)
    space = load_space("quick")
    recipe = Recipe(resolve_values(space.default_values(), space)).for_epochs(args.epochs)
    n = args.images
    x, y = data.train.images[:n], data.train.labels[:n]
    validation = (data.train.images[n : n + 600], data.train.labels[n : n + 600])
    with precision(None):
        for i in range(args.fits):
            clock = EpochClock()
            started = time.perf_counter()
            fit = fit_model(recipe, x, y, seed=i, callbacks=[clock], validation=validation)
            took = time.perf_counter() - started
            epochs = ", ".join(f"{s:.2f}" for s in clock.seconds)
            print(f"fit {i + 1}: {took:.2f} s in all, epochs {epochs} s "
                  f"(validation {fit.validation_seconds:.2f} s)")  # fmt: skip


if __name__ == "__main__":
    main()
