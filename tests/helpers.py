"""What the tests share besides fixtures: tiny spaces and values, Kaggle-format CSVs, the CLI
runner, and the check that plain Keras reproduces an export."""

from __future__ import annotations

import gzip
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parents[1]  # the project's checkout
FIXTURES = ROOT / "tests" / "fixtures"


def invoke(*args, **kwargs):
    """``digit-tuner ARGS...`` through Typer's runner (arguments as strings)."""
    from tuner.cli import app

    return CliRunner().invoke(app, [str(a) for a in args], **kwargs)


def tiny_space(max_trials: int = 2, folds: int = 2, batch_size: int = 64, epochs: int = 1) -> str:
    """A search space of tiny CNNs (4 points), as TOML text."""
    return f"""
[search]
description = "tiny models for tests"
max_trials = {max_trials}
folds = {folds}

[hyperparameters]
input_batch_norm = false
conv_blocks = {{ type = "int", min = 1, max = 2 }}
conv_filters = 4
dense_layers = 1
dense_units = {{ type = "choice", values = [8, 16] }}
learning_rate = 3e-3
batch_size = {batch_size}
epochs = {epochs}
augment_strength = 0.5
"""


TINY_SPACE = tiny_space()


def run_tiny(data, tmp_path: Path, name: str, *options):
    """``digit-tuner run`` on ``data`` with a one-trial tiny space, in this process, results in
    ``tmp_path/results``: (the runner's result, the search's directory)."""
    space = tmp_path / "tiny.toml"
    space.write_text(tiny_space(max_trials=1))
    results = tmp_path / "results"
    done = invoke("run", "--data", data, "--space", space, "--results-dir", results,
                  "--name", name, "--in-process", *options)  # fmt: skip
    return done, results / name


def rewrite_header(path: Path, header: list[str]) -> None:
    """``path`` with its first line replaced by ``header`` (the same rows under other names)."""
    lines = path.read_text().splitlines(keepends=True)
    path.write_text(",".join(header) + "\n" + "".join(lines[1:]))


def write_csv(path: Path, images: np.ndarray, labels: np.ndarray | None) -> Path:
    """Writes digits in the Kaggle format (gzipped if the name ends in .gz)."""
    flat = images.reshape(len(images), -1).astype(np.int64)
    header = ([] if labels is None else ["label"]) + [f"pixel{i}" for i in range(784)]
    rows = flat if labels is None else np.column_stack([labels.astype(np.int64), flat])
    text = ",".join(header) + "\n" + "\n".join(",".join(map(str, r)) for r in rows) + "\n"
    if path.suffix == ".gz":
        with gzip.open(path, "wt") as f:
            f.write(text)
    else:
        path.write_text(text)
    return path


PLAIN_KERAS = """
import sys
sys.modules["tuner"] = None  # digit-tuner made unimportable: only Keras reads the file
import keras, numpy as np, pandas as pd
images = np.load(sys.argv[1], allow_pickle=False)
for model_path, submission_path in zip(sys.argv[2::2], sys.argv[3::2]):
    model = keras.models.load_model(model_path)
    predicted = np.argmax(model.predict(images, verbose=0), axis=1)
    expected = pd.read_csv(submission_path)["Label"].to_numpy()
    layers = sorted({type(layer).__module__.split(".")[0] for layer in model._flatten_layers()})
    print(model_path, "layers:", layers)
    print(model_path, "same:", bool((predicted == expected).all()), int((predicted != expected).sum()))
"""


def assert_plain_keras_reproduces(model_path, images: np.ndarray, submission_path, *more) -> None:
    """In a fresh interpreter where ``tuner`` cannot be imported, plain ``keras`` loads the
    model, whose predictions on ``images`` are the submission's labels; stock layers only.
    ``more``: further (model, submission) paths, checked in the same interpreter."""
    pairs = [(model_path, submission_path), *zip(more[::2], more[1::2], strict=True)]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "images.npy"
        np.save(path, images, allow_pickle=False)
        done = subprocess.run(
            [
                sys.executable,
                "-c",
                PLAIN_KERAS,
                str(path),
                *(str(p) for pair in pairs for p in pair),
            ],
            capture_output=True,
            text=True,
            cwd=tmp,
            timeout=180,
        )
    assert done.returncode == 0, done.stderr[-3000:]
    for model, _ in pairs:
        assert f"{model} same: True 0" in done.stdout, done.stdout
        assert f"{model} layers: ['keras']" in done.stdout, done.stdout  # stock layers only


# A tiny CNN's full set of values (a point of no space: what the trainer and the model take).
TINY = {
    "input_batch_norm": False,
    "conv_blocks": 1,
    "conv_filters": 4,
    "dense_layers": 1,
    "dense_units": 8,
    "learning_rate": 3e-3,
    "batch_size": 64,
    "epochs": 1,
    "augment_strength": 0.0,
}

# The [hyperparameters] of a tiny space with 6 points, without epochs (tests add their own).
TINY_HP = """
input_batch_norm = false
conv_blocks = 1
conv_filters = { type = "choice", values = [2, 4, 6] }
dense_layers = 1
dense_units = { type = "choice", values = [8, 16] }
learning_rate = 3e-3
batch_size = 64
augment_strength = 0.0
"""


def search_config(tmp_path, **kw):
    """A SearchConfig under ``tmp_path`` (name "s"), trials in this process: fast, and
    monkeypatched builders apply (a trial process would not see them). Process isolation has
    tests of its own."""
    from tuner.search.plan import SearchConfig

    kw.setdefault("isolate", False)
    return SearchConfig(name=kw.pop("name", "s"), results_dir=tmp_path, **kw)


def write_space(tmp_path, search: str, hyperparameters: str):
    """A space file of a ``[search]`` table and ``[hyperparameters]`` text, loaded."""
    from tuner.space.spaces import load_space

    path = tmp_path / "space.toml"
    path.write_text(f"[search]\n{search}\n[hyperparameters]\n{hyperparameters}\n")
    return load_space(path)


# Kaggle-format training files that must be refused, and the line the refusal names
HEADER = "label," + ",".join(f"pixel{i}" for i in range(784))
TEST_HEADER = ",".join(f"pixel{i}" for i in range(784))


def row(label=3, pixels=None):
    pixels = [0] * 784 if pixels is None else pixels
    return ",".join(map(str, ([] if label is None else [label]) + list(pixels)))


BAD_TRAIN = {
    "empty file": ("", "file is empty"),
    "header only": (HEADER + "\n", "no data rows"),
    "wrong header": (
        HEADER.replace("pixel5,", "pixelX,") + "\n" + row() + "\n",
        "line 1, column 7: expected header 'pixel5', got 'pixelX'",
    ),
    "reordered header": (
        HEADER.replace("pixel1,pixel2", "pixel2,pixel1") + "\n" + row() + "\n",
        "column 3: expected header 'pixel1', got 'pixel2'",
    ),
    "783 pixel columns": (
        HEADER.rsplit(",", 1)[0] + "\n" + row(pixels=[0] * 783) + "\n",
        "expected 785 columns",
    ),
    "785 pixel columns": (
        HEADER + ",pixel784\n" + row(pixels=[0] * 785) + "\n",
        "expected 785 columns",
    ),
    "non-integer value": (
        HEADER + "\n" + row() + "\n" + row(pixels=[0] * 10 + [1.5] + [0] * 773) + "\n",
        "line 3, column pixel10: value 1.5 is not an integer",
    ),
    "text value": (
        HEADER + "\n" + row(pixels=[0] * 783 + ["x"]) + "\n",
        "line 2, column pixel783: value 'x' is not an integer",
    ),
    "pixel above 255": (
        HEADER + "\n" + row(pixels=[0] * 300 + [256] + [0] * 483) + "\n",
        "line 2, column pixel300: pixel value 256 is outside 0..255",
    ),
    "negative pixel": (
        HEADER + "\n" + row() + "\n" + row(pixels=[-1] + [0] * 783) + "\n",
        "line 3, column pixel0: pixel value -1 is outside 0..255",
    ),
    "missing value": (
        HEADER + "\n" + row(pixels=[0] * 5 + [""] + [0] * 778) + "\n",
        "line 2, column pixel5: missing value",
    ),
    "negative label": (
        HEADER + "\n" + row(label=3) + "\n" + row(label=-1) + "\n",
        "line 3, column label: label value -1 is outside 0..999999999",
    ),
    "too many fields in a row": (HEADER + "\n" + row() + "\n" + row() + ",0\n", "malformed CSV"),
    # a value past int64 was read as another, overflowed value and named so
    "huge value": (
        HEADER + "\n" + row() + "\n" + row(pixels=[0] * 7 + ["99999999999999999999"] + [0] * 776),
        "line 3, column pixel7: value 99999999999999999999 is out of range",
    ),
    "huge unsigned label": (
        HEADER + "\n" + row() + "\n" + row(label="18446744073709551615") + "\n",
        "line 3, column label: value 18446744073709551615 is out of range",
    ),
    "boolean value": (  # pandas reads True as 1
        HEADER + "\n" + row(pixels=[True] + [0] * 783) + "\n" + row(pixels=[False] + [0] * 783),
        "line 2, column pixel0: value ",
    ),
    "one class only": (
        HEADER + "\n" + row(label=3) + "\n" + row(label=3) + "\n",
        "every row has label 3; a training file needs at least two classes",
    ),
    "test file given as train": (
        TEST_HEADER + "\n" + row(label=None) + "\n",
        "expected 'label', got 'pixel0'",
    ),
}
