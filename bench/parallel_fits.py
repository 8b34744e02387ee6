"""Two models at once, one core each, against one model on both cores: which trains more images
a second on this host?

quick's default point is small: on two cores its bf16 training reaches about 3 % of the CPU's
peak (results/benchmarks.md, "Reading the CPU speed and screen tables"), its steps made of many
small operations that two threads share poorly. If two fits side by side, one thread each,
train more images a second between them than one fit on both cores, the export's final models
(two or more, independent) and a search's trials could run in pairs.

Each round runs, in a shuffled order: ``one`` (a fresh process, the backend's threads on every
core, one fit) and ``pair`` (two fresh processes started together, one intra-op and one inter-op
thread each, the same fit with another seed). Every fit is ``tuner.training.fit.fit_model`` (the
export's path, bf16 where the CPU has it) of ``--epochs`` epochs of ``--images`` images; a
reading is the images of the epochs after the first over their wall time, and a pair's is the
sum of its two. The host switches between two speeds minutes apart: rounds are short and the
ratio is taken within each round.

    .venv/bin/python bench/parallel_fits.py --rounds 4
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "digit-recognizer"

CHILD = textwrap.dedent(
    """
    import json, sys, time
    args = json.loads(sys.argv[1])
    from tuner.backend import precision
    from tuner.data.kaggle import load_data
    from tuner.space.spaces import load_space
    from tuner.training.callbacks import EpochClock
    from tuner.training.fit import Recipe, fit_model
    train = load_data(args["data"], test=False).train
    x, y = train.images[: args["images"]], train.labels[: args["images"]]
    values = {**load_space("quick").default_values(), "epochs": args["epochs"]}
    clock = EpochClock()
    with precision(None):
        fit_model(Recipe(values), x, y, seed=args["seed"], callbacks=[clock])
    laps = clock.seconds[1:]
    print("RESULT " + json.dumps({"images_per_s": len(x) * len(laps) / sum(laps)}))
    """
)


def start(args: dict, threads: int | None) -> subprocess.Popen:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    if threads:
        env.update(TF_NUM_INTRAOP_THREADS=str(threads), TF_NUM_INTEROP_THREADS="1")
    command = [sys.executable, "-c", CHILD, json.dumps(args)]
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)


def result(process: subprocess.Popen) -> float:
    out, _ = process.communicate()
    for line in out.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])["images_per_s"]
    raise SystemExit(f"a fit failed (exit {process.returncode}):\n{out[-2000:]}")


def reading(variant: str, args: dict) -> float:
    if variant == "one":
        return result(start(args, None))
    pair = [start({**args, "seed": args["seed"] + k}, 1) for k in range(2)]
    return sum(result(p) for p in pair)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--images", type=int, default=8192)
    parser.add_argument("--epochs", type=int, default=4)
    options = parser.parse_args()
    args = {"data": options.data, "images": options.images, "epochs": options.epochs, "seed": 0}
    ratios = []
    for number in range(options.rounds):
        order = ["one", "pair"]
        random.Random(number).shuffle(order)
        got = {variant: reading(variant, args) for variant in order}
        ratios.append(got["pair"] / got["one"])
        print(json.dumps({"round": number, **got, "pair/one": ratios[-1]}), flush=True)
    print(f"pair/one: median {statistics.median(ratios):.2f} "
          f"(range {min(ratios):.2f}-{max(ratios):.2f}) over {len(ratios)} rounds")  # fmt: skip


if __name__ == "__main__":
    main()
