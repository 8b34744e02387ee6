"""Every setting of a search, declared once.

A ``Setting`` says what a setting is (its type, bounds and unit), where a user can give it (a
command-line option, a key of a space file's ``[search]`` table), where ``search.json`` records it,
and whether a resumed search may change it. The CLI options, the checks of a ``[search]`` table
and of the settings a user gives (``tuner.search.plan``), the manifest's ``config`` section and the
resume rules are all read from ``SETTINGS``; nothing else spells a setting out. ``SearchConfig`` is
what a search is asked with: one field per setting (``None``: the space's), and where it lives.

Resume rules: a setting that changes how a trial is scored (``Resume.KEEP``) must stay as it was,
or trials scored under different rules would be ranked together; one that changes only what runs
(``Resume.FREE``: trials, budgets, the failure cap, ...) may change, and the search says so.
"""

from __future__ import annotations

import dataclasses
import enum
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "Resume",
    "SearchConfig",
    "Setting",
    "SETTINGS",
    "setting",
    "ORACLES",
    "free_settings",
    "is_a",
    "options",
    "toml_keys",
]

ORACLES = ("random", "bayesian", "hyperband")


class Resume(enum.Enum):
    KEEP = "keep"  # changes how a trial is scored: a resumed search must keep it
    FREE = "free"  # changes only what runs: a resumed search may change it


@dataclass(frozen=True)
class Setting:
    """One setting of a search.

    ``off``: 0 (or, in ``search.json``, null) turns the setting off; a negative value is refused.
    ``low``/``high`` bound a given value (inclusive; ``off`` settings also take 0).
    """

    name: str  # the SearchConfig field
    kind: type  # int, float, bool or str
    help: str  # the CLI option's help
    unit: str = ""  # minutes, images, epochs, configurations, ...
    low: float | None = None
    high: float | None = None
    option: str | None = None  # the command-line flag(s); None: not an option
    toml: str | None = None  # the key in a space file's [search] table; None: not there
    manifest: str | None = None  # the key in search.json's "config"; None: not recorded
    resume: Resume | None = None  # None: not recorded, so nothing to compare
    off: bool = False
    choices: tuple[str, ...] = ()
    negated: bool = False  # a bool whose option turns it off (``--in-process``: isolate=False)

    def check(self, value: Any, where: str = "") -> Any:
        """``value`` if it is of the setting's type and within its bounds, else a ValueError
        naming the setting and the value (``where`` prefixes the name, e.g. a file's path)."""
        name = f"{where}{self.name}"
        if not is_a(value, self.kind):
            raise ValueError(f"{name}: expected {self.kind.__name__}, got {value!r}")
        if self.choices and value not in self.choices:
            raise ValueError(f"{name}: expected one of {', '.join(self.choices)}, got {value!r}")
        if self.kind in (int, float):
            if self.off and value == 0:
                return value
            low, high = self.low, self.high
            if (low is not None and value < low) or (high is not None and value > high):
                bounds = _bounds(low, high)
                if self.off and low:  # 0 lies outside the bounds, and turns the setting off
                    bounds = f"0 (off) or {bounds}"
                unit = f" {self.unit}" if self.unit else ""
                raise ValueError(f"{name}: must be {bounds}{unit}, got {value}")
        return float(value) if self.kind is float else value


def _bounds(low, high) -> str:
    def show(x):
        return str(int(x)) if float(x).is_integer() else f"{x:g}"

    if high is None:
        return f">= {show(low)}"
    if low is None:
        return f"<= {show(high)}"
    return f"within {show(low)}..{show(high)}"


def is_a(value: Any, kind: type) -> bool:
    """Whether ``value`` is of ``kind`` as a setting or a space reads it: a bool is no number, an int
    is a float, a float must be finite."""
    if kind is bool:
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    if kind is int:
        return isinstance(value, int)
    if kind is float:
        return isinstance(value, (int, float)) and math.isfinite(value)
    return isinstance(value, kind)


KEEP, FREE = Resume.KEEP, Resume.FREE

# The table: what each setting is and where it lives (a declarative list).
SETTINGS: tuple[Setting, ...] = (
    Setting("description", str, "what the space is for", toml="description"),
    Setting("max_trials", int, "Trials in all, screens included (default: the space's "
            "max_trials); a screening round shrinks to the trials left, so any count ends with "
            "full trials; a resumed search runs the missing ones.", "trials", low=1,
            option="--trials", toml="max_trials", manifest="max_trials", resume=FREE),
    Setting("folds", int, "K of the stratified K-fold CV (default: the space's folds).", low=2,
            option="--folds", toml="folds", manifest="folds", resume=KEEP),
    Setting("seed", int, "Seeds the oracle, the folds and the models.", low=0, high=2**32 - 1,
            option="--seed", manifest="seed", resume=KEEP),
    Setting("oracle", str, "keras-tuner oracle that picks the trials (default: the space's, else "
            "random).", option="--oracle", toml="oracle", manifest="oracle", resume=KEEP,
            choices=ORACLES),
    Setting("prune", bool, "Stop a trial after a fold when it cannot reach the best trial "
            "(random, bayesian; default: the space's).", option="--prune/--no-prune",
            toml="prune", manifest="prune", resume=KEEP),
    # the pruning rule's smallest noise margin, a fraction of accuracy (tuner.pruners.rule)
    Setting("prune_margin", float, "", low=0.0, high=0.999, manifest="prune_margin", resume=KEEP),
    Setting("early_stopping", int, "Patience in epochs: stop a fold when accuracy on 10 % of its "
            "training part stops improving, and retrain the winner for its best epoch (0: off; "
            "default: the space's).", "epochs", low=1, option="--early-stopping",
            toml="early_stopping", manifest="early_stopping", resume=KEEP, off=True),
    Setting("time_budget", float, "Minutes: start no trial that would end past this, judging by "
            "the longest finished trial (0: no budget; default: the space's).", "minutes",
            low=0.0, option="--time-budget", toml="time_budget", manifest="time_budget_minutes",
            resume=FREE, off=True),
    Setting("run_budget", float, "Minutes for the search and the export's retrain together: "
            "start no trial that would leave too little for the retrain, estimated from the best "
            "trial's speed (0: no budget; default: the space's).", "minutes", low=0.0,
            option="--run-budget", toml="run_budget", manifest="run_budget_minutes",
            resume=FREE, off=True),
    Setting("mixed_precision", bool, "Mixed precision, float32 weights: float16 compute on a "
            "GPU, bfloat16 on a CPU (default: on where a GPU is, or a CPU with bfloat16 in "
            "hardware: AVX512_BF16 or AMX).", option="--mixed-precision/--no-mixed-precision",
            manifest="mixed_precision", resume=KEEP),
    Setting("holdout", float, "Keep this stratified fraction of the training data out of the "
            "search and the retrain, to score the exported recipes on it and measure the expected "
            "score (default: the space's; quick keeps 0.1; 0: none, the export trains on all).",
            low=0.0, high=0.5, option="--holdout", toml="holdout", manifest="holdout",
            resume=KEEP, off=True),
    Setting("search_images", int, "Run the search's folds on a stratified subset of this many "
            "images (more configurations for the time); the export still retrains on all. 0: "
            "all.", "images", low=1, option="--search-images", toml="search_images",
            manifest="search_images", resume=KEEP, off=True),
    Setting("final_epochs", int, "Epochs of the export's final models (default: the space's, "
            "else the winner's own; 0: the winner's). Under a run budget, the most: they train "
            "as many as end within it, never fewer than the winner's own.", "epochs", low=1,
            option="--final-epochs", toml="final_epochs", manifest="final_epochs", resume=FREE,
            off=True),
    Setting("final_models", int, "Models of the winner the export trains, each with its own "
            "seed, and averages (default: the space's, else 1). With a holdout, half of them "
            "(rounded up) train without it and are measured there; the others train on every "
            "image.", "models", low=1, high=64, option="--final-models", toml="final_models",
            manifest="final_models", resume=FREE),
    Setting("budget_images", int, "the search part the time budget is stated for", "images",
            low=1, toml="budget_images"),
    Setting("max_consecutive_failures", int, "Stop after this many failed trials in a row.",
            low=1, option="--max-failures", manifest="max_consecutive_failures", resume=FREE),
    Setting("trial_timeout", float, "Minutes: stop a trial still running after this and mark it "
            "failed (default: the time budget, else the run budget, if any; 0: no limit).",
            "minutes", low=0.0, option="--trial-timeout", manifest="trial_timeout", resume=FREE,
            off=True),
    Setting("isolate", bool, "Train trials in this process instead of a trial process (for "
            "debugging; memory grows over a long search).", option="--in-process",
            manifest="isolate", resume=FREE, negated=True),
    Setting("screen", int, "Screen, then search: rounds of N random configurations trained for "
            "a couple of epochs of fold 1, the best third of them in full (default: the space's; "
            "0: off).", "configurations", low=2, option="--screen", toml="screen",
            manifest="screen", resume=KEEP, off=True),
    Setting("screen_epochs", int, "epochs of fold 1 a screen trains", "epochs", low=1,
            toml="screen_epochs"),
    Setting("screen_keep", int, "screens of a round that go on in full (default: a third)",
            low=1, toml="screen_keep"),
)  # fmt: skip

_BY_NAME = {s.name: s for s in SETTINGS}
PRUNE_MARGIN = 0.002  # the pruning rule's (tuner.pruners.rule.PruneSettings) and the option's


def setting(name: str) -> Setting:
    """The declaration of the setting ``name`` (a SearchConfig field)."""
    return _BY_NAME[name]


def free_settings() -> tuple[str, ...]:
    """The settings a resumed search may change."""
    return tuple(s.name for s in SETTINGS if s.resume is Resume.FREE)


def toml_keys() -> dict[str, Setting]:
    """The keys of a space file's ``[search]`` table."""
    return {s.toml: s for s in SETTINGS if s.toml}


def options() -> tuple[Setting, ...]:
    """The settings a command-line option gives, in the order ``--help`` lists them."""
    return tuple(s for s in SETTINGS if s.option)


@dataclass(frozen=True)
class SearchConfig:
    """How to run a search; ``None`` takes the value from the space file's ``[search]`` table."""

    name: str  # directory name under results_dir
    results_dir: Path = Path("results")
    max_trials: int | None = None  # trials in all, finished ones included (a resume adds up to it)
    folds: int | None = None  # K of StratifiedKFold
    seed: int = 0  # seeds the oracle, the fold assignment and every model
    overwrite: bool = False  # delete an existing search of the same name first
    max_consecutive_failures: int = 3  # stop the search after this many failed trials in a row
    oracle: str | None = None  # random, bayesian or hyperband (keras-tuner's oracles)
    prune: bool | None = None  # stop hopeless trials early (None: the space's; tuner.search.plan)
    # The pruning rule's smallest noise margin (accuracy, a fraction): a trial stops when its
    # score at a fold's epoch, or its mean over the folds so far, is below the 75th percentile of
    # the earlier trials' at that point less max(prune_margin, 3 sd of the noise) (tuner.pruners.rule).
    prune_margin: float = PRUNE_MARGIN
    early_stopping: int | None = None  # patience in epochs; 0 turns off the space's setting
    # Minutes: start no trial that would end past this (a trial is expected to take as long as
    # the longest finished one); 0 turns off the space's setting. A resumed search starts anew.
    time_budget: float | None = None
    # Minutes for the search and the export's retrain together: start no trial that would end
    # later than this less the retrain's estimated time (``tuner.search.budget``); 0 turns off the
    # space's setting. A resumed search starts anew.
    run_budget: float | None = None
    mixed_precision: bool | None = None  # float16 compute; None: on where a GPU is
    # A stratified fraction of the training data kept out of the search and the retrain, to judge
    # final recipes (single model, ensembles, TTA) on images none of them saw and to measure the
    # expected score. None: the space's; 0: none.
    holdout: float | None = None
    # Images: the search's folds train and score on a stratified, seeded subset of this many
    # images of the search part (a cheaper fidelity, so that more configurations are tried); the
    # export retrains on the whole part. None: the space's; 0: all of it.
    search_images: int | None = None
    # Epochs of the export's retrain on all the data (the final fit may train longer than the
    # search's trials). None: the space's; 0: the winner's own epochs.
    final_epochs: int | None = None
    # Models of the winner the export trains (own seeds) and averages; with a holdout, half of
    # them (rounded up) train without it and are measured there, the others on every image
    # (``tuner.data.splits.final_fits``). None: the space's.
    final_models: int | None = None
    # Train each trial in a fresh trial process: memory stays flat over a long search (TensorFlow
    # keeps ~11 MiB per trained model), and an out-of-memory kill fails one trial, not the search.
    isolate: bool = True
    # Minutes: a trial's process running longer than this is stopped and the trial fails
    # (a hung trial never stalls the search). None: the time budget, else the run budget, if
    # any; 0: no limit.
    trial_timeout: float | None = None
    # Screen, then search (``tuner.screening``): rounds of this many configurations trained for
    # the space's ``screen_epochs`` of fold 1, the best ``screen_keep`` in full. None: the
    # space's ``screen``; 0: off (every trial a full one).
    screen: int | None = None

    @property
    def directory(self) -> Path:
        return Path(self.results_dir) / self.name

    @classmethod
    def from_manifest(cls, directory: str | Path, manifest: dict[str, Any]) -> SearchConfig:
        """The settings a search was started with, as its ``search.json`` records them (resolved:
        nothing left to the space's defaults), to resume it or to run its distributed workers.
        Each setting is read from its ``search.json`` key (``tuner.settings``); a key that an
        older version did not write takes the field's default."""
        recorded, directory = manifest["config"], Path(directory)
        defaults = {f.name: f.default for f in dataclasses.fields(cls)}
        values: dict[str, Any] = {}
        for s in SETTINGS:
            if s.manifest is None or s.name not in defaults:
                continue
            value = recorded.get(s.manifest, defaults[s.name])
            if s.name == "screen":  # recorded as the round's shape
                value = (value or {}).get("size", 0)
            # None in search.json means "off"; in a SearchConfig, "the space's"
            values[s.name] = 0 if s.off and value is None else value
        return cls(name=directory.name, results_dir=directory.parent, **values)
