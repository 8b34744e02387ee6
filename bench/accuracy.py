"""Final recipes compared on a real-data holdout, with the compute each took.

The candidates: the seed notebook's v5 (as many of its 100 epochs as the budget allows), the best
single model of a search (retrained), the folds ensemble (the winner's K fold models), the top-K
ensemble (the K best trials, retrained), each with and without test-time augmentation (TTA).

    # 1. a search that holds 10 % of the training data out (about 30 min on 2 cores)
    digit-tuner search --data ../shared/data/digit-recognizer --space quick --holdout 0.1 \\
        --trials 3 --no-prune --time-budget 40 --name accuracy-cpu
    # 2. this script: `digit-tuner export` with --ensemble folds and top-K, then v5 on the same split
    .venv/bin/python bench/accuracy.py --search accuracy-cpu --top 2 --v5-epochs 4,10

Every candidate is scored on the same holdout, which neither the search, the retrains nor the v5
run saw. The exports run as a user runs them (a fresh `digit-tuner export` process each), and their
holdout table is what is recorded; v5 trains in a fresh process on the search's training part with
the seed's augmentation on the fly, and is scored with the same TTA code. The last export leaves
its `best.keras` and `submission.csv` in the search directory. Writes its section of
results/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

from child import run_child
from results_file import write_section

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tuner.storage.directory import MANIFEST, TUNER_DIR  # noqa: E402
from tuner.storage.manifest import read_manifest  # noqa: E402
from tuner.storage.records import load_records, ranked  # noqa: E402

TITLE = "## Final recipes on a real-data holdout: v5, single, ensembles, TTA"


def v5_on_search_part(args: dict) -> dict:
    """Trains v5 on the search's training part (``tuner.training.fit.fit_model``, the path of the
    search's folds and of the export's retrain) and scores it on the holdout with and without
    TTA. Runs in a fresh interpreter (``python bench/accuracy.py --v5-child JSON``)."""
    from tuner.backend import has_gpu, import_keras_quietly, precision

    import numpy as np

    from tuner.data.splits import search_part
    from tuner.export.inference import predict_tta
    from tuner.search.driver import load_search
    from tuner.space.spaces import V5
    from tuner.training.fit import Recipe, fit_model

    import_keras_quietly()
    directory = Path(args["search"])
    train, _, config = load_search(directory)
    part, holdout = search_part(read_manifest(directory), train)
    values = {**V5, "epochs": args["epochs"]}
    with precision(None) as mixed:  # as export does: float16 compute on a GPU
        recipe = Recipe(values)
        model, history, seconds, _ = fit_model(recipe, part.images, part.labels, seed=config.seed)
        out = {"seconds": seconds, "images": len(part), "epochs": values["epochs"],
               "train_accuracy": history["accuracy"], "params": model.count_params(),
               "gpu": has_gpu(), "mixed_precision": mixed}  # fmt: skip
        for n in (1, 5):
            predicted = np.argmax(predict_tta([model], holdout.images, n), axis=1)
            out[f"tta{n}"] = float(np.mean(predicted == holdout.labels))
    return out


def export(search: Path, ensemble: str) -> tuple[dict, float]:
    """Runs `digit-tuner export` in a fresh process; (the manifest's export section, seconds)."""
    started = time.perf_counter()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tuner.cli",
            "export",
            str(search),
            "--ensemble",
            ensemble,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "100"},
    )
    seconds = time.perf_counter() - started
    print(done.stdout[-3000:], flush=True)
    if done.returncode != 0:
        raise SystemExit(f"export --ensemble {ensemble} failed:\n{done.stderr[-3000:]}")
    return json.loads((search / MANIFEST).read_text())["export"], seconds


def train_v5(search: Path, epochs: int) -> dict:
    args = {"search": str(search), "epochs": epochs}
    return run_child([__file__, "--v5-child", json.dumps(args)], None, "v5")


def pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.2f}"


def errors(x: float | None, n: int) -> str:
    return "-" if x is None else f"{round((1 - x) * n)}"


def minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min"


def main() -> None:
    if sys.argv[1:2] == ["--v5-child"]:  # the fresh interpreter of train_v5
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        print("RESULT " + json.dumps(v5_on_search_part(json.loads(sys.argv[2]))), flush=True)
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--search", required=True, help="search name under results/, or a path")
    parser.add_argument("--top", type=int, default=2, help="K of the top-K ensemble")
    parser.add_argument(
        "--v5-epochs",
        default="4",
        help="v5's epochs (the seed: 100); a comma-separated list trains v5 once per count",
    )
    parser.add_argument(
        "--retrain-v5",
        action="store_true",
        help="retrain v5 even where results/<search>/v5-<E>-epochs.json has its figures",
    )
    args = parser.parse_args()

    search = Path(args.search)
    if not search.is_dir():
        search = ROOT / "results" / args.search
    manifest = read_manifest(search)
    config = manifest["config"]
    if not config.get("holdout"):
        raise SystemExit(f"{search}: the search kept no holdout; rerun it with --holdout 0.1")
    n = int(config["holdout_size"])
    records = load_records(search / TUNER_DIR)
    complete = ranked(records)  # the export's ranking
    if len(complete) < args.top:
        raise SystemExit(f"{search}: {len(complete)} completed trial(s), --top {args.top}")
    best = complete[0]
    search_seconds = sum(r.seconds or 0.0 for r in records)
    fold_epochs = sum(f.epochs for f in best.folds)
    fold_images = best.folds[0].train_size

    v5_runs = []  # v5 takes long on a CPU: each count's figures are kept in the search directory
    for epochs in sorted(int(e) for e in args.v5_epochs.split(",")):
        cache = search / f"v5-{epochs}-epochs.json"
        if cache.is_file() and not args.retrain_v5:
            v5 = json.loads(cache.read_text())
        else:
            print(f"v5: {epochs} epoch(s) ...", flush=True)
            v5 = train_v5(search, epochs)
            cache.write_text(json.dumps(v5, indent=2))
        print(f"v5: {v5}", flush=True)
        v5_runs.append(v5)
    folds, folds_seconds = export(search, "folds")
    top, top_seconds = export(search, f"top-{args.top}")
    h_folds, h_top = folds["holdout_accuracy"], top["holdout_accuracy"]
    top_name = f"top-{args.top}"
    retrain_each = top["retrain_seconds"] / args.top
    retrain_images = top["retrain_images"]
    retrain_epochs = top["retrain_epochs"]

    rows = [
        (
            f"seed's v5, {v5['epochs']} of its 100 epochs",
            "1",
            f"{v5['images']:,} x {v5['epochs']}",
            v5["tta1"],
            v5["tta5"],
            None,
            minutes(v5["seconds"]),
        )
        for v5 in v5_runs
    ] + [
        (
            f"best single (trial {best.trial_id}, retrained)",
            "1",
            f"{retrain_images:,} x {retrain_epochs}",
            h_top["single"],
            h_top["single+tta5"],
            best.oof_accuracy,
            f"search + {minutes(retrain_each)}",
        ),
        (
            f"folds ensemble (trial {best.trial_id}'s {len(best.folds)} fold models)",
            str(len(best.folds)),
            f"{len(best.folds)} x {fold_images:,} x {fold_epochs // len(best.folds)}",
            h_folds["folds"],
            h_folds["folds+tta5"],
            best.oof_accuracy,
            "search + 0",
        ),
        (
            f"{top_name} ensemble (trials {', '.join(top['members'])}, retrained)",
            str(args.top),
            f"{args.top} x {retrain_images:,} x {retrain_epochs}",
            h_top[top_name],
            h_top[f"{top_name}+tta5"],
            None,
            f"search + {minutes(top['retrain_seconds'])}",
        ),
    ]
    best_row = max(rows, key=lambda r: max(r[3], r[4]))
    best_acc = max(best_row[3], best_row[4])
    half_width = 1.96 * math.sqrt(best_acc * (1 - best_acc) / n)
    fold_scores = ", ".join(pct(h_folds[f"fold {i + 1}"]) for i in range(len(best.folds)))

    table = [
        "| recipe | models | images x epochs | holdout % | + TTA 5 | errors (of "
        f"{n:,}) | OOF % | training compute |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, models, seen, plain, tta, oof, compute in rows:
        table.append(
            f"| {name} | {models} | {seen} | {pct(plain)} | {pct(tta)} | "
            f"{errors(plain, n)} / {errors(tta, n)} | {pct(oof)} | {compute} |"
        )
    v5 = v5_runs[-1]
    rate = v5["images"] * v5["epochs"] / v5["seconds"]
    curve = ", ".join(pct(a) for a in v5["train_accuracy"])
    lines = [
        TITLE,
        "",
        f"Command: `python bench/accuracy.py --search {search.name} --top {args.top} "
        f"--v5-epochs {args.v5_epochs}` after the search `{search.name}`: space "
        f"`{manifest['space']['name']}`, {config['folds']}-fold CV, {len(records)} trials "
        f"({len(complete)} complete), seed {config['seed']}, holdout {config['holdout']} "
        f"({n:,} images, stratified, seen by no candidate). Data: {manifest['data']['source']}. "
        f"Backend {manifest['backend']}, {os.cpu_count()} cores, "
        f"{'a GPU' if v5.get('gpu') else 'no GPU'}.",
        "",
        *table,
        "",
        f"- Search: {minutes(search_seconds)} of trials in all (the best, trial {best.trial_id}: "
        f"CV {pct(best.mean)} ± {pct(best.std)} %). Each `export` process, loading and "
        f"predicting included: folds {minutes(folds_seconds)}, {top_name} {minutes(top_seconds)}.",
        f"- The folds ensemble's members alone score {fold_scores} % on the holdout. OOF % is "
        "the winner's out-of-fold accuracy over the search part; it cannot judge an ensemble.",
        f"- v5 trained at {rate:.0f} images/s ({v5['params']:,} parameters, batch 64, Adam 1e-4, "
        f"the seed's augmentation on the fly); training accuracy by epoch ({v5['epochs']} epochs): "
        f"{curve} %.",
        f"- Best: {best_row[0]}, {pct(best_acc)} %. With {n:,} holdout images one error is "
        f"{100 / n:.3f} points, and the 95 % interval of an accuracy near {pct(best_acc)} % is "
        f"± {100 * half_width:.2f} points: rows closer than that are not told apart here.",
        "",
    ]
    text = "\n".join(lines)
    write_section(text)
    print(text)


if __name__ == "__main__":
    main()
