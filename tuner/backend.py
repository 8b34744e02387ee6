"""The Keras boundary: the one module that imports Keras, quietly, for every module that needs it.

A module that trains, builds or loads a model takes Keras from here (``from tuner.backend
import keras``), so TensorFlow's start-up chatter is kept off the terminal wherever Keras is first
loaded, and TensorFlow itself is imported only by Keras' TensorFlow backend (the GPU machines run
JAX and have no TensorFlow). Modules that never need Keras (data, space, storage, ui) never import
this one; ``pyproject.toml``'s import-linter contracts hold them to it.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import platform
import shlex
import subprocess
import sys
import warnings
from importlib import metadata
from pathlib import Path
from typing import Any

from tuner.errors import BackendMissing

__all__ = [
    "keras",
    "import_keras_quietly",
    "gpu_name",
    "hardware",
    "provenance",
    "has_gpu",
    "cpu_has_bf16",
    "mixed_precision_default",
    "precision_name",
    "precision",
    "use_mixed_precision",
    "fresh_session",
    "fit_inputs",
    "SCORING_BATCH_SIZE",
    "EAGER_VAR",
    "set_eager",
]

# DIGIT_TUNER_EAGER=1: Keras runs eagerly, no compiled graphs, in this process and the ones it
# starts (trial processes, a distributed search's chief and workers). For debugging a model, and for
# the test suite, where tracing the graphs of every fold of a tiny model costs more than training it.
# Scores can differ from graph mode in the last digits.
EAGER_VAR = "DIGIT_TUNER_EAGER"


def import_keras_quietly():
    """Imports Keras with TensorFlow's start-up chatter (absl and oneDNN notices, written to file
    descriptor 2 before logging is set up) kept off stderr; returns the module."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        import keras
    except ModuleNotFoundError as e:
        if (e.name or "").split(".")[0] not in ("tensorflow", "jax", "jaxlib", "torch"):
            raise
        raise BackendMissing(_missing_backend(e.name)) from None
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
    # tf.function retracing notices: every fold builds a fresh model, so retracing is expected.
    # (A logger is looked up by name; this imports nothing.)
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    if os.environ.get(EAGER_VAR) == "1":
        _run_eagerly(keras.backend.backend())
    return keras


def set_eager(on: bool) -> None:
    """Keras runs eagerly (True) or compiled, as shipped (False), from now on in this process and
    in the processes it starts (``EAGER_VAR``). For debugging a model, and for tests that choose
    eager mode for speed (``tests/conftest.py``)."""
    if on:
        os.environ[EAGER_VAR] = "1"
    else:
        os.environ.pop(EAGER_VAR, None)
    _run_eagerly(keras.backend.backend(), on)


def _run_eagerly(backend: str, on: bool = True) -> None:
    if backend == "tensorflow":
        import tensorflow as tf

        tf.config.run_functions_eagerly(on)
        # Keras' input pipeline (tf.data) stays compiled: what TensorFlow warns about on each fit
        warnings.filterwarnings("ignore", message="Even though the `tf.config.experimental_run")
    elif backend == "jax":
        import jax

        jax.config.update("jax_disable_jit", on)


# What to install for each of Keras' backends (pyproject.toml's extras).
BACKEND_EXTRAS = {
    "tensorflow": "pip install 'digit-tuner[cpu]' (TensorFlow for the CPU) or "
    "'digit-tuner[tensorflow]' (with CUDA)",
    "jax": "pip install 'digit-tuner[jax]' (the CPU) or 'digit-tuner[jax-cuda]'",
}


def _missing_backend(module: str | None) -> str:
    """The one line for a machine without the backend Keras was asked for."""
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    fix = BACKEND_EXTRAS.get(backend, f"install {backend}")
    return (
        f"Keras' {backend} backend is not installed (no module {module!r}): {fix}, or set "
        "KERAS_BACKEND to one that is"
    )


def _share_jax_compilations() -> None:
    """JAX compiles every fresh model's training, validation and prediction steps anew, though
    a trial's folds, a search's trials of one shape and the export's final models compile the
    same programs: each fold's first epoch spent 5.4-7.8 s on 2 cores compiling what JAX's
    persistent cache answers in 0.4-1.0 s (results/benchmarks.md, "JAX's compilation cache
    across a trial's folds"). Trial processes share it through the disk, under
    ``$XDG_CACHE_HOME/digit-tuner/jax`` (``~/.cache`` without it).

    A cache the user configured (``JAX_COMPILATION_CACHE_DIR``) is left as it is. The cache only
    saves time: a directory that cannot be written leaves it off, and an entry that cannot be
    read or written (a full disk) is compiled as without it, with JAX's warning kept quiet.
    """
    import jax

    if jax.config.jax_compilation_cache_dir or os.environ.get("JAX_COMPILATION_CACHE_DIR"):
        return
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    directory = Path(base) / "digit-tuner" / "jax"
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError:
        return
    if not os.access(directory, os.W_OK | os.X_OK):
        return
    jax.config.update("jax_compilation_cache_dir", str(directory))
    # A model's training step compiles in 5-8 s on 2 cores, and a small one's may take under
    # JAX's default floor (1 s) on a GPU; the trivial programs below 0.1 s are not worth a file.
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.1)
    with contextlib.suppress(AttributeError):  # a bound on its size, in JAX releases that have one
        jax.config.update("jax_compilation_cache_max_size", 2 * 1024**3)  # bytes; oldest go first
    warnings.filterwarnings("ignore", message="Error (reading|writing) persistent compilation")


keras = import_keras_quietly()
if keras.backend.backend() == "jax":
    _share_jax_compilations()
# Keras' and TensorFlow's import leaves about half a million objects that live as long as the
# process; every full collection (Keras' clear_session runs one for each model) scanned them all,
# 0.2-0.3 s each, four times a trial. Frozen, a collection scans what came after.
gc.freeze()

# Predictions and validation passes keep no gradients: they take batches this big.
SCORING_BATCH_SIZE = 1024


def gpu_name() -> str | None:
    """The accelerator the Keras backend computes on (its name), or None on a CPU."""
    backend = keras.backend.backend()
    try:
        if backend == "jax":
            import jax

            devices = [d for d in jax.devices() if d.platform != "cpu"]
            return devices[0].device_kind if devices else None
        if backend == "torch":
            import torch

            return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
        if backend == "tensorflow":
            import tensorflow as tf

            gpus = tf.config.list_physical_devices("GPU")
            if gpus:
                details = tf.config.experimental.get_device_details(gpus[0])
                return details.get("device_name", gpus[0].name)
    except (ImportError, RuntimeError):
        return None
    return None


def hardware() -> dict:
    """Where a result was computed: CPU model, cores, the threads the backend may use, GPU."""

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next(
                (line.split(":", 1)[1].strip() for line in f if line.startswith("model name")),
                cpu,
            )
    except OSError:
        pass
    threads = os.environ.get("TF_NUM_INTRAOP_THREADS") or os.environ.get("OMP_NUM_THREADS")
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "threads": int(threads) if threads and threads.isdigit() else "all cores",
        "gpu": gpu_name(),
        "bf16": cpu_has_bf16(),
        "platform": platform.platform(),
    }


def provenance() -> dict[str, Any]:
    """How and where this process runs: the command line, the project's version and git commit
    (when run from a checkout), and the hardware (``hardware``)."""
    try:
        version = metadata.version("digit-tuner")
    except metadata.PackageNotFoundError:
        version = None
    commit = None
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
        )
        if done.returncode == 0:
            commit = done.stdout.strip()
    program = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "python"
    if program == "__main__.py":  # python -m tuner.cli
        program = "digit-tuner"
    return {
        "command": shlex.join([program, *sys.argv[1:]]),
        "version": version,
        "git_commit": commit,
        **hardware(),
    }


def has_gpu() -> bool:
    """Whether the Keras backend computes on a GPU (imports only the active backend)."""
    backend = keras.backend.backend()
    try:
        if backend == "jax":
            import jax

            return jax.default_backend() in ("gpu", "cuda", "rocm")
        if backend == "torch":
            import torch

            return bool(torch.cuda.is_available())
        if backend == "tensorflow":
            import tensorflow as tf

            return bool(tf.config.list_physical_devices("GPU"))
    except (ImportError, RuntimeError):
        return False
    return False


def cpu_has_bf16(cpuinfo: str = "/proc/cpuinfo") -> bool:
    """Whether the CPU computes bfloat16 in hardware (AVX512_BF16 or AMX-BF16, as Linux lists
    its flags), where oneDNN runs mixed_bfloat16 faster than float32."""
    try:
        with open(cpuinfo, encoding="utf-8") as f:
            flags = next(
                (line.split(":", 1)[1].split() for line in f if line.startswith("flags")), []
            )
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def mixed_precision_default() -> bool:
    """Mixed precision where it is faster without costing accuracy: on a GPU (float16, tensor
    cores), and on a CPU with bfloat16 in hardware (results/benchmarks.md, "CPU training speed")."""
    return has_gpu() or cpu_has_bf16()


def precision_name(mixed: bool) -> str:
    """The Keras dtype policy of a model trained here: mixed_float16 on a GPU, mixed_bfloat16 on a
    CPU (float16 has no fast path there), or float32."""
    if not mixed:
        return "float32"
    return "mixed_float16" if has_gpu() else "mixed_bfloat16"


def use_mixed_precision(enabled: bool | None) -> bool:
    """Sets Keras' global dtype policy (``precision_name``); ``None`` decides by the hardware
    (``mixed_precision_default``). Returns whether mixed precision is on."""
    on = mixed_precision_default() if enabled is None else bool(enabled)
    keras.config.set_dtype_policy(precision_name(on))
    return on


def fresh_session() -> None:
    """``keras.backend.clear_session()``, keeping the dtype policy: clearing the session resets
    Keras' global state, the policy with it, and a model built after it would train in float32
    whatever ``precision`` set."""
    policy = keras.config.dtype_policy()
    keras.backend.clear_session()
    keras.config.set_dtype_policy(policy)


@contextlib.contextmanager
def precision(enabled: bool | None):
    """``use_mixed_precision(enabled)`` for the ``with`` block (yields whether it is on); the
    dtype policy before it is restored after, also on an error."""
    previous = keras.config.dtype_policy()
    try:
        yield use_mixed_precision(enabled)
    finally:
        keras.config.set_dtype_policy(previous)


def fit_inputs(x, y, *, batch_size: int, seed: int, validation=None) -> dict[str, Any]:
    """The data arguments of ``model.fit``: ``(x, y)`` in batches of ``batch_size``, shuffled
    anew each epoch from ``seed``, and ``validation`` (a pair of arrays, or None).

    On TensorFlow these are tf.data pipelines with tf.data's autotuning off. The pipeline Keras
    builds for arrays autotunes, and freeing an autotuned iterator waits for the tuner's thread:
    1.3-1.8 s at a third of the epochs' ends and at many fits' ends on 2 cores, while the epoch's
    own time is the same either way (results/benchmarks.md, "Keras' input pipeline for arrays vs the
    toolkit's"). Elsewhere Keras slices the arrays itself.
    """
    if keras.backend.backend() != "tensorflow":
        return dict(x=x, y=y, batch_size=batch_size, shuffle=True, validation_data=validation)
    import tensorflow as tf

    given = dict(x=_batches(tf, x, y, batch_size, seed), shuffle=False)  # shuffled in it
    if validation is not None:
        scoring = max(batch_size, SCORING_BATCH_SIZE)
        given["validation_data"] = _batches(tf, *validation, scoring, None)
    return given


def _batches(tf, x, y, batch_size: int, seed: int | None):
    """A tf.data pipeline of ``(x, y)`` batches, shuffled each epoch when ``seed`` is given: the
    indices are shuffled and each batch gathered at once (as Keras does), one after another."""
    images, labels = tf.constant(x), tf.constant(y)
    indices = tf.data.Dataset.range(len(x))
    if seed is not None:
        indices = indices.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    batches = indices.batch(batch_size).map(lambda i: (tf.gather(images, i), tf.gather(labels, i)))
    options = tf.data.Options()
    options.autotune.enabled = False
    options.experimental_optimization.apply_default_optimizations = False
    return batches.prefetch(2).with_options(options)
