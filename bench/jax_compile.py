"""JAX's compilation cache across a trial's folds: each fold's first epoch with and without it.

Every fold, trial and final model builds a fresh Keras model, and JAX compiles its steps anew.
``tuner.backend`` turns on JAX's persistent compilation cache; this measures what it saves. Each
round runs both variants, each in a fresh process: three folds of ``quick``'s default point
(fresh sessions, seeds 0-2) of two epochs on 2,000 random images. With the cache, each round
starts from an empty cache directory, so its fold 1 compiles as without it and folds 2-3 can
find the programs; without it, ``JAX_ENABLE_COMPILATION_CACHE=false`` (JAX's own switch).

    KERAS_BACKEND=jax python bench/jax_compile.py --rounds 3

The cost of a fold's compile is its first epoch less its second (the second runs at speed).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tuner.backend import fresh_session, keras  # noqa: E402

from tuner.models.cnn import build_model  # noqa: E402
from tuner.space.spaces import load_space  # noqa: E402
from tuner.training.callbacks import EpochClock  # noqa: E402

FOLDS = 3
IMAGES = 2000


def one_process() -> list[list[float]]:
    """In this process: each fold's epoch times (seconds)."""
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (IMAGES, 28, 28, 1)).astype("uint8")
    y = rng.integers(0, 10, IMAGES)
    values = {**load_space("quick").default_values(), "epochs": 2}
    folds = []
    for fold in range(FOLDS):
        fresh_session()
        keras.utils.set_random_seed(fold)
        model = build_model(values, seed=fold, train_size=IMAGES)
        clock = EpochClock()
        model.fit(x, y, batch_size=128, epochs=2, verbose=0, callbacks=[clock])
        folds.append(list(clock.seconds))
    return folds


def run_variant(cached: bool) -> list[list[float]]:
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    with tempfile.TemporaryDirectory() as cache:
        if cached:
            env["XDG_CACHE_HOME"] = cache  # empty: fold 1 compiles, folds 2-3 may reuse
        else:
            env["JAX_ENABLE_COMPILATION_CACHE"] = "false"
        done = subprocess.run(
            [sys.executable, __file__, "--child"], env=env, capture_output=True, text=True
        )
    if done.returncode:
        raise SystemExit(done.stderr[-3000:])
    return json.loads(done.stdout.splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(one_process()))
        return
    print(
        "| round | variant | fold | first epoch s | second epoch s | compile s (first - second) |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    for round_ in range(args.rounds):
        for cached in (False, True):
            started = time.perf_counter()
            folds = run_variant(cached)
            name = "cache" if cached else "no cache"
            for fold, (first, second) in enumerate(folds, 1):
                print(f"| {round_} | {name} | {fold} | {first:.2f} | {second:.2f} | "
                      f"{first - second:.2f} |", flush=True)  # fmt: skip
            print(f"<!-- {name}: process {time.perf_counter() - started:.1f} s -->", flush=True)


if __name__ == "__main__":
    main()
