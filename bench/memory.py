"""Memory stays flat over a long search: RSS after each trial of a 30-trial search.

Each fold builds a fresh model; the tuner clears the Keras session between models, yet TensorFlow
keeps about 11 MiB per trained model (keras-team/keras#17458). This script runs the same 30-trial
search of small models on the embedded digits twice, side by side: trials in worker processes (the
default) and in-process, and records the search process's RSS when each trial ends.
Goal (issue: reliability): RSS after trial 30 within 10 % of RSS after trial 3.

    .venv/bin/python bench/memory.py            # writes results/memory.md
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from tuner.data.kaggle import Dataset, load_embedded  # noqa: E402
from tuner.search.driver import run_search  # noqa: E402
from tuner.search.plan import SearchConfig
from tuner.space.spaces import load_space  # noqa: E402
from tuner.ui.events import Reporter  # noqa: E402

TRIALS = 30
SPACE = """
[search]
max_trials = 30
folds = 2
[hyperparameters]
input_batch_norm = { type = "boolean" }
conv_blocks = { type = "int", min = 1, max = 3 }
conv_filters = { type = "choice", values = [8, 12, 16] }
dense_layers = { type = "int", min = 1, max = 2 }
dense_units = { type = "choice", values = [16, 32, 64] }
learning_rate = { type = "float", min = 1e-3, max = 3e-3, sampling = "log" }
batch_size = 64
epochs = 1
augment_strength = 1.0
"""


def rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


class RssReporter(Reporter):
    def __init__(self):
        self.rss: list[float] = []

    def trial_end(self, record):
        self.rss.append(rss_mib())
        print(
            f"trial {record.trial_id:>2} {record.state.value:8} RSS {self.rss[-1]:7.1f} MiB",
            flush=True,
        )


def measure(train, space_path: Path, isolate: bool) -> tuple[list[float], float]:
    with tempfile.TemporaryDirectory() as tmp:
        reporter = RssReporter()
        started = time.perf_counter()
        config = SearchConfig("memory", Path(tmp), isolate=isolate)
        run_search(train, load_space(space_path), config, reporter)
        return reporter.rss, time.perf_counter() - started


def main() -> int:
    embedded = load_embedded()
    train = Dataset(embedded.train.images[:1000], embedded.train.labels[:1000], "embedded[:1000]")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        space_path = Path(tmp) / "memory.toml"
        space_path.write_text(SPACE)
        for isolate in (True, False):
            print(f"-- trials {'in worker processes' if isolate else 'in-process'}", flush=True)
            rss, seconds = measure(train, space_path, isolate)
            rows.append((isolate, rss, seconds))
    lines = [
        "# Memory over a long search",
        "",
        f"Command: `.venv/bin/python bench/memory.py` ({TRIALS} trials x 2 folds of small CNNs, "
        "1,000 embedded digits, 1 epoch, augmentation on; both modes in one run).",
        "RSS of the search process when each trial ends. Goal: RSS after trial 30 within 10 % of RSS "
        "after trial 3.",
        "",
        "| trials run | RSS after trial 3 | RSS after trial 30 | ratio | goal | wall time |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    ok = True
    for isolate, rss, seconds in rows:
        ratio = rss[TRIALS - 1] / rss[2]
        met = ratio <= 1.10
        ok = ok and (met or not isolate)
        lines.append(
            f"| {'in a worker process each (default)' if isolate else 'in-process (--in-process)'} "
            f"| {rss[2]:.1f} MiB | {rss[TRIALS - 1]:.1f} MiB | {ratio:.3f} "
            f"| {'met' if met else 'not met'} | {seconds:.0f} s |"
        )
    lines.append("")
    for isolate, rss, _ in rows:
        lines.append(
            f"RSS after each trial, {'worker' if isolate else 'in-process'} (MiB): "
            + ", ".join(f"{r:.0f}" for r in rss)
        )
        lines.append("")
    Path("results").mkdir(exist_ok=True)
    Path("results/memory.md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
