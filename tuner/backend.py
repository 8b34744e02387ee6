"""Importing Keras: quietly, and without touching TensorFlow outside the TensorFlow backend."""

from __future__ import annotations

import contextlib
import logging
import os

__all__ = [
    "import_keras_quietly",
    "gpu_name",
    "hardware",
    "has_gpu",
    "precision",
    "use_mixed_precision",
    "EAGER_VAR",
]


def import_keras_quietly():
    """Imports Keras with TensorFlow's start-up chatter (absl and oneDNN notices, written to file
    descriptor 2 before logging is set up) kept off stderr; returns the module."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        import keras
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


# DIGIT_TUNER_EAGER=1: Keras runs eagerly, no compiled graphs, in this process and the ones it
# starts (trial processes, a distributed search's chief and workers). For debugging a model, and for
# the test suite: with tiny models and a few hundred images, tracing the graphs of every fold took
# more than half of each fold's time (2.4 of 3.5 s here); eager, 2 trials ran in 7.6 s, not 17 s.
# Scores can differ from graph mode in the last digits.
EAGER_VAR = "DIGIT_TUNER_EAGER"


def _run_eagerly(backend: str) -> None:
    if backend == "tensorflow":
        import warnings

        import tensorflow as tf

        tf.config.run_functions_eagerly(True)
        # Keras' input pipeline (tf.data) stays compiled: what TensorFlow warns about on each fit
        warnings.filterwarnings("ignore", message="Even though the `tf.config.experimental_run")
    elif backend == "jax":
        import jax

        jax.config.update("jax_disable_jit", True)


def gpu_name() -> str | None:
    """The accelerator the Keras backend computes on (its name), or None on a CPU."""
    keras = import_keras_quietly()
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
    import os
    import platform

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
        "platform": platform.platform(),
    }


def has_gpu() -> bool:
    """Whether the Keras backend computes on a GPU (imports only the active backend)."""
    keras = import_keras_quietly()
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


def use_mixed_precision(enabled: bool | None) -> bool:
    """Sets Keras' global dtype policy: mixed_float16 (float16 compute, float32 weights) or
    float32. ``None`` decides by the hardware: mixed precision only on a GPU, where tensor cores
    make it faster; on a CPU it is slower. Returns whether it is on."""
    keras = import_keras_quietly()
    on = has_gpu() if enabled is None else bool(enabled)
    keras.config.set_dtype_policy("mixed_float16" if on else "float32")
    return on


@contextlib.contextmanager
def precision(enabled: bool | None):
    """``use_mixed_precision(enabled)`` for the ``with`` block (yields whether it is on); the
    dtype policy before it is restored after, also on an error."""
    keras = import_keras_quietly()
    previous = keras.config.dtype_policy()
    try:
        yield use_mixed_precision(enabled)
    finally:
        keras.config.set_dtype_policy(previous)
