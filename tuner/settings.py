"""Every setting of a search, declared once.

A ``Setting`` says what a setting is (its type, bounds and unit, its default), where a user can
give it (a command-line option, a key of a space file's ``[search]`` table), where ``search.json``
records it, and whether a resumed search may change it. Everything else is derived from
``SETTINGS``: ``SearchConfig`` (what a search is asked with: one field per setting a user gives,
``None`` meaning "the space's"), ``SearchDefaults`` (a space file's ``[search]`` table), the
merge of the two (``resolve``), the CLI's options (``tuner.cli.options``), the checks of both
(``tuner.search.plan``), the manifest's ``config`` section and the resume rules
(``tuner.storage.manifest``), and the dry run's lines (``tuner.ui.tables``). A new setting is
one entry here plus the code that uses it.

Resume rules: a setting that changes how a trial is scored (``Resume.KEEP``) must stay as it was,
or trials scored under different rules would be ranked together; one that changes only what runs
(``Resume.FREE``: trials, budgets, the failure cap, ...) may change, and the search says so.
"""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Callable
from dataclasses import dataclass, field, make_dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "Resume",
    "SearchConfig",
    "SearchDefaults",
    "Setting",
    "SETTINGS",
    "Resolved",
    "setting",
    "ORACLES",
    "config_settings",
    "free_settings",
    "is_a",
    "options",
    "resolve",
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
    ``default``: the ``SearchConfig`` field's (None: the space's value, else none);
    ``space_default``: the ``[search]`` table's when a space file leaves the key out.
    ``write``/``read``: how ``search.json`` holds a resolved value, when not as it is.
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
    default: Any = None
    space_default: Any = None
    write: Callable[[Any], Any] | None = None  # resolved value -> its search.json value
    read: Callable[[Any], Any] | None = None  # search.json value -> the SearchConfig field's

    @property
    def in_config(self) -> bool:
        """Whether a user gives it (an option, or a recorded field of the API's SearchConfig);
        the others are only a space file's."""
        return bool(self.option or self.manifest)

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
PRUNE_MARGIN = 0.002  # the pruning rule's (tuner.pruners.rule.PruneSettings) and the option's


def _screen_record(screening) -> dict[str, int] | None:
    """A screening round's shape as ``search.json`` records it (``tuner.screening.Screening``)."""
    if screening is None:
        return None
    return {"size": screening.size, "epochs": screening.epochs, "keep": screening.promoted}


def _screen_size(recorded: dict[str, int] | None) -> int:
    return (recorded or {}).get("size", 0)


# The table: what each setting is and where it lives (a declarative list).
SETTINGS: tuple[Setting, ...] = (
    Setting("description", str, "what the space is for", toml="description", space_default=""),
    Setting("max_trials", int, "Trials in all, screens included (default: the space's "
            "max_trials); a screening round shrinks to the trials left, so any count ends with "
            "full trials; a resumed search runs the missing ones.", "trials", low=1,
            option="--trials", toml="max_trials", manifest="max_trials", resume=FREE,
            space_default=10),
    Setting("folds", int, "K of the stratified K-fold CV (default: the space's folds).", low=2,
            option="--folds", toml="folds", manifest="folds", resume=KEEP, space_default=5),
    Setting("seed", int, "Seeds the oracle, the folds and the models.", low=0, high=2**32 - 1,
            option="--seed", manifest="seed", resume=KEEP, default=0),
    Setting("oracle", str, "keras-tuner oracle that picks the trials (default: the space's, else "
            "random).", option="--oracle", toml="oracle", manifest="oracle", resume=KEEP,
            choices=ORACLES, space_default="random"),
    Setting("prune", bool, "Stop a trial after a fold when it cannot reach the best trial "
            "(random, bayesian; default: the space's).", option="--prune/--no-prune",
            toml="prune", manifest="prune", resume=KEEP, space_default=False),
    # the pruning rule's smallest noise margin, a fraction of accuracy (tuner.pruners.rule)
    Setting("prune_margin", float, "the pruning rule's smallest noise margin", low=0.0,
            high=0.999, manifest="prune_margin", resume=KEEP, default=PRUNE_MARGIN),
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
            "image (one of the measured model's configuration goes on from it and replaces it "
            "where the two stay within the final epochs).", "models", low=1, high=64,
            option="--final-models", toml="final_models",
            manifest="final_models", resume=FREE, space_default=1),
    Setting("final_trials", int, "Best completed trials the final models take in turn (default: "
            "the space's, else 1: the winner alone). With 2 and a holdout, the models measured "
            "there are the winner's and those on every image the runner-up's: two "
            "configurations averaged err less than two seeds of one.", "trials", low=1, high=8,
            option="--final-trials", toml="final_trials", manifest="final_trials", resume=FREE,
            space_default=1),
    Setting("budget_images", int, "the search part the time budget is stated for", "images",
            low=1, toml="budget_images"),
    Setting("max_consecutive_failures", int, "Stop after this many failed trials in a row.",
            low=1, option="--max-failures", manifest="max_consecutive_failures", resume=FREE,
            default=3),
    Setting("trial_timeout", float, "Minutes: stop a trial still running after this and mark it "
            "failed (default: the time budget, else the run budget, if any; 0: no limit).",
            "minutes", low=0.0, option="--trial-timeout", manifest="trial_timeout", resume=FREE,
            off=True),
    Setting("isolate", bool, "Train trials in this process instead of a trial process (for "
            "debugging; memory grows over a long search).", option="--in-process",
            manifest="isolate", resume=FREE, negated=True, default=True),
    Setting("screen", int, "Screen, then search: rounds of N random configurations trained for "
            "a couple of epochs of fold 1, the best third of them in full (default: the space's; "
            "0: off).", "configurations", low=2, option="--screen", toml="screen",
            manifest="screen", resume=KEEP, off=True, space_default=0, write=_screen_record,
            read=_screen_size),
    Setting("screen_epochs", int, "epochs of fold 1 a screen trains", "epochs", low=1,
            toml="screen_epochs", space_default=2),
    Setting("screen_keep", int, "screens of a round that go on in full (default: a third)",
            low=1, toml="screen_keep"),
)  # fmt: skip


def setting(name: str) -> Setting:
    """The declaration of the setting ``name`` (a SearchConfig field)."""
    for s in SETTINGS:
        if s.name == name:
            return s
    raise KeyError(name)


def config_settings() -> tuple[Setting, ...]:
    """The settings a user gives (``SearchConfig``'s fields)."""
    return tuple(s for s in SETTINGS if s.in_config)


def free_settings() -> tuple[str, ...]:
    """The settings a resumed search may change."""
    return tuple(s.name for s in SETTINGS if s.resume is Resume.FREE)


def toml_keys() -> dict[str, Setting]:
    """The keys of a space file's ``[search]`` table."""
    return {s.toml: s for s in SETTINGS if s.toml}


def options() -> tuple[Setting, ...]:
    """The settings a command-line option gives, in the order ``--help`` lists them."""
    return tuple(s for s in SETTINGS if s.option)


def resolve(config: Any, defaults: Any) -> dict[str, Any]:
    """Every setting's value, by name, once a search's ``config`` (a ``SearchConfig``) is merged
    with its space's ``defaults`` (a ``SearchDefaults``): the user's value if given, else the
    space's; a setting that 0 turns off is None when off. What depends on the data or on other
    settings (budgets scaled to the images, the oracle's say on pruning) is the plan's
    (``tuner.search.plan``)."""
    values = {}
    for s in SETTINGS:
        value = getattr(config, s.name) if s.in_config else None
        if value is None and s.toml:
            value = getattr(defaults, s.name)
        values[s.name] = (value or None) if s.off else value
    return values


class Resolved:
    """Reads a resolved setting as an attribute: ``plan.folds`` is ``plan.settings["folds"]``, so
    that a plan names no setting field by field. A field of the class itself comes first."""

    def __getattr__(self, name: str) -> Any:
        settings = self.__dict__.get("settings", {})
        if name in settings:
            return settings[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def with_settings(self, **changes: Any):
        """A copy with these settings changed (a dataclass's ``replace`` for its settings)."""
        return dataclasses.replace(self, settings={**self.settings, **changes})


def _directory(self) -> Path:
    return Path(self.results_dir) / self.name


def _from_manifest(cls, directory: str | Path, manifest: dict[str, Any]):
    """The settings a search was started with, as its ``search.json`` records them (resolved:
    nothing left to the space's defaults), to resume it or to run its distributed workers.
    Each setting is read from its ``search.json`` key; a key that an older version did not
    write takes the field's default."""
    recorded, directory = manifest["config"], Path(directory)
    values: dict[str, Any] = {}
    for s in config_settings():
        if s.manifest is None:
            continue
        value = recorded.get(s.manifest, s.default)
        if s.read is not None:
            value = s.read(value)
        # None in search.json means "off"; in a SearchConfig, "the space's"
        values[s.name] = 0 if s.off and value is None else value
    return cls(name=directory.name, results_dir=directory.parent, **values)


def _config_class() -> type:
    """``SearchConfig``: the directory's place, then one field per setting a user gives."""
    fields: list[Any] = [
        ("name", str),  # the directory's name under results_dir
        ("results_dir", Path, field(default=Path("results"))),
        ("overwrite", bool, field(default=False)),  # delete a search of the same name first
    ]
    fields += [(s.name, f"{s.kind.__name__} | None", field(default=s.default))
               for s in config_settings()]  # fmt: skip
    namespace = {
        "__doc__": "How to run a search: one field per setting a user gives (``tuner.settings."
        "SETTINGS``, their help and units); ``None`` takes the space file's ``[search]`` value.",
        "directory": property(_directory),
        "from_manifest": classmethod(_from_manifest),
    }
    return _here(make_dataclass("SearchConfig", fields, frozen=True, namespace=namespace))


def _defaults_class() -> type:
    """``SearchDefaults``: one field per key of a space file's ``[search]`` table."""
    fields = [(s.name, f"{s.kind.__name__} | None", field(default=s.space_default))
              for s in SETTINGS if s.toml]  # fmt: skip
    namespace = {"__doc__": "A space file's ``[search]`` table: defaults that options override."}
    return _here(make_dataclass("SearchDefaults", fields, frozen=True, namespace=namespace))


def _here(cls: type) -> type:
    """A generated class as if written here (its pickles and reprs name this module)."""
    cls.__module__ = __name__
    return cls


SearchConfig = _config_class()
SearchDefaults = _defaults_class()
