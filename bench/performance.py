"""Performance of the trainer, measured side by side in one run.

    .venv/bin/python bench/performance.py                      # every section, real data
    .venv/bin/python bench/performance.py --only throughput,augment

Sections (each writes a table to results/benchmarks.md, replacing its earlier table):

- throughput: images/s of one fold's training inside a search (``train_trial_in_process``: a
  worker process, the CV fold as validation data) vs a plain ``model.fit`` of the same model, data
  and batch size in a fresh process. Goal >= 0.95x.
- augment: time of an epoch (the second: the first includes tracing) with on-the-fly augmentation
  vs without. Goal <= 1.15x.
- memory: peak RSS (the search process and its worker together) of a 5-fold search with
  augmentation vs the seed notebook's way: 9 augmented float32 copies of the training fold
  materialized beside it before fitting. Goal <= 1.5 GiB.

Search strategies (pruning, Hyperband) are judged by bench/replay.py on the learning-curve table of
bench/curves.py: hundreds of replayed searches, not one (a single search could not tell a good
pruner from one that kills every trial after the first, when the first happens to be the best).

Every measurement runs in a fresh process, one at a time, so that they do not share the cores.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from child import run_child
from results_file import write_section

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "digit-recognizer"

# The point of the quick profile that the throughput, augment and memory sections train.
MODEL = {
    "input_batch_norm": False,
    "conv_blocks": 2,
    "convs_per_block": 2,
    "conv_filters": 32,
    "kernel_size": 3,
    "conv_batch_norm": False,
    "conv_dropout": 0.2,
    "dense_layers": 1,
    "dense_units": 128,
    "dense_dropout": 0.3,
    "learning_rate": 2e-3,
    "lr_decay": True,
    "batch_size": 128,
    "epochs": 2,
    "augment_strength": 0.5,
}
REPEATS = 2  # each side of a comparison runs this often, interleaved; the best run counts

# Runs in a fresh interpreter: prints one JSON line with its measurements.
CHILD = textwrap.dedent(
    """
    import json, os, resource, sys, time
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from tuner.backend import import_keras_quietly
    keras = import_keras_quietly()
    import numpy as np
    from tuner.data.kaggle import load_data
    from tuner.models.cnn import build_model
    from tuner.data.splits import fold_indices
    args = json.loads(sys.argv[1])
    train = load_data(args["data"], test=False).train
    x, y = train.images, train.labels
    train_idx, val_idx = fold_indices(y, 5, 0)[0]
    values = {**args["model"], **args.get("override", {})}
    out = {}
    if args["kind"] == "plain":
        keras.utils.set_random_seed(0)
        model = build_model(values, seed=0, train_size=len(train_idx))
        started = time.perf_counter()
        model.fit(x[train_idx], y[train_idx], validation_data=(x[val_idx], y[val_idx]),
                  epochs=values["epochs"], batch_size=values["batch_size"], verbose=0)
        out["seconds"] = time.perf_counter() - started
        out["images"] = len(train_idx) * values["epochs"]
    elif args["kind"] == "trainer":
        from tuner.training.folds import train_trial_in_process
        outcome = train_trial_in_process(values, x, y, [(train_idx, val_idx)], 0, "0")
        out["seconds"] = outcome.folds[0].train_seconds
        out["images"] = len(train_idx) * values["epochs"]
    elif args["kind"] == "epoch":
        class Timer(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                self.started = time.perf_counter()
            def on_epoch_end(self, epoch, logs=None):
                out.setdefault("epochs", []).append(time.perf_counter() - self.started)
        keras.utils.set_random_seed(0)
        model = build_model(values, seed=0, train_size=len(train_idx))
        model.fit(x[train_idx], y[train_idx], epochs=values["epochs"],
                  batch_size=values["batch_size"], verbose=0, callbacks=[Timer()])
    elif args["kind"] == "materialized":
        # The seed notebook: 3 pipelines x 3 copies of every training image, as float32 arrays,
        # concatenated with the originals, then fit (a few steps: memory, not accuracy).
        layers = keras.layers
        pipelines = [
            keras.Sequential([layers.RandomTranslation(0.1, 0.1), layers.RandomRotation(0.1)]),
            keras.Sequential([layers.RandomTranslation(0.1, 0.1), layers.RandomZoom(0.15)]),
            keras.Sequential([layers.RandomTranslation(0.1, 0.1), layers.RandomRotation(0.1),
                              layers.RandomZoom(0.15)]),
        ]
        images = x[train_idx].astype("float32") / 255.0
        copies = [images]
        for pipeline in pipelines:
            for _ in range(3):
                copies.append(np.concatenate([
                    np.asarray(pipeline(images[i:i + 4096], training=True))
                    for i in range(0, len(images), 4096)
                ]))
        x_aug = np.concatenate(copies)
        y_aug = np.tile(y[train_idx], len(copies))
        del copies
        model = build_model({**values, "augment_strength": 0.0}, seed=0)
        model.fit(x_aug * 255.0, y_aug, epochs=1, steps_per_epoch=20,
                  batch_size=values["batch_size"], verbose=0)
        out["images"] = int(len(x_aug))
    out["peak_rss_kib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print("RESULT " + json.dumps(out))
    """
)


def child(kind: str, data: Path, override: dict | None = None) -> dict:
    args = {"kind": kind, "data": str(data), "model": MODEL, "override": override or {}}
    return run_child(CHILD, args, kind)


def tree_memory_kib(pid: int) -> tuple[int, int]:
    """(PSS, RSS) of a process and all its descendants, summed, from /proc (KiB).

    PSS counts a page shared by n processes (TensorFlow's libraries, loaded by the search process
    and by its trial worker) as 1/n in each, so its sum is the memory the tree really holds; the
    RSS sum counts shared pages once per process.
    """
    pss = rss = 0
    stack = [pid]
    while stack:
        current = stack.pop()
        try:
            with open(f"/proc/{current}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        pss += int(line.split()[1])
                    elif line.startswith("Rss:"):
                        rss += int(line.split()[1])
            with open(f"/proc/{current}/task/{current}/children") as f:
                stack.extend(int(c) for c in f.read().split())
        except (FileNotFoundError, ProcessLookupError, PermissionError, ValueError):
            continue
    return pss, rss


def watch(command: list[str]) -> tuple[float, int, int, str]:
    """Runs ``command``; returns (wall seconds, peak PSS, peak RSS of its tree in KiB, output)."""
    started = time.perf_counter()
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "COLUMNS": "100"},
    )
    peak_pss = peak_rss = 0
    while process.poll() is None:
        pss, rss = tree_memory_kib(process.pid)
        peak_pss, peak_rss = max(peak_pss, pss), max(peak_rss, rss)
        time.sleep(0.2)
    output = process.stdout.read()
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{output[-4000:]}")
    return time.perf_counter() - started, peak_pss, peak_rss, output


def section(title: str, command: str, lines: list[str]) -> str:
    return "\n".join([f"## {title}", "", f"Command: `{command}`", "", *lines, ""])


def throughput(data: Path) -> str:
    runs: dict[str, list[dict]] = {"plain": [], "trainer": []}
    for _ in range(REPEATS):
        for kind in runs:
            runs[kind].append(child(kind, data))
    rate = {k: max(r["images"] / r["seconds"] for r in v) for k, v in runs.items()}
    plain = runs["plain"][0]
    ratio = rate["trainer"] / rate["plain"]
    return section(
        "Trainer throughput: one fold inside a search vs plain model.fit",
        "python bench/performance.py --only throughput",
        [
            f"Real data, fold 1 of 5 ({plain['images'] // MODEL['epochs']:,} training images), "
            f"{MODEL['epochs']} epochs, batch {MODEL['batch_size']}, the quick profile's default "
            "model, augmentation on, the CV fold as validation data in both; each run in a "
            f"fresh process, {REPEATS} runs of each interleaved, the faster counts.",
            "",
            "| run | images/s | vs plain fit |",
            "| --- | --- | --- |",
            f"| plain `model.fit` | {rate['plain']:,.0f} | 1.00x |",
            f"| one fold in a search (worker process) | {rate['trainer']:,.0f} | {ratio:.2f}x |",
            "",
            f"Goal >= 0.95x: {'met' if ratio >= 0.95 else 'not met'}.",
        ],
    )


def augment(data: Path) -> str:
    timed: dict[str, list[float]] = {"with": [], "without": []}
    for _ in range(REPEATS):
        timed["with"].append(child("epoch", data)["epochs"][-1])
        timed["without"].append(child("epoch", data, {"augment_strength": 0.0})["epochs"][-1])
    a, b = min(timed["with"]), min(timed["without"])
    ratio = a / b
    return section(
        "Epoch time with on-the-fly augmentation vs without",
        "python bench/performance.py --only augment",
        [
            "Real data, fold 1 of 5, the quick profile's default model, batch "
            f"{MODEL['batch_size']}; the second epoch of each run (the first includes tracing); "
            f"{REPEATS} runs of each interleaved, the faster counts.",
            "",
            "| run | epoch time | vs no augmentation |",
            "| --- | --- | --- |",
            f"| no augmentation | {b:.1f} s | 1.00x |",
            f"| augmentation (seed's pipelines, strength 0.5) | {a:.1f} s | {ratio:.2f}x |",
            "",
            f"Goal <= 1.15x: {'met' if ratio <= 1.15 else 'not met'}.",
        ],
    )


def memory(data: Path, tmp: Path) -> str:
    space = tmp / "memory.toml"
    body = "\n".join(f"{k} = {json.dumps(v)}" for k, v in {**MODEL, "epochs": 1}.items())
    space.write_text(f"[search]\nmax_trials = 1\nfolds = 5\n[hyperparameters]\n{body}\n")
    search = [sys.executable, "-m", "tuner.cli", "search", "--data", str(data)]
    search += ["--space", str(space), "--results-dir", str(tmp)]
    rows = []
    gib = 1024**2
    for label, extra in (
        ("digit-tuner search (a worker process per trial, the default)", ["--name", "w"]),
        ("digit-tuner search --in-process", ["--name", "p", "--in-process"]),
    ):
        seconds, pss, rss, _ = watch(search + extra)
        rows.append((label, pss, rss, seconds))
    args = {"kind": "materialized", "data": str(data), "model": MODEL, "override": {}}
    seconds, pss, rss, _ = watch([sys.executable, "-c", CHILD, json.dumps(args)])
    rows.append(("seed's way: 9 augmented float32 copies of the training fold + fit", pss, rss, 0))
    met = rows[0][1] / gib <= 1.5
    return section(
        "Peak memory of a 5-fold search with augmentation",
        "python bench/performance.py --only memory",
        [
            "Real data (42,000 images), 1 trial x 5 folds x 1 epoch of the quick profile's "
            "default model. Peak over the run of the memory of the process tree (the command "
            "and its trial worker), sampled every 0.2 s from /proc: PSS (shared pages split "
            "between the processes that share them: what the tree really holds) and the RSS "
            "sum (shared pages, e.g. TensorFlow's libraries, counted once per process). The "
            "seed's way materializes 3 pipelines x 3 augmented copies of the 33,600-image "
            "training fold as float32, as the notebook did, and fits on them (20 steps).",
            "",
            "| run | peak PSS | peak RSS sum | wall time |",
            "| --- | --- | --- | --- |",
            *(
                f"| {label} | {pss / gib:.2f} GiB | {rss / gib:.2f} GiB | "
                + (f"{seconds:.0f} s |" if seconds else "- |")
                for label, pss, rss, seconds in rows
            ),
            "",
            f"Goal <= 1.5 GiB (peak PSS of the default search): {'met' if met else 'not met'}.",
        ],
    )


def write(text: str) -> None:
    write_section(text)
    print(text, flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--only", default="throughput,augment,memory")
    args = parser.parse_args()
    wanted = args.only.split(",")
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        if "throughput" in wanted:
            write(throughput(args.data))
        if "augment" in wanted:
            write(augment(args.data))
        if "memory" in wanted:
            write(memory(args.data, tmp))
    return 0


if __name__ == "__main__":
    sys.exit(main())
