"""Search spaces as data: TOML files validated on load and turned into keras-tuner HyperParameters.

A space file has two tables::

    [search]                      # defaults for the search; command-line options override them
    description = "small CNNs that suit a 2-core CPU"
    max_trials = 4
    folds = 5

    [hyperparameters]             # each entry is one of:
    conv_blocks   = { type = "int", min = 2, max = 3, default = 3 }
    learning_rate = { type = "float", min = 3e-4, max = 3e-3, sampling = "log" }
    dense_units   = { type = "choice", values = [64, 128] }
    input_batch_norm = { type = "boolean" }
    epochs        = 4            # a plain value is a fixed hyperparameter

A profile may add a third table, ``[estimate]``: the gain from the search's best out-of-fold
accuracy to the exported model's accuracy on a holdout, measured for its own settings (see
``EstimateCorrection``), which ``export`` adds to its estimate when no holdout is kept.

Only the hyperparameters the model builder understands (``HYPERPARAMETERS`` below) are accepted; one
the file leaves out takes the value of the seed's v5 model. Every error names the file and the key.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tuner.errors import SpaceError
from tuner.settings import ORACLES, SearchDefaults, is_a, toml_keys

__all__ = [
    "HYPERPARAMETERS",
    "V5",
    "HyperparameterInfo",
    "Hyperparameter",
    "ORACLES",
    "SearchDefaults",
    "EstimateCorrection",
    "SearchSpace",
    "load_space",
    "load_search_defaults",
    "parse_space",
    "resolve_space",
    "bundled_spaces",
    "with_defaults",
]


@dataclass(frozen=True)
class HyperparameterInfo:
    """What the model builder accepts for one hyperparameter."""

    kind: type  # int, float or bool
    low: float | None  # smallest legal value (None for booleans)
    high: float | None  # largest legal value
    v5: Any  # the value in the seed notebook's best model ("v5")
    help: str
    short: str  # column header in trial tables


# The builder's vocabulary, with the seed's v5 model as the default point.
HYPERPARAMETERS: dict[str, HyperparameterInfo] = {
    name: HyperparameterInfo(kind, low, high, v5, help_, short)
    for name, kind, low, high, v5, short, help_ in [
        ("input_batch_norm", bool, None, None, True, "in_bn", "BatchNormalization on the input"),
        (
            "conv_blocks",
            int,
            1,
            4,
            4,
            "blocks",
            "blocks of [Conv2D, MaxPool, Dropout]; the 28 px image halves per block",
        ),
        ("convs_per_block", int, 1, 3, 1, "convs", "Conv2D layers before each pooling"),
        ("conv_filters", int, 1, 1024, 256, "filters", "filters of the first block's Conv2D"),
        (
            "filter_growth",
            int,
            1,
            4,
            1,
            "growth",
            "each block has this many times the filters of the block before (v5: 1, all 256)",
        ),
        ("kernel_size", int, 1, 7, 3, "kernel", "Conv2D kernel size (square)"),
        (
            "valid_padding",
            bool,
            None,
            None,
            False,
            "valid",
            "'valid' padding in the blocks' Conv2D (each shrinks the image by kernel_size - 1 "
            "px: fewer multiply-adds); false: 'same'",
        ),
        (
            "conv_batch_norm",
            bool,
            None,
            None,
            False,
            "conv_bn",
            "BatchNormalization after each Conv2D",
        ),
        (
            "bn_momentum",
            float,
            0.0,
            0.999,
            0.99,
            "bn_mom",
            "momentum of every BatchNormalization's moving mean and variance (Keras: 0.99, "
            "which needs a few hundred steps before validation scores mean anything; 0.9 tens)",
        ),
        (
            "strided_downsampling",
            bool,
            None,
            None,
            False,
            "stride",
            "a 5x5 Conv2D with stride 2 in place of each MaxPool (learned downsampling)",
        ),
        ("conv_dropout", float, 0.0, 0.9, 0.3, "c_drop", "dropout after each pooling"),
        ("dense_layers", int, 0, 8, 4, "dense", "Dense ReLU layers after Flatten"),
        ("dense_units", int, 1, 4096, 256, "units", "units of every Dense layer"),
        ("dense_dropout", float, 0.0, 0.9, 0.3, "d_drop", "dropout after each Dense layer"),
        ("learning_rate", float, 1e-6, 1.0, 1e-4, "lr", "Adam learning rate"),
        (
            "lr_decay",
            bool,
            None,
            None,
            False,
            "decay",
            "cosine decay of the learning rate to 0 over the epochs (v5: constant)",
        ),
        (
            "label_smoothing",
            float,
            0.0,
            0.5,
            0.0,
            "smooth",
            "weight of the uniform distribution mixed into the one-hot targets",
        ),
        ("batch_size", int, 1, 8192, 64, "batch", "images per training step"),
        ("epochs", int, 1, 10_000, 100, "epochs", "passes over the training fold"),
        (
            "augment_strength",
            float,
            0.0,
            3.0,
            1.0,
            "aug",
            "scales the seed's augmentation (shift 0.1, rotation 0.1 turn, zoom 0.15); 0 turns it off",
        ),
        (
            "elastic",
            float,
            0.0,
            4.0,
            0.0,
            "elastic",
            "largest elastic displacement of a pixel, in pixels, on top of the augmentation's "
            "shift, rotation and zoom (v5: 0, none)",
        ),
    ]
}
V5: dict[str, Any] = {name: info.v5 for name, info in HYPERPARAMETERS.items()}

_TYPES = ("int", "float", "choice", "boolean", "fixed")
_KEYS = {
    "int": {"type", "min", "max", "step", "sampling", "default"},
    "float": {"type", "min", "max", "step", "sampling", "default"},
    "choice": {"type", "values", "default"},
    "boolean": {"type", "default"},
    "fixed": {"type", "value"},
}
_SAMPLINGS = ("linear", "log", "reverse_log")


@dataclass(frozen=True)
class Hyperparameter:
    """One validated entry of a space file."""

    name: str
    type: str  # one of int, float, choice, boolean, fixed
    min: float | None = None
    max: float | None = None
    step: float | None = None
    sampling: str = "linear"
    values: tuple = ()
    default: Any = None
    value: Any = None  # for type "fixed"

    @property
    def varies(self) -> bool:
        """Whether a search draws this hyperparameter (as opposed to holding it fixed)."""
        if self.type == "fixed":
            return False
        if self.type == "choice":
            return len(self.values) > 1
        if self.type in ("int", "float"):
            return self.min != self.max
        return True

    def add_to(self, hp) -> None:
        """Declares this hyperparameter on a keras-tuner ``HyperParameters``."""
        if self.type == "int":
            hp.Int(
                self.name,
                int(self.min),
                int(self.max),
                step=self.step,
                sampling=self.sampling,
                default=self.default,
            )
        elif self.type == "float":
            hp.Float(
                self.name,
                float(self.min),
                float(self.max),
                step=self.step,
                sampling=self.sampling,
                default=self.default,
            )
        elif self.type == "choice":
            hp.Choice(self.name, list(self.values), default=self.default)
        elif self.type == "boolean":
            hp.Boolean(self.name, default=bool(self.default))
        else:
            hp.Fixed(self.name, self.value)

    def default_value(self) -> Any:
        if self.type == "fixed":
            return self.value
        if self.default is not None:
            return self.default
        if self.type == "choice":
            return self.values[0]
        return self.min


@dataclass(frozen=True)
class EstimateCorrection:
    """The ``[estimate]`` table: what the export scored on a holdout minus the search's best
    out-of-fold accuracy, measured (``bench/profile_holdout.py``) with the profile's own
    ``[search]`` settings, one value per measured seed. The fold models of a K-fold search saw
    (K-1)/K of a subset for the search's epochs; the exported model sees all the images for the
    final epochs, so the out-of-fold accuracy underestimates it by a gain that depends on the
    recipe and is measured, not assumed."""

    gains: tuple[float, ...]  # points (holdout % - out-of-fold %), one per measured seed
    train_images: int  # images the measured exports retrained on

    @property
    def mean(self) -> float:  # points
        return sum(self.gains) / len(self.gains)

    @property
    def sd(self) -> float:  # points, between the measured seeds (0 for a single one)
        if len(self.gains) < 2:
            return 0.0
        m = self.mean
        return math.sqrt(sum((g - m) ** 2 for g in self.gains) / (len(self.gains) - 1))


@dataclass(frozen=True)
class SearchSpace:
    """A validated search space; the single source of the hyperparameters a search draws."""

    name: str
    path: str
    text: str  # the file's contents, saved with every search so a result can be traced
    search: SearchDefaults
    hyperparameters: tuple[Hyperparameter, ...] = field(default_factory=tuple)
    estimate: EstimateCorrection | None = None  # the [estimate] table, where the file has one
    # Who builds the network: None for the built-in CNN (``tuner.models.cnn``), else the user's
    # hypermodel (``tuner.models.hypermodels``: a ModelSource, or a build callable in this process).
    model: Any = None
    # the class scores the hypermodel's default point returns (None: the built-in CNN, which has
    # one output per class of the data), checked against the data's classes before a search
    outputs: int | None = None

    @property
    def model_reference(self) -> str | None:
        """``file.py:build`` of a hypermodel from a file, the callable's name otherwise."""
        if self.model is None:
            return None
        return getattr(self.model, "reference", None) or getattr(
            self.model, "__qualname__", repr(self.model)
        )

    def default_values(self) -> dict[str, Any]:
        """The default point of the space (for ``v5.toml``: the seed's v5 model)."""
        return {entry.name: entry.default_value() for entry in self.hyperparameters}

    def varying(self) -> list[str]:
        """Names of the hyperparameters that a search draws."""
        return [entry.name for entry in self.hyperparameters if entry.varies]


def with_defaults(entries: list[Hyperparameter], defaults: dict[str, Any]):
    """``entries``, and a fixed entry for each name of ``defaults`` they leave out."""
    given = {entry.name for entry in entries}
    missing = [
        Hyperparameter(name=name, type="fixed", value=value)
        for name, value in defaults.items()
        if name not in given
    ]
    return tuple(entries) + tuple(missing)


def bundled_spaces() -> dict[str, Path]:
    """Search spaces installed with the package, by name (``quick``, ``v5``, ...)."""
    from importlib.resources import files

    root = files("tuner.search_spaces")
    return {
        Path(str(entry)).stem: Path(str(entry))
        for entry in root.iterdir()
        if str(entry).endswith(".toml")
    }


def resolve_space(name_or_path: str | Path) -> Path:
    """A path to a TOML file, or the name of a bundled space."""
    path = Path(name_or_path)
    if path.exists() or path.suffix == ".toml" or len(path.parts) > 1:
        if not path.exists():
            raise SpaceError(f"{path}: no such file")
        if path.is_dir():
            raise SpaceError(f"{path}: is a directory, expected a search-space TOML file")
        return path
    spaces = bundled_spaces()
    if str(name_or_path) not in spaces:
        raise SpaceError(
            f"unknown search space {str(name_or_path)!r}: give a TOML path or one of "
            f"{', '.join(sorted(spaces))}"
        )
    return spaces[str(name_or_path)]


def load_space(name_or_path: str | Path) -> SearchSpace:
    """Loads and validates a search space.

    Raises:
        SpaceError: naming the file and the bad key or value.
    """
    path = resolve_space(name_or_path)
    return parse_space(_read(path), path)


def load_search_defaults(name_or_path: str | Path) -> SearchDefaults:
    """A space file's ``[search]`` table alone, checked: what ``--space`` gives a search of the
    user's own hypermodel, whose hyperparameters come from its ``build(hp)`` (the file may have no
    ``[hyperparameters]``; any it has are not used)."""
    path = resolve_space(name_or_path)
    return _parse_search(path, _document(_read(path), path).get("search", {}))


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise SpaceError(f"{path}: cannot read the file ({e})") from None


def _document(text: str, path: Path) -> dict[str, Any]:
    """The TOML tables of a space file, checked to be the known ones."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise SpaceError(f"{path}: invalid TOML ({e})") from None
    unknown = set(document) - {"search", "hyperparameters", "estimate"}
    if unknown:
        raise SpaceError(
            f"{path}: unknown table {sorted(unknown)[0]!r} "
            "(expected [search], [hyperparameters] and optionally [estimate])"
        )
    return document


def parse_space(text: str, path: str | Path) -> SearchSpace:
    """A search space from the text of a space file (``path`` names it in errors and records;
    a search's ``search.json`` keeps the text, so its space is known even if the file moved).

    Raises:
        SpaceError: naming the file and the bad key or value.
    """
    path = Path(path)
    document = _document(text, path)
    search = _parse_search(path, document.get("search", {}))
    table = document.get("hyperparameters")
    if not isinstance(table, dict) or not table:
        raise SpaceError(f"{path}: needs a non-empty [hyperparameters] table")
    entries = [_parse_entry(path, name, spec) for name, spec in table.items()]
    # What the file leaves out takes v5's value, so every trial records a complete configuration.
    return SearchSpace(
        name=path.stem,
        path=str(path),
        text=text,
        search=search,
        hyperparameters=with_defaults(entries, V5),
        estimate=_parse_estimate(path, document["estimate"]) if "estimate" in document else None,
    )


def _parse_estimate(path: Path, table: Any) -> EstimateCorrection:
    if not isinstance(table, dict):
        raise SpaceError(f"{path}: [estimate] must be a table")
    unknown = set(table) - {"gains", "train_images"}
    if unknown:
        raise SpaceError(
            f"{path}: estimate.{sorted(unknown)[0]}: unknown key (expected gains, train_images)"
        )
    gains = table.get("gains")
    if (
        not isinstance(gains, list)
        or len(gains) < 2
        or not all(is_a(g, float) and math.isfinite(g) and abs(g) < 100 for g in gains)
    ):
        raise SpaceError(
            f"{path}: estimate.gains: expected a list of at least 2 gains in points, one per measured seed "
            f"(their spread is part of the estimate's interval), got {gains!r}"
        )
    images = table.get("train_images")
    if not is_a(images, int) or images < 1:
        raise SpaceError(
            f"{path}: estimate.train_images: expected a number of images >= 1, got {images!r}"
        )
    return EstimateCorrection(tuple(float(g) for g in gains), images)


def _parse_search(path: Path, table: Any) -> SearchDefaults:
    """The ``[search]`` table, each key checked by its setting's declaration (``tuner.settings``)."""
    if not isinstance(table, dict):
        raise SpaceError(f"{path}: [search] must be a table")
    keys = toml_keys()
    values = {}
    for key, value in table.items():
        if key not in keys:
            raise SpaceError(
                f"{path}: search.{key}: unknown key (expected one of {', '.join(keys)})"
            )
        try:
            values[keys[key].name] = keys[key].check(value, where=f"{path}: search.")
        except ValueError as e:
            raise SpaceError(str(e)) from None
    return SearchDefaults(**values)


def _check_value(where: str, name: str, value: Any) -> Any:
    """Checks one value against the builder's vocabulary; returns it as the right Python type."""
    info = HYPERPARAMETERS[name]
    if not is_a(value, info.kind):
        raise SpaceError(f"{where}: expected {info.kind.__name__}, got {value!r}")
    if info.kind is not bool and not (info.low <= value <= info.high):
        raise SpaceError(
            f"{where}: must be within {info.low}..{info.high} ({info.help}), got {value!r}"
        )
    return info.kind(value)


def _parse_entry(path: Path, name: str, spec: Any) -> Hyperparameter:
    where = f"{path}: hyperparameters.{name}"
    if name not in HYPERPARAMETERS:
        raise SpaceError(f"{where}: unknown hyperparameter (known: {', '.join(HYPERPARAMETERS)})")
    info = HYPERPARAMETERS[name]
    if not isinstance(spec, dict):
        return Hyperparameter(name=name, type="fixed", value=_check_value(where, name, spec))

    kind = spec.get("type")
    if kind not in _TYPES:
        raise SpaceError(f"{where}.type: expected one of {', '.join(_TYPES)}, got {kind!r}")
    extra = set(spec) - _KEYS[kind]
    if extra:
        raise SpaceError(
            f"{where}: unknown key {sorted(extra)[0]!r} for type {kind!r} "
            f"(allowed: {', '.join(sorted(_KEYS[kind]))})"
        )
    if kind in ("int", "float") and info.kind is not {"int": int, "float": float}[kind]:
        raise SpaceError(f"{where}.type: {name} is {info.kind.__name__}, got type {kind!r}")
    if kind == "boolean" and info.kind is not bool:
        raise SpaceError(f"{where}.type: {name} is {info.kind.__name__}, got type 'boolean'")

    if kind == "fixed":
        if "value" not in spec:
            raise SpaceError(f"{where}: type 'fixed' needs a 'value'")
        return Hyperparameter(
            name=name, type="fixed", value=_check_value(f"{where}.value", name, spec["value"])
        )
    if kind == "boolean":
        default = spec.get("default", info.v5)
        return Hyperparameter(
            name=name, type="boolean", default=_check_value(f"{where}.default", name, default)
        )
    if kind == "choice":
        values = spec.get("values")
        if not isinstance(values, list) or not values:
            raise SpaceError(f"{where}.values: expected a non-empty list, got {values!r}")
        values = tuple(_check_value(f"{where}.values[{i}]", name, v) for i, v in enumerate(values))
        if len(set(values)) != len(values):
            raise SpaceError(f"{where}.values: duplicate values in {list(values)}")
        default = spec.get("default")
        if default is None and info.v5 in values:
            default = info.v5
        if default is not None and default not in values:
            raise SpaceError(f"{where}.default: {default!r} is not one of {list(values)}")
        return Hyperparameter(name=name, type="choice", values=values, default=default)

    return _parse_range(where, name, kind, spec)


def _parse_range(where: str, name: str, kind: str, spec: dict) -> Hyperparameter:
    """An ``int`` or ``float`` entry: min, max, sampling, step and default, checked."""
    info = HYPERPARAMETERS[name]
    for key in ("min", "max"):
        if key not in spec:
            raise SpaceError(f"{where}: type {kind!r} needs '{key}'")
    low = _check_value(f"{where}.min", name, spec["min"])
    high = _check_value(f"{where}.max", name, spec["max"])
    if low > high:
        raise SpaceError(f"{where}: min must be <= max, got min={low!r}, max={high!r}")
    sampling = spec.get("sampling", "linear")
    if sampling not in _SAMPLINGS:
        raise SpaceError(
            f"{where}.sampling: expected one of {', '.join(_SAMPLINGS)}, got {sampling!r}"
        )
    if sampling != "linear" and low <= 0:
        raise SpaceError(f"{where}.sampling: {sampling!r} sampling needs min > 0, got min={low!r}")
    step = spec.get("step")
    if step is not None:
        if not is_a(step, info.kind) or step <= 0:
            raise SpaceError(
                f"{where}.step: expected a positive {info.kind.__name__}, got {step!r}"
            )
        if sampling != "linear":
            raise SpaceError(
                f"{where}.step: a step needs linear sampling, got sampling={sampling!r}"
            )
    default = spec.get("default")
    if default is not None:
        default = _check_value(f"{where}.default", name, default)
        if not low <= default <= high:
            raise SpaceError(
                f"{where}.default: must be within min..max ({low}..{high}), got {default!r}"
            )
    elif low <= info.v5 <= high and (step is None or (info.v5 - low) % step == 0):
        default = info.kind(info.v5)
    return Hyperparameter(
        name=name, type=kind, min=low, max=high, step=step, sampling=sampling, default=default
    )
