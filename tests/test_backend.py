"""The same commands on a second Keras backend: JAX, with TensorFlow made unimportable.

The GPU machine has JAX and torch but no TensorFlow, so nothing outside Keras' TensorFlow backend
may import TensorFlow. A ``sitecustomize`` on PYTHONPATH blocks the import in the command and in
every process it starts (trial processes included), as on that machine.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import pytest

BLOCK_TENSORFLOW = """
import importlib.abc
import sys


class _NoTensorFlow(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "tensorflow" or name.startswith("tensorflow."):
            raise ModuleNotFoundError(f"No module named {name!r} (blocked by the test)", name=name)
        return None


sys.meta_path.insert(0, _NoTensorFlow())
"""


def without_tensorflow(tmp_path, **env: str) -> dict[str, str]:
    """An environment whose processes (and the ones they start) cannot import TensorFlow:
    ``BLOCK_TENSORFLOW`` as a ``sitecustomize`` first on PYTHONPATH, JAX's compilation cache
    under ``tmp_path`` (not the user's), and ``env`` added."""
    blocker = tmp_path / "no_tensorflow"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(BLOCK_TENSORFLOW)
    path = os.pathsep.join([str(blocker), os.environ.get("PYTHONPATH", "")])
    cache = str(tmp_path / "cache")
    return {**os.environ, "PYTHONPATH": path, "XDG_CACHE_HOME": cache, **env}


@pytest.mark.slow  # a whole `run` in subprocesses on JAX: about a minute; run with -m slow
@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="needs jax (pip install jax)")
def test_a_tiny_run_on_jax_without_tensorflow(tmp_path, tiny_dir, tiny_space_path):
    env = without_tensorflow(tmp_path, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu")
    probe = subprocess.run(
        [sys.executable, "-c", "import tensorflow"], env=env, capture_output=True, text=True
    )
    assert probe.returncode != 0 and "blocked by the test" in probe.stderr  # the block works

    command = [
        sys.executable,
        "-m",
        "tuner.cli",
        "run",
        "--data",
        str(tiny_dir),
        "--space",
        str(tiny_space_path),
        "--results-dir",
        str(tmp_path),
        "--name",
        "jax",
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    manifest = json.loads((tmp_path / "jax" / "search.json").read_text())
    assert manifest["backend"] == "jax" and manifest["export"]["backend"] == "jax"
    assert len(manifest["best"]["folds"]) == 2
    rows = (tmp_path / "jax" / "submission.csv").read_text().splitlines()
    assert rows[0] == "ImageId,Label" and len(rows) == 41
    assert (tmp_path / "jax" / "best.keras").stat().st_size > 0


def test_a_machine_without_the_backend_gets_one_line_naming_the_extra(tmp_path, tiny_dir):
    """Keras asked for TensorFlow where none is installed (blocked here): one line that names
    the extra to install, exit 2, before anything is written."""
    env = without_tensorflow(tmp_path, KERAS_BACKEND="tensorflow")
    command = [sys.executable, "-m", "tuner.cli", "run", "--data", str(tiny_dir),
               "--results-dir", str(tmp_path / "results")]  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stdout + done.stderr
    said = (done.stdout + done.stderr).strip()
    assert len(said.splitlines()) == 1 and "Traceback" not in said
    assert "Keras' tensorflow backend is not installed" in said
    assert "pip install 'digit-tuner[cpu]'" in said
    assert not (tmp_path / "results").exists()


# One process of a fold: a tiny model's fit, then where JAX keeps its compilations.
FIT_ON_JAX = """
import numpy as np
import jax
from tuner.models.cnn import build_model
model = build_model({"conv_filters": 4, "conv_blocks": 1, "dense_layers": 0, "epochs": 1},
                    seed=0, train_size=64)
model.fit(np.zeros((64, 28, 28, 1), "uint8"), np.zeros(64, "int64"), batch_size=32, verbose=0)
print(jax.config.jax_compilation_cache_dir)
if jax.config.jax_compilation_cache_dir:  # what JAX warns with when a full disk refuses an entry
    import warnings
    warnings.warn("Error writing persistent compilation cache entry for 'jit_train_step': "
                  "OSError: [Errno 28] No space left on device")
"""


def _fit_on_jax(base: dict[str, str], **env: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in base.items() if k != "JAX_COMPILATION_CACHE_DIR"} | env
    return subprocess.run(
        [sys.executable, "-c", FIT_ON_JAX], env=env, capture_output=True, text=True, timeout=300
    )


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="needs jax (pip install jax)")
def test_jax_keeps_compiled_steps_for_the_next_fold_and_a_bad_cache_costs_only_time(tmp_path):
    base = without_tensorflow(tmp_path, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu")
    cache = tmp_path / "cache"
    done = _fit_on_jax(base, XDG_CACHE_HOME=str(cache))
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split()[-1] == str(cache / "digit-tuner" / "jax")
    assert any((cache / "digit-tuner" / "jax").iterdir())  # the training step, at least
    assert "No space left" not in done.stderr  # a full disk costs the cache, quietly

    blocked = tmp_path / "a-file"
    blocked.write_text("")
    done = _fit_on_jax(base, XDG_CACHE_HOME=str(blocked))  # cannot hold a directory
    assert done.returncode == 0 and done.stdout.split()[-1] == "None", done.stderr[-3000:]
    assert "compilation cache" not in done.stderr

    own = tmp_path / "own"
    done = _fit_on_jax(base, XDG_CACHE_HOME=str(cache), JAX_COMPILATION_CACHE_DIR=str(own))
    assert done.returncode == 0 and done.stdout.split()[-1] == str(own), done.stderr[-3000:]
