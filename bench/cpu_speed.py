"""Training speed on the CPU: precision, XLA, the JAX backend and thread settings, side by side.

    .venv/bin/python bench/cpu_speed.py                       # quick's default point and v5
    .venv/bin/python bench/cpu_speed.py --rounds 5 --only quick

Each reading is one fresh process that builds the network (``tuner.models.cnn.build_model`` at the
space's default point: the quick profile's, or v5), trains it ``--epochs`` epochs on real digits
with plain ``model.fit`` and takes the images/s of the epochs after the first (the first traces
and compiles): their images over their wall time, waits between epochs included, as a training
pays them; the fastest of them alone is kept too. Variants run in a shuffled order within a
round, rounds one after another, and each variant is read as a ratio to float32 of the same
round: the host switches between two speeds minutes apart, so only readings taken close
together compare.

The host's slow mode caps float32 training at about 810 images/s whatever the code, minutes at a
time; a numpy probe taken before each reading (float32 matrix products on both cores, kept in the
rows) does not see it. So a round counts as "capped" when its float32 reading (its fastest epoch)
is below 80 % of the run's best, and its ratios are listed apart from the fast rounds'. Every
reading is appended to ``results/cpu_speed.jsonl``; ``--rows FILE`` renders the table from such
lines instead of measuring.

The table also gives the network's FLOPs per training image (3 x its forward multiply-adds x 2,
from its layers' shapes) and the fraction of the CPU's peak that the images/s reach: cores x
clock x FLOPs per cycle for the precision (written out under the table).

``--accuracy``: float32 and mixed_bfloat16 trained the same epochs on 3 seeds, scored on 4,000
other images: a faster variant that learns worse shows there.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shlex
import statistics
import sys
import textwrap
import time
from datetime import date
from pathlib import Path

import numpy as np
from child import run_child
from results_file import write_section

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "digit-recognizer"

VARIANTS = {  # name -> (backend, dtype policy, jit_compile, (intra, inter) threads, augmentation)
    "float32": ("tensorflow", "float32", False, None, True),
    "mixed_bfloat16": ("tensorflow", "mixed_bfloat16", False, None, True),
    # the toolkit's own trainer at a search's defaults (tuner.training.folds.train_trial, its
    # precision by the hardware), validating on 256 other images after each epoch
    "toolkit": ("tensorflow", None, False, None, True),
    "threads 2/1": ("tensorflow", "float32", False, (2, 1), True),
    "threads 1/2": ("tensorflow", "float32", False, (1, 2), True),
    "bf16 threads 2/1": ("tensorflow", "mixed_bfloat16", False, (2, 1), True),
    "jax": ("jax", "float32", True, None, True),
    "jax+bf16": ("jax", "mixed_bfloat16", True, None, True),
    # XLA cannot compile the augmentation's affine transform on TensorFlow's CPU
    # (ImageProjectiveTransformV3): these show what the network alone gains, and what the
    # augmentation costs.
    "float32, no aug.": ("tensorflow", "float32", False, None, False),
    "bf16, no aug.": ("tensorflow", "mixed_bfloat16", False, None, False),
    "xla, no aug.": ("tensorflow", "float32", True, None, False),
    "xla+bf16, no aug.": ("tensorflow", "mixed_bfloat16", True, None, False),
}
V5_VARIANTS = ["float32", "mixed_bfloat16", "bf16 threads 2/1", "jax", "float32, no aug.",
               "bf16, no aug."]  # fmt: skip
# A round is "capped" when its float32 reading is below this fraction of the run's best: the host's
# slow mode, where float32 reads about 810 images/s whatever the code (the probe does not see it).
CAPPED = 0.8
NETWORKS = {  # name -> (space, images per epoch, epochs)
    "quick": ("quick", 4096, 5),
    "v5": ("v5", 512, 3),
}

CHILD = textwrap.dedent(
    """
    import json, os, sys, time
    args = json.loads(sys.argv[1])
    os.environ["KERAS_BACKEND"] = args["backend"]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if args["threads"]:
        os.environ["TF_NUM_INTRAOP_THREADS"] = str(args["threads"][0])
        os.environ["TF_NUM_INTEROP_THREADS"] = str(args["threads"][1])
    from tuner.backend import keras
    from tuner.data.kaggle import load_data
    from tuner.models.cnn import build_model
    from tuner.space.spaces import load_space
    train = load_data(args["data"], test=False).train
    n, seed = args["images"], args["seed"]
    x, y = train.images[:n], train.labels[:n]
    values = {**load_space(args["space"]).default_values(), "epochs": args["epochs"]}
    if not args["augment"]:
        values["augment_strength"] = 0.0
    if args["policy"] is None:
        import numpy as np
        from tuner.training.folds import TrialWork, train_trial
        from tuner.ui.events import Reporter
        class Laps(Reporter):
            ends = []
            def epoch_end(self, **fields):
                self.ends.append(time.perf_counter())
        x, y = train.images[:n + 256], train.labels[:n + 256]
        split = (np.arange(n), np.arange(n, n + 256))
        started = time.perf_counter()
        work = TrialWork(values, [split], seed, "0", mixed_precision=None)
        outcome = train_trial(work, x, y, Laps())
        laps = [b - a for a, b in zip([started, *Laps.ends], Laps.ends)]
        print("RESULT " + json.dumps({"images_per_s": n * (len(laps) - 1) / sum(laps[1:]),
              "fastest_epoch_images_per_s": n / min(laps[1:]), "laps": laps,
              "flops_per_image": 0}))
        sys.exit(0)
    keras.config.set_dtype_policy(args["policy"])
    keras.utils.set_random_seed(seed)
    model = build_model(values, seed=seed, train_size=n)
    if args["jit"]:
        model.compile(optimizer=model.optimizer, loss=model.loss, metrics=["accuracy"],
                      jit_compile=args["jit"])
    ends = []
    timer = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: ends.append(time.perf_counter()))
    started = time.perf_counter()
    model.fit(x, y, epochs=args["epochs"], batch_size=values["batch_size"], verbose=0,
              callbacks=[timer])
    laps = [b - a for a, b in zip([started, *ends], ends)]
    out = {"images_per_s": n * (len(laps) - 1) / sum(laps[1:]),
           "fastest_epoch_images_per_s": n / min(laps[1:]), "laps": laps}
    if args["eval"]:
        xe, ye = train.images[-args["eval"]:], train.labels[-args["eval"]:]
        out["accuracy"] = float((model.predict(xe, verbose=0).argmax(1) == ye).mean())
    forward_flops = 0
    for layer in model._flatten_layers(include_self=False):
        kind = type(layer).__name__
        if kind == "Conv2D":
            h, w, c = layer.output.shape[1:]
            kh, kw, cin = layer.kernel.shape[:3]
            forward_flops += 2 * h * w * c * kh * kw * cin
        elif kind == "Dense":
            forward_flops += 2 * layer.kernel.shape[0] * layer.kernel.shape[1]
    out["flops_per_image"] = 3 * forward_flops  # forward, and a backward of twice its work
    print("RESULT " + json.dumps(out))
    """
)


def probe(seconds: float = 0.6) -> float:
    """The host's float32 GFLOP/s right now (numpy matrix products on every core)."""
    a = np.random.default_rng(0).standard_normal((512, 512), dtype=np.float32)
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        a @ a
        done += 1
    return done * 2 * 512**3 / (time.perf_counter() - started) / 1e9


def reading(network: str, variant: str, data: Path, seed: int = 0, evaluate: int = 0) -> dict:
    backend, policy, jit, threads, augment = VARIANTS[variant]
    space, images, epochs = NETWORKS[network]
    args = {
        "backend": backend, "policy": policy, "jit": jit, "threads": threads, "space": space,
        "images": images, "epochs": epochs, "seed": seed, "eval": evaluate, "data": str(data),
        "augment": augment,
    }  # fmt: skip
    return run_child(CHILD, args, f"{network} {variant}")


def cpu_peak() -> dict:
    """Cores, clock and FLOPs per cycle per core for each precision (module doc)."""
    flags, mhz = set(), 0.0
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
        elif line.startswith("cpu MHz") and not mhz:
            mhz = float(line.split(":", 1)[1])
    cores = os.cpu_count() or 1
    # AVX-512: 2 FMA units x 16 float32 lanes x 2 FLOPs; AVX512_BF16's dot product doubles the
    # lanes; AMX-BF16 tiles: 1,024 bf16 FLOPs per cycle per core (Intel's figure).
    fp32 = 64 if "avx512f" in flags else 32
    bf16 = 1024 if "amx_bf16" in flags else (128 if "avx512_bf16" in flags else fp32)
    return {"cores": cores, "ghz": mhz / 1000, "fp32": fp32, "bf16": bf16, "flags": flags}


def speed_rounds(networks: list[str], variants: list[str] | None, rounds: int, data: Path):
    rows = []
    for number in range(rounds):
        for network in networks:
            order = list(variants or (V5_VARIANTS if network == "v5" else VARIANTS))
            random.Random(number).shuffle(order)
            for variant in order:
                host = probe()
                result = reading(network, variant, data)
                rows.append({"round": number, "network": network, "variant": variant,
                             "probe": host, **result})  # fmt: skip
                print(json.dumps(rows[-1]), flush=True)
    return rows


def speed_table(rows: list, peak: dict) -> list[str]:
    lines = [
        "| network | variant | images/s, median (range) | ratio to float32, paired: fast rounds "
        "(capped rounds) | by the fastest epoch: fast rounds | FLOPs/image "
        "| % of the precision's peak at the median |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for network in dict.fromkeys(r["network"] for r in rows):
        base = {r["round"]: r for r in rows
                if r["network"] == network and r["variant"] == "float32"}  # fmt: skip
        best = max(_fastest(r) for r in base.values())
        fast = {n for n, r in base.items() if _fastest(r) >= CAPPED * best}
        seen = {r["variant"] for r in rows if r["network"] == network}
        for variant in [v for v in VARIANTS if v in seen]:
            lines.append(_row(network, variant, rows, base, fast, peak))
    return lines


def _fastest(row: dict) -> float:
    """A reading's fastest epoch's images/s (rows written before it was kept: their images/s)."""
    return row.get("fastest_epoch_images_per_s", row["images_per_s"])


def _ratios(mine, base, key) -> dict[int, float]:
    return {r["round"]: key(r) / key(base[r["round"]]) for r in mine if r["round"] in base}


def _row(network, variant, rows, base, fast, peak) -> str:
    mine = [r for r in rows if r["network"] == network and r["variant"] == variant]
    rates = [r["images_per_s"] for r in mine]
    ratios = _ratios(mine, base, lambda r: r["images_per_s"])
    quick = [f"{x:.2f}" for n, x in sorted(ratios.items()) if n in fast]
    capped = [f"{x:.2f}" for n, x in sorted(ratios.items()) if n not in fast]
    fastest = [f"{x:.2f}" for n, x in sorted(_ratios(mine, base, _fastest).items()) if n in fast]
    rate = statistics.median(rates)
    flops = max(r["flops_per_image"] for r in rows if r["network"] == network)
    # the toolkit's precision is the hardware's default: bf16 where this table is made
    per_cycle = peak["fp32"] if VARIANTS[variant][1] == "float32" else peak["bf16"]
    top = peak["cores"] * peak["ghz"] * 1e9 * per_cycle
    return (
        f"| {network} | {variant} | {rate:,.0f} ({min(rates):,.0f}-{max(rates):,.0f}) | "
        f"{', '.join(quick) or '-'} ({', '.join(capped) or '-'}) | {', '.join(fastest) or '-'} | "
        f"{flops / 1e6:.0f} M | {100 * rate * flops / top:.1f} % |"
    )


def accuracy_lines(data: Path, seeds: int) -> list[str]:
    lines = ["", "| seed | float32 accuracy | mixed_bfloat16 accuracy |", "| --- | --- | --- |"]
    for seed in range(seeds):
        scores = [reading("quick", v, data, seed=seed, evaluate=4000)["accuracy"]
                  for v in ("float32", "mixed_bfloat16")]  # fmt: skip
        print(json.dumps({"seed": seed, "float32": scores[0], "mixed_bfloat16": scores[1]}))
        lines.append(f"| {seed} | {100 * scores[0]:.2f} % | {100 * scores[1]:.2f} % |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", default="quick,v5", help="networks, comma-separated")
    parser.add_argument("--variants", help="comma-separated (default: all; v5 a subset)")
    parser.add_argument("--accuracy", type=int, default=3, help="seeds of the accuracy check")
    parser.add_argument("--rows", help="render the table from these JSON lines, measure nothing")
    parser.add_argument("--title", default="precision, XLA, JAX, threads")
    args = parser.parse_args()
    data = Path(args.data)
    peak = cpu_peak()
    variants = args.variants.split(",") if args.variants else None
    if args.rows:
        rows = [json.loads(line) for line in Path(args.rows).read_text().splitlines()
                if line.startswith("{")]  # fmt: skip
    else:
        rows = speed_rounds(args.only.split(","), variants, args.rounds, data)
        with open(ROOT / "results" / "cpu_speed.jsonl", "a") as out:
            out.writelines(json.dumps({**r, "date": str(date.today())}) + "\n" for r in rows)
    lines = speed_table(rows, peak)
    lines.append(
        f"\nPeak: {peak['cores']} cores x {peak['ghz']:.2f} GHz x {peak['fp32']} float32 FLOPs "
        f"per cycle (AVX-512: 2 FMA units x 16 lanes x 2) = "
        f"{peak['cores'] * peak['ghz'] * peak['fp32']:.0f} GFLOP/s; bf16 {peak['bf16']} FLOPs "
        f"per cycle ({'AMX-BF16' if 'amx_bf16' in peak['flags'] else 'AVX512_BF16'}) = "
        f"{peak['cores'] * peak['ghz'] * peak['bf16']:.0f} GFLOP/s."
    )
    if args.accuracy:
        lines.append(
            f"\nAccuracy on 4,000 other images after {NETWORKS['quick'][2]} epochs of "
            f"{NETWORKS['quick'][1]:,} images, quick's default point:"
        )
        lines += accuracy_lines(data, args.accuracy)
    command = shlex.join(["python", "bench/cpu_speed.py", *sys.argv[1:]])
    write_section("\n".join([
        f"## CPU training speed: {args.title}", "",
        f"Command: `{command}` ({date.today()}, {peak['cores']} cores, no GPU)", "", *lines, "",
    ]))  # fmt: skip


if __name__ == "__main__":
    main()
