"""Bring your own hypermodel: a KerasTuner-style ``build(hp)`` searched like the built-in CNN.

``digit-tuner search --model path/to/file.py:build`` (or ``load_hypermodel`` in Python) takes a
function ``build(hp) -> keras.Model`` or a ``keras_tuner.HyperModel``. Its hyperparameters are
found the way keras-tuner finds them: ``build`` is called once on an empty ``HyperParameters``, and
every ``hp.Int`` / ``hp.Float`` / ``hp.Choice`` / ``hp.Boolean`` / ``hp.Fixed`` it declares becomes
an entry of the search space (``tuner.space.SearchSpace``), so trials, importance, TensorBoard,
resume and export treat them like the built-in ones.

The model ``build`` returns, as keras-tuner's guides write it (``tuner.models.adapters``):

- input: 28x28 digits scaled to 0..1, declared as ``(28, 28, 1)``, ``(28, 28)`` or ``(784,)``, or
  not at all (it is then built on ``(28, 28, 1)``); the toolkit feeds raw 0..255 pixels through its
  augmentation, on the fly and in the training fold only, then rescales and reshapes;
- output: one probability per class (10 for digits; one per distinct training label for other
  data), or logits when its loss says ``from_logits=True`` (the toolkit adds the softmax, so that
  every score, ensemble and export reads probabilities);
- compiled or not: the toolkit keeps its optimizer and its sparse or categorical cross-entropy
  (trained on integer labels either way), and adds the accuracy metric; an uncompiled model gets
  Adam (1e-3) and sparse categorical cross-entropy.

Three hyperparameters belong to the toolkit, not to the network: ``epochs``, ``batch_size`` and
``augment_strength`` (the seed's augmentation scaled, 0: off). ``build`` may declare them like any
other (then they are searched); otherwise they are fixed at ``TRAINING_DEFAULTS``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tuner.backend import keras

import keras_tuner
import numpy as np

from tuner.compat.keras_tuner import declared_hyperparameters
from tuner.data.kaggle import DIGITS
from tuner.errors import SearchError, SpaceError
from tuner.models.adapters import adapt_input, check_output, probability_loss
from tuner.models.cnn import build_model, pixel_input
from tuner.space.spaces import (
    Hyperparameter,
    SearchDefaults,
    SearchSpace,
    parse_space,
    with_defaults,
)
from tuner.space.values import TRAINING_DEFAULTS

__all__ = [
    "build",
    "keras_tuner_space",
    "ModelSource",
    "load_hypermodel",
    "build_wrapped",
    "wrap",
    "call_fit",
    "user_fit",
    "hyperparameters_for",
    "space_of_search",
    "space_of_manifest",
]


@dataclass(frozen=True)
class ModelSource:
    """Where a hypermodel comes from: a Python file and the name of ``build`` (or a HyperModel)
    in it. Picklable, so trial processes and distributed workers load the same one."""

    path: str  # absolute path of the .py file
    attr: str  # name of the function or HyperModel in it

    @classmethod
    def parse(cls, reference: str) -> ModelSource:
        """``path/to/file.py:build`` (``:build`` may be left out)."""
        path, sep, attr = str(reference).rpartition(":")
        if not sep or not attr.isidentifier():
            path, attr = str(reference), "build"
        file = Path(path)
        if file.suffix != ".py":
            raise SpaceError(f"--model must be FILE.py:FUNCTION, got {reference!r}")
        if not file.is_file():
            raise SpaceError(f"{file}: no such file (--model {reference})")
        return cls(str(file.resolve()), attr)

    @property
    def reference(self) -> str:
        return f"{self.path}:{self.attr}"

    @property
    def name(self) -> str:
        """A short name for search directories: ``<file stem>`` or ``<file stem>-<function>``."""
        stem = Path(self.path).stem
        return stem if self.attr == "build" else f"{stem}-{self.attr}"

    def text(self) -> str:
        """The file's source (saved with the search: a resume refuses a changed file)."""
        try:
            return Path(self.path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise SpaceError(f"{self.path}: cannot read the model file ({e})") from None

    def load(self) -> Callable[[Any], Any]:
        """The ``build(hp)`` callable (a HyperModel's bound ``build``)."""
        return _build_of(self.load_object(), self.reference)

    def load_object(self) -> Any:
        """What the file names: a ``build`` function, or a ``HyperModel`` class or instance."""
        # one module per path and contents: a file edited since is imported again
        digest = hashlib.sha1(f"{self.path}\0{self.text()}".encode()).hexdigest()[:16]
        key = f"digit_tuner_hypermodel_{digest}"
        module = sys.modules.get(key)
        if module is None:
            spec = importlib.util.spec_from_file_location(key, self.path)
            if spec is None or spec.loader is None:
                raise SpaceError(f"{self.path}: not a Python module")
            module = importlib.util.module_from_spec(spec)
            sys.modules[key] = module
            try:
                spec.loader.exec_module(module)
            except Exception as e:  # noqa: BLE001 - the user's file: say what it raised, where
                del sys.modules[key]
                raise SpaceError(
                    f"{self.path}: importing it raised {type(e).__name__}: {e}"
                ) from None
        found = getattr(module, self.attr, None)
        if found is None:
            names = [n for n, v in vars(module).items() if callable(v) and not n.startswith("_")]
            raise SpaceError(
                f"{self.path}: no {self.attr!r} in it (callables: {', '.join(names) or 'none'})"
            )
        return found


def _hypermodel(obj: Any) -> keras_tuner.HyperModel | None:
    if isinstance(obj, keras_tuner.HyperModel):
        return obj
    if inspect.isclass(obj) and issubclass(obj, keras_tuner.HyperModel):
        return obj()
    return None


def _fit_of(obj: Any) -> Callable[..., Any] | None:
    """A HyperModel's own ``fit(hp, model, *args, **kwargs)``, where it overrides keras-tuner's."""
    hypermodel = _hypermodel(obj)
    if hypermodel is None or type(hypermodel).fit is keras_tuner.HyperModel.fit:
        return None
    return hypermodel.fit


def user_fit(space: SearchSpace | None) -> Callable[..., Any] | None:
    """The ``HyperModel.fit`` of the space's hypermodel, if it has its own (None: the toolkit fits
    the model itself)."""
    if space is None or space.model is None:
        return None
    model = space.model
    return _fit_of(model.load_object() if isinstance(model, ModelSource) else model)


def call_fit(fit: Callable[..., Any], hp, model: keras.Model, x, y, defaults: dict, **kwargs):
    """``fit(hp, model, x, y, **kwargs)``, as keras-tuner calls a ``HyperModel.fit``: the toolkit
    passes its data, epochs, validation and callbacks; the user's fit may choose ``model.fit``'s
    other arguments (``batch_size``, ``shuffle``, ... often as ``hp.*``), and ``defaults`` fill
    those it does not. Returns the Keras history of the fit."""
    original = model.fit

    def fit_with_defaults(*args, **given):
        return original(*args, **{**defaults, **given})

    model.fit = fit_with_defaults
    try:
        fit(hp, model, x, y, **kwargs)
    finally:
        model.fit = original
    return model.history


def _build_of(obj: Any, where: str) -> Callable[[Any], Any]:
    if isinstance(obj, keras_tuner.HyperModel):
        return obj.build
    if inspect.isclass(obj) and issubclass(obj, keras_tuner.HyperModel):
        return obj().build
    if callable(obj):
        return obj
    raise SpaceError(f"{where}: expected a build(hp) function or a keras_tuner.HyperModel")


def _entries(hp) -> list[Hyperparameter]:
    """keras-tuner's declared hyperparameters as the toolkit's ``Hyperparameter`` entries."""
    out = []
    for kind, c in declared_hyperparameters(hp):
        if kind == "Fixed":
            out.append(Hyperparameter(name=c["name"], type="fixed", value=c["value"]))
        elif kind == "Boolean":
            out.append(Hyperparameter(name=c["name"], type="boolean", default=bool(c["default"])))
        elif kind == "Choice":
            values = tuple(c["values"])
            out.append(Hyperparameter(c["name"], "choice", values=values, default=c["default"]))
        elif kind in ("Int", "Float"):
            out.append(
                Hyperparameter(
                    name=c["name"],
                    type=kind.lower(),
                    min=c["min_value"],
                    max=c["max_value"],
                    step=c["step"],
                    sampling=c["sampling"] or "linear",
                    default=c["default"],
                )
            )
        else:
            raise SpaceError(f"hyperparameter {c['name']!r}: unsupported type {kind}")
    return out


def load_hypermodel(
    model: str | ModelSource | Callable[[Any], Any], search=None, name: str | None = None
):
    """A search space whose hyperparameters are those ``build(hp)`` declares.

    Args:
        model: ``"file.py:build"``, a ``ModelSource``, or the ``build`` callable itself (a
            function defined in a notebook trains in this process: ``SearchConfig(isolate=False)``
            is then required, since trial processes cannot import it).
        search: the ``[search]`` defaults (``tuner.space.SearchDefaults``; default: its defaults).
        name: the space's name (default: the file's stem, or the function's name).

    Raises:
        SpaceError: a file that cannot be imported, no such function, a build that raises or
            returns a model that breaks the contract (see the module docstring).
    """
    if isinstance(model, (str, Path)):
        model = ModelSource.parse(str(model))
    if isinstance(model, ModelSource):
        source, build, text, where = model, model.load(), model.text(), model.reference
        label = name or model.name
    else:
        build = _build_of(model, getattr(model, "__name__", repr(model)))
        source, where = model, getattr(model, "__qualname__", repr(model))
        try:
            text = inspect.getsource(model if inspect.isfunction(model) else type(model))
        except (OSError, TypeError):
            text = where
        label = name or getattr(model, "__name__", "hypermodel")
    hp = keras_tuner.HyperParameters()
    # refuses what it cannot adapt (the class count is checked once the data is known)
    model = wrap(_call_build(build, hp, where), 0.0, None, where)
    fit = _fit_of(source.load_object() if isinstance(source, ModelSource) else source)
    if fit is not None:  # what its fit declares is searched too: fit once on two blank images
        _discover_fit(fit, hp, model, where)
    _discover_branches(build, hp, where)
    return SearchSpace(
        name=label,
        path=getattr(source, "reference", where),
        text=text,
        search=search or SearchDefaults(),
        hyperparameters=with_defaults(_entries(hp), TRAINING_DEFAULTS),
        model=source,
        outputs=int(model.output_shape[-1]),
    )


# Builds spent looking for hyperparameters declared under a condition (each one a model built)
DISCOVERY_BUILDS = 32


def _discover_branches(build: Callable, hp, where: str) -> None:
    """Hyperparameters declared only in a branch the defaults do not take (``if hp.Boolean(...)``,
    ``hp.conditional_scope``): ``build`` is called again with each other value of every boolean
    and choice found so far, until nothing new appears (at most ``DISCOVERY_BUILDS`` builds), and
    what those calls declare joins ``hp``. keras-tuner finds them as its trials run; the toolkit's
    oracle is given the whole space up front."""
    tried: set[tuple[str, Any]] = set()
    builds = 0
    while builds < DISCOVERY_BUILDS:
        todo = [
            (c["name"], value)
            for kind, c in declared_hyperparameters(hp)
            for value in _alternatives(kind, c)
            if (c["name"], value) not in tried
        ]
        if not todo:
            return
        for name, value in todo[: DISCOVERY_BUILDS - builds]:
            tried.add((name, value))
            trial = hp.copy()
            trial.values[name] = value
            _call_build(build, trial, where)
            hp.merge(trial, overwrite=False)
            builds += 1


def _alternatives(kind: str, config: dict[str, Any]) -> list[Any]:
    """The values of a boolean or a choice other than its default (what a branch may hang on)."""
    if kind not in ("Boolean", "Choice"):
        return []
    values = [True, False] if kind == "Boolean" else list(config["values"])
    return [v for v in values if v != config.get("default")]


def _discover_fit(fit: Callable[..., Any], hp, model: keras.Model, where: str) -> None:
    x, y = np.zeros((2, 28, 28, 1), np.uint8), np.array([0, 1])
    try:
        call_fit(fit, hp, model, x, y, {"batch_size": 2}, epochs=1, verbose=0)
    except Exception as e:  # noqa: BLE001 - the user's code: name it and what it raised
        raise SpaceError(f"{where}: fit(hp, model, ...) raised {type(e).__name__}: {e}") from None


def _call_build(build: Callable, hp, where: str):
    try:
        return build(hp)
    except SpaceError:
        raise
    except Exception as e:  # noqa: BLE001 - the user's code: name it and what it raised
        raise SpaceError(f"{where}: build(hp) raised {type(e).__name__}: {e}") from None


def wrap(
    network, strength: float, seed: int | None, where: str, classes: int | None = None
) -> keras.Model:
    """The user's network behind the toolkit's input (raw 0..255 pixels, augmentation on the fly
    when ``strength`` > 0, rescaling to 0..1), its input shape, loss and logits adapted
    (``tuner.models.adapters``), compiled with its own optimizer (an uncompiled one gets Adam 1e-3
    and sparse cross-entropy) and the accuracy metric. ``classes``: the outputs it must have
    (None: any count)."""
    if not isinstance(network, keras.Model):
        raise SpaceError(f"{where}: build(hp) must return a keras.Model, got {type(network)}")
    inputs, x = pixel_input(strength, seed)
    try:
        outputs = network(adapt_input(network, x, where))
    except SpaceError:
        raise
    except Exception as e:  # noqa: BLE001 - the user's network: name it and what it raised
        raise SpaceError(
            f"{where}: the model cannot take 28x28 digits ({type(e).__name__}: {e})"
        ) from None
    check_output(outputs, where, classes)
    compiled = getattr(network, "optimizer", None) is not None and getattr(network, "loss", None)
    loss, logits = probability_loss(network.loss if compiled else None, where)
    if logits:  # the toolkit scores, ensembles and exports probabilities
        outputs = keras.layers.Softmax(dtype="float32", name="softmax")(outputs)
    model = keras.Model(inputs, outputs, name=f"hypermodel_{network.name}")
    optimizer = network.optimizer if compiled else keras.optimizers.Adam(1e-3)
    model.compile(optimizer=optimizer, loss=loss, metrics=["accuracy"])
    return model


def hyperparameters_for(space_hp, values: Mapping[str, Any]):
    """A keras-tuner ``HyperParameters`` holding the space with ``values`` set: what ``build``
    gets for one trial (a name it declares later, under a condition, takes its default)."""
    hp = space_hp.copy()
    for key, value in values.items():
        if key.startswith("tuner/"):
            continue
        hp.values[key] = value
    return hp


def build_wrapped(
    source: ModelSource | Callable,
    values: Mapping[str, Any],
    *,
    seed: int | None = None,
    space_hp=None,
    classes: int = len(DIGITS),
):
    """The user's network for ``values``, behind the toolkit's input pipeline (raw 0..255 pixels,
    augmentation on the fly when ``augment_strength`` > 0, rescaling to 0..1), compiled with its
    own optimizer and loss and the accuracy metric (``wrap``); it must return ``classes``
    scores."""
    if isinstance(source, ModelSource):
        build, where = source.load(), source.reference
    else:
        build, where = _build_of(source, "hypermodel"), getattr(source, "__qualname__", "build")
    if space_hp is None:
        space_hp = keras_tuner.HyperParameters()
    network = _call_build(build, hyperparameters_for(space_hp, values), where)
    strength = float(values.get("augment_strength", TRAINING_DEFAULTS["augment_strength"]))
    return wrap(network, strength, seed, where, classes)


def space_of_search(manifest: Mapping[str, Any], directory) -> Any:
    """The space of a finished search that used a hypermodel from a file (None: the built-in
    CNN), loaded again from that file, which must not have changed since.

    Raises:
        SearchError: the search used a callable (not a file), or the file changed or is gone.
    """
    section = manifest.get("space", {})
    reference = section.get("model")
    if not reference:
        return None
    path, _, _ = reference.rpartition(":")
    if not path.endswith(".py"):
        raise SearchError(
            f"{directory}: this search's hypermodel was a Python callable ({reference}), not a "
            "file: build its models in Python with tuner.models.build(values, space=...)"
        )
    try:
        space = load_hypermodel(ModelSource.parse(reference))
    except SpaceError as e:
        raise SearchError(f"{directory}: cannot load the search's hypermodel: {e}") from None
    if space.text != section.get("text"):
        raise SearchError(
            f"{directory}: {path} changed since the search ran; restore it (search.json keeps "
            "its text under space.text)"
        )
    return space


def keras_tuner_space(space: SearchSpace) -> keras_tuner.HyperParameters:
    """The space as keras-tuner ``HyperParameters``."""
    hp = keras_tuner.HyperParameters()
    for entry in space.hyperparameters:
        entry.add_to(hp)
    return hp


def build(
    values: Any,
    *,
    space: SearchSpace | None = None,
    seed: int | None = None,
    train_size: int | None = None,
    classes: int = len(DIGITS),
) -> keras.Model:
    """The compiled model of one point of ``space`` with ``classes`` outputs: the built-in CNN
    (``build_model``), or the user's hypermodel behind the toolkit's pixels-in input and
    augmentation (``build_wrapped``) when the space has one."""
    if space is None or space.model is None:
        return build_model(values, seed=seed, train_size=train_size, classes=classes)
    return build_wrapped(
        space.model, values, seed=seed, space_hp=keras_tuner_space(space), classes=classes
    )


def space_of_manifest(manifest: dict[str, Any], directory: str | Path) -> SearchSpace:
    """The search space a search ran with: its space file's text as ``search.json`` keeps it (the
    file itself may have moved), or its hypermodel's file, which must not have changed."""
    space = space_of_search(manifest, directory)
    if space is not None:
        return space
    section = manifest["space"]
    name = section.get("name") or "space"
    return parse_space(section["text"], Path(section.get("path") or f"{name}.toml"))
