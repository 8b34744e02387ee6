"""The distributed chief under load: many honest workers at once, every request over TLS.

A chief (``tuner.distributed.chief.serve``, in a process of its own as in a distributed search)
serves a search of ``--trials`` trials to ``--workers`` workers (threads in ``--processes``
processes), each running the worker's side of keras-tuner's protocol with its own credentials:
create a trial, write its folds' records (``cv.json``), report, end it COMPLETED, again until the
chief says the search is over. The trials train nothing, so what is measured is the chief: its
throughput, each request kind's latency, the refusals and errors, and whether every trial ended
exactly once and the chief stopped by itself.

    .venv/bin/python bench/chief_load.py --workers 64 --trials 2000   # appends to results/benchmarks.md
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import threading
import time
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SECRET = "load-test-secret-" * 4
KINDS = ("CreateTrial", "UpdateTrial", "EndTrial")


def make_oracle(directory: Path, trials: int):
    import keras_tuner

    hp = keras_tuner.HyperParameters()
    hp.Float("x", 0.0, 1.0)
    oracle = keras_tuner.oracles.RandomSearchOracle(
        objective=keras_tuner.Objective("val_accuracy", "max"), max_trials=trials,
        hyperparameters=hp, seed=1, allow_new_entries=False, tune_new_entries=False,
    )  # fmt: skip
    oracle._set_project_dir(str(directory), "tuner")
    return oracle


def run_chief(directory: str, port: int, trials: int, out: str) -> None:
    """The chief's process: serves until the search is over, then writes what its oracle holds."""
    from tuner.distributed.certificate import chief_certificate
    from tuner.distributed.chief import ChiefGuard, serve

    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - keras-tuner's oracle prints each trial's end
    directory = Path(directory)
    guard = ChiefGuard(make_oracle(directory, trials), directory / "tuner", SECRET)
    started = time.perf_counter()
    serve(guard, "127.0.0.1", port, certificate=chief_certificate(directory), poll=0.2)
    states: dict[str, int] = {}
    for trial in guard.oracle.trials.values():
        states[str(trial.status)] = states.get(str(trial.status), 0) + 1
    Path(out).write_text(json.dumps({"seconds": time.perf_counter() - started, "states": states,
                                     "admitted": len(guard.admitted)}))  # fmt: skip


def worker(directory: Path, port: int, name: str, certificate: bytes, log: list) -> None:
    """One honest worker: trials until the chief has none left; each request timed."""
    from keras_tuner.src import protos

    from tuner.distributed.chief import authenticate_worker
    from tuner.distributed.secret import worker_key

    client = types.SimpleNamespace()
    authenticate_worker(client, "127.0.0.1", port, name, worker_key(SECRET, name), certificate)
    service = protos.get_service()

    def call(kind, request):
        at, started = time.time(), time.perf_counter()
        try:
            answer = getattr(client.stub, kind)(request, timeout=120)
            log.append((kind, time.perf_counter() - started, None, at))
            return answer
        except Exception as e:  # noqa: BLE001 - counted, not raised: the load goes on
            log.append((kind, time.perf_counter() - started, type(e).__name__, at))
            return None

    while True:
        answer = call("CreateTrial", service.CreateTrialRequest(tuner_id=name))
        if answer is None:
            continue
        trial = answer.trial
        if trial.status == protos.get_proto().TrialStatus.STOPPED:
            return
        folder = directory / "tuner" / f"trial_{trial.trial_id}"
        folder.mkdir(parents=True, exist_ok=True)
        record = {"folds": [{"val_accuracy": 0.9}, {"val_accuracy": 0.92}], "worker": name}
        (folder / "cv.json").write_text(json.dumps(record))
        call("UpdateTrial", service.UpdateTrialRequest(
            trial_id=trial.trial_id, metrics={"val_accuracy": 0.91}, step=0))  # fmt: skip
        trial.status = protos.get_proto().TrialStatus.COMPLETED
        call("EndTrial", service.EndTrialRequest(trial=trial))


def run_workers(directory: str, port: int, names: list[str], out: str) -> None:
    """A process of worker threads; writes every request's (kind, seconds, error)."""
    certificate = (Path(directory) / "chief.crt").read_bytes()
    log: list = []
    threads = [threading.Thread(target=worker, args=(Path(directory), port, n, certificate, log))
               for n in names]  # fmt: skip
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    Path(out).write_text(json.dumps(log))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure(workers: int, trials: int, processes: int) -> dict:
    from tuner.distributed.certificate import chief_certificate
    from tuner.distributed.launcher import free_port

    context = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory() as tmp:
        directory, port = Path(tmp), free_port()
        chief_certificate(directory)  # the chief's process reads the same files
        chief_out = directory / "chief.json"
        chief = context.Process(target=run_chief, args=(tmp, port, trials, str(chief_out)))
        chief.start()
        time.sleep(8)  # the chief's process imports Keras before it listens
        names = [f"worker{i}" for i in range(workers)]
        groups = [names[i::processes] for i in range(processes)]
        outs = [directory / f"workers{i}.json" for i in range(processes)]
        procs = [context.Process(target=run_workers, args=(tmp, port, g, str(o)))
                 for g, o in zip(groups, outs, strict=True)]  # fmt: skip
        for p in procs:
            p.start()
        for p in procs:
            p.join()
        chief.join(timeout=60)
        log = [entry for o in outs for entry in json.loads(o.read_text())]
        # from the first request to the last answer: the workers' start-up is not the chief's
        wall = max(at + s for _, s, _, at in log) - min(at for *_, at in log)
        ended = json.loads(chief_out.read_text()) if chief_out.exists() else None
    return {"wall": wall, "log": log, "chief": ended, "chief_stopped": not chief.is_alive()}


def table(args, result: dict) -> list[str]:
    log, chief = result["log"], result["chief"] or {}
    lines = [
        "| request | count | errors | p50 ms | p95 ms | p99 ms | max ms |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for kind in KINDS:
        seconds = [s for k, s, _, _ in log if k == kind]
        errors = sum(1 for k, _, e, _ in log if k == kind and e)
        if seconds:
            ms = [1000 * s for s in seconds]
            lines.append(f"| {kind} | {len(ms):,} | {errors} | {statistics.median(ms):.1f} | "
                         f"{percentile(ms, 0.95):.1f} | {percentile(ms, 0.99):.1f} | "
                         f"{max(ms):.0f} |")  # fmt: skip
    completed = chief.get("states", {}).get("COMPLETED", 0)
    lines += [
        "",
        f"- {args.workers} workers in {args.processes} processes, {args.trials:,} trials: "
        f"{result['wall']:.1f} s from the first request to the last answer, "
        f"{completed / result['wall']:.1f} trials/s.",
        f"- The chief's oracle at its end: {json.dumps(chief.get('states'))}; workers admitted "
        f"{chief.get('admitted')}; the chief stopped by itself: "
        f"{'yes' if result['chief_stopped'] else 'no'}.",
    ]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=64)
    parser.add_argument("--trials", type=int, default=2000)
    parser.add_argument("--processes", type=int, default=4, help="worker processes")
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    result = measure(args.workers, args.trials, args.processes)
    lines = table(args, result)
    print("\n".join(lines))
    if not args.no_record:
        from results_file import write_section

        command = (f"python bench/chief_load.py --workers {args.workers} --trials {args.trials} "
                   f"--processes {args.processes}")  # fmt: skip
        title = (
            f"## The chief under load: {args.workers} honest workers, {args.trials:,} trials, TLS"
        )
        said = (f"`{command}` ({time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores, no GPU; "
                "every request over TLS with its worker's credentials; the trials train nothing, "
                "so the chief is what is measured)")  # fmt: skip
        write_section("\n\n".join([title, said, "\n".join(lines)]) + "\n")


if __name__ == "__main__":
    main()
