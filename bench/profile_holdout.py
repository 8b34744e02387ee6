"""A CPU profile against the hand-written baseline, on a 10 % holdout, at the same wall time.

Each seed is run as Kaggle runs it: the seed's stratified 10 % of train.csv (``tuner.data.splits``,
the images bench/handwritten.py scores on) is written as a ``test.csv.gz`` without labels, the other
90 % as ``train.csv.gz``, and `digit-tuner run --data THAT --space SPACE --seed S` (the profile as a
user runs it, its own settings, a holdout of its own included) writes ``submission.csv``, scored
here against the held-out labels. The wall time is the command's, start to end (search, retrain,
export). The baseline: `bench/handwritten.py --seed S --minutes W` (the plain Keras CNN, as many
epochs as fit in the profile's wall time W). Where results/handwritten.jsonl has a ``--curve`` run
of the seed (holdout scored after every epoch) long enough, the baseline is read from it: its
learning rate does not depend on the number of epochs, so its epoch k is the k-epoch run, taken at
the last epoch that ends within W.

The estimate: the table says whether the interval `run` printed covers the submission's score on
the held-out 10 %. The second table is the estimate a run without a holdout of its own would have
printed: the best trial's out-of-fold accuracy plus the profile's gain (the single retrained
model's score on the run's holdout minus out-of-fold, the `[estimate]` table of the space), each
seed's computed with the mean gain of the other seeds (leave one seed out). The seed's v5 is read
from a `bench/handwritten.py --recipe v5 --seed S --curve` run long enough (it is not started here:
at about 160 images/s it needs the whole wall time again); without one its row says so.

    .venv/bin/python bench/profile_holdout.py --space quick --seeds 0 1 2   # ~30 min a seed

A finished seed is not rerun (its run directory, results/bench-runs/PREFIX-hS, and baseline line
are reused). Writes its section of results/benchmarks.md.
"""

from __future__ import annotations

import argparse
import itertools
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from results_file import write_section

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tuner.data.files import find_data_files  # noqa: E402
from tuner.data.splits import holdout_indices  # noqa: E402
from tuner.export.recipes import candidate_name  # noqa: E402
from tuner.storage.records import TrialState, load_records  # noqa: E402

TITLE = (
    "## A CPU profile as Kaggle runs it against a hand-written CNN, same wall time, 10 % holdout"
)
HANDWRITTEN = ROOT / "results" / "handwritten.jsonl"
HELD_OUT = 0.1


def kaggle_split(data: str, seed: int, directory: Path) -> np.ndarray:
    """Writes the seed's held-out 10 % of ``data``'s train.csv as ``directory/test.csv.gz`` (no
    labels) and the rest as ``directory/train.csv.gz`` (kept when there); returns the held-out
    labels, in the order of the test file."""
    with find_data_files(data, test=False).train.open_text() as text:
        frame = pd.read_csv(text)
    keep, held = holdout_indices(frame["label"].to_numpy(), HELD_OUT, seed)
    if not (directory / "test.csv.gz").exists():
        directory.mkdir(parents=True, exist_ok=True)
        frame.iloc[keep].to_csv(directory / "train.csv.gz", index=False)
        frame.iloc[held].drop(columns="label").to_csv(directory / "test.csv.gz.part", index=False,
                                                      compression="gzip")  # fmt: skip
        (directory / "test.csv.gz.part").rename(directory / "test.csv.gz")
    return frame["label"].to_numpy()[held]


def run_profile(
    data: str, space: str, seed: int, runs: Path, prefix: str, train: bool = True
) -> dict:
    """The profile's run for ``seed`` (reused when done): its wall time, what it recorded, and its
    submission's score on the held-out 10 %."""
    directory = runs / f"{prefix}-h{seed}"
    timing = directory / "bench_wall.json"
    if not timing.exists() and not train:
        raise SystemExit(f"{directory}: no finished run (--no-train starts none)")
    labels = kaggle_split(data, seed, runs / f"data-h{seed}")
    if not timing.exists():
        start = time.perf_counter()
        command = [str(ROOT / ".venv/bin/digit-tuner"), "run", "--data", str(runs / f"data-h{seed}"),
                   "--space", space, "--seed", str(seed), "--name", directory.name,
                   "--results-dir", str(runs), "--overwrite"]  # fmt: skip
        subprocess.run(command, check=True)
        timing.write_text(json.dumps({"wall_s": time.perf_counter() - start, "command": command}))
    manifest = json.loads((directory / "search.json").read_text())
    records = load_records(directory / "tuner")
    export = manifest["export"]
    recipe = candidate_name(export["ensemble"], export["tta"])
    submitted = pd.read_csv(directory / "submission.csv")["Label"].to_numpy()
    scores = export.get("holdout_accuracy") or {}
    return {
        "oof": manifest["best"]["oof_accuracy"],
        "single": scores.get("single"),  # the recipe without a holdout, on the run's own holdout
        "retrain_images": export["retrain_images"],
        "wall_s": json.loads(timing.read_text())["wall_s"],
        "holdout": float(np.mean(submitted == labels)),  # the submission, scored as Kaggle would
        "estimate": export["estimate"],
        "recipe": recipe,
        "trials": len(records),
        "pruned": sum(r.state is TrialState.PRUNED for r in records),
    }


def covers(estimate: dict, score: float) -> bool:
    return estimate["low"] <= score <= estimate["high"]


HAND = "hand-written CNN (bench/handwritten.py)"
V5 = "the seed's v5 (bench/handwritten.py --recipe v5)"


def from_curve(rows: list[dict], seed: int, minutes: float, recipe: str = HAND) -> dict | None:
    """The baseline at ``minutes`` of wall time, read from a ``--curve`` run of ``seed`` that
    trained past it (None if there is none): the last epoch that ends within the time, counting
    the run's start-up (data, model) as measured."""
    for row in reversed(rows):
        curve, times = row.get("holdout_curve"), row["epoch_seconds"]
        if row["seed"] != seed or row["recipe"] != recipe or not curve:
            continue
        startup = 60 * row["minutes"] - sum(times)
        ends = [startup + end for end in itertools.accumulate(times)]
        budget = row.get("budget_minutes") or 0  # a --minutes run stopped where no epoch fitted
        if ends[-1] < 60 * minutes and budget < minutes - 0.05:
            continue  # too short to say
        k = max((i for i, end in enumerate(ends) if end <= 60 * minutes), default=None)
        if k is None:
            return None
        return row | {
            "epochs": k + 1,
            "holdout_accuracy": curve[k],
            "minutes": ends[k] / 60,
            "read_from_curve": True,
        }
    return None


def run_handwritten(data: str, seed: int, minutes: float, train: bool = True) -> dict | None:
    """The baseline's line for ``seed`` (reused when done), given ``minutes`` of wall time; with
    ``train`` False nothing is started: the seed's --minutes run nearest in wall time, if any
    (the table shows its own minutes)."""

    def rows() -> list[dict]:
        if not HANDWRITTEN.exists():
            return []
        return [
            row
            for row in map(json.loads, HANDWRITTEN.read_text().splitlines())
            if row["seed"] == seed and row["recipe"] == HAND
        ]

    curve = from_curve(rows(), seed, minutes)
    if curve is not None:
        return curve
    timed = [r for r in rows() if r.get("budget_minutes") and not r.get("holdout_curve")]
    done = [r for r in timed if r["budget_minutes"] == round(minutes, 1)]
    if not done and not train:
        return min(timed, key=lambda r: abs(r["minutes"] - minutes), default=None)
    if not done:
        subprocess.run([sys.executable, str(ROOT / "bench/handwritten.py"), "--data", data,
                        "--seed", str(seed), "--minutes", f"{minutes:.1f}"], check=True)  # fmt: skip
        done = [r for r in rows() if r.get("budget_minutes") == round(minutes, 1)]
    return done[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(ROOT.parent / "shared/data/digit-recognizer"))
    parser.add_argument("--space", default="quick", help="the profile (a bundled space)")
    parser.add_argument("--prefix", help="run directories PREFIX-hS (default: the space's name)")
    parser.add_argument(
        "--no-train",
        action="store_true",
        help="start nothing: read the runs there are (a baseline at the nearest wall time)",
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--runs", type=Path, default=ROOT / "results" / "bench-runs")
    args = parser.parse_args()
    lines = [
        TITLE,
        "",
        f"`{' '.join(['python', *sys.argv])}` (2 cores, no GPU). The profile: `digit-tuner run "
        "--data DIR --space SPACE --seed S` on train.csv less the seed's 10 % holdout, that 10 % "
        "given as test.csv; its submission.csv scored against the held-out labels; timed from "
        "start to end (search, retrain, export). 'Covers it': the printed 95 % interval holds "
        "that score. "
        "The baseline: `bench/handwritten.py --seed S --minutes W`, as many epochs as fit in the "
        "profile's wall time W, or read from a `--curve` run at W; the seed's v5 likewise, from a "
        "`--recipe v5 --curve` run. All scored on the same 4,200 held-out images.",
        "",
        "| seed | recipe | wall time | holdout % | printed estimate | covers it | "
        "configurations (pruned) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    profiles = {}
    for seed in args.seeds:
        prefix = args.prefix or args.space
        profile = profiles[seed] = run_profile(
            args.data, args.space, seed, args.runs, prefix, not args.no_train
        )
        base = run_handwritten(args.data, seed, profile["wall_s"] / 60, not args.no_train)
        est = profile["estimate"]
        lines.append(
            f"| {seed} | `{args.space}` profile ({profile['recipe']}) | {profile['wall_s'] / 60:.1f} min | "
            f"{100 * profile['holdout']:.2f} | {100 * est['accuracy']:.2f} ({100 * est['low']:.2f}-"
            f"{100 * est['high']:.2f}, ± {50 * (est['high'] - est['low']):.2f}; {est['method']}) | "
            f"{'yes' if covers(est, profile['holdout']) else '**no**'} | {profile['trials']} "
            f"({profile['pruned']}) |"
        )
        if base is None:
            lines.append(f"| {seed} | hand-written CNN | - | not measured | - | - | 1 |")
        else:
            read = ", read from its per-epoch curve" if base.get("read_from_curve") else ""
            lines.append(
                f"| {seed} | hand-written CNN, {base['epochs']} epochs{read} | "
                f"{base['minutes']:.1f} min | {100 * base['holdout_accuracy']:.2f} | - | - | 1 |"
            )
        v5 = v5_at(seed, profile["wall_s"] / 60)
        lines.append(
            f"| {seed} | the seed's v5, {v5['epochs']} epochs, read from its per-epoch curve | "
            f"{v5['minutes']:.1f} min | {100 * v5['holdout_accuracy']:.2f} | - | - | 1 |"
            if v5
            else f"| {seed} | the seed's v5 | - | not measured (`bench/handwritten.py --recipe v5 "
            f"--seed {seed} --curve --minutes {profile['wall_s'] / 60:.1f}`) | - | - | 1 |"
        )
        print(*lines[-3:], sep="\n", flush=True)
    lines += estimate_lines(profiles)
    write_section("\n".join(lines) + "\n")


def v5_at(seed: int, minutes: float) -> dict | None:
    """v5 at ``minutes`` of wall time, from a ``--recipe v5 --curve`` run (its learning rate is
    constant, so epoch k of one run is the k-epoch run); None if there is none long enough."""
    if not HANDWRITTEN.exists():
        return None
    rows = [json.loads(x) for x in HANDWRITTEN.read_text().splitlines()]
    return from_curve(rows, seed, minutes, V5)


def estimate_lines(profiles: dict[int, dict]) -> list[str]:
    """The estimate without a holdout, per seed: out-of-fold accuracy plus the mean gain of the
    other seeds, against the single model's holdout score; and the [estimate] table."""
    gains = {s: 100 * (p["single"] - p["oof"]) for s, p in profiles.items() if p["single"]}
    lines = [
        "",
        "The estimate without a holdout of the run's own (out-of-fold accuracy + the mean gain "
        "of the other seeds), against the single retrained model's score on the run's holdout:",
        "",
        "| seed | out-of-fold % | holdout % (single) | gain | estimate % (leave one seed out) "
        "| error |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for seed, gain in gains.items():
        p = profiles[seed]
        others = [g for s, g in gains.items() if s != seed]
        if others:
            guess = 100 * p["oof"] + sum(others) / len(others)
            cells = f"{guess:.2f} | {guess - 100 * p['single']:+.2f}"
        else:
            cells = "- | -"
        lines.append(
            f"| {seed} | {100 * p['oof']:.2f} | {100 * p['single']:.2f} | {gain:+.2f} | {cells} |"
        )
    images = sorted({p["retrain_images"] for p in profiles.values()})
    lines += [
        "",
        "The space's `[estimate]` table these seeds measure:",
        "",
        "```toml",
        "[estimate]",
        f"gains = [{', '.join(f'{g:.2f}' for g in gains.values())}]  # seeds {list(gains)}",
        f"train_images = {images[0]}",
        "```",
    ]
    print("\n".join(lines), flush=True)
    return lines


if __name__ == "__main__":
    main()
