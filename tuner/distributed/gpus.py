"""One GPU per local worker (keras-tuner's long-open request, its issue 413): on a machine with
G GPUs, worker i of ``--workers N`` sees GPU ``i mod G`` only (``CUDA_VISIBLE_DEVICES``), and
``--workers gpus`` starts one worker per GPU. Workers that share a GPU (N > G) cap their memory,
so that neither backend's habit of taking the whole device starves the other: TensorFlow grows its
memory as it needs it, JAX takes its share of the device instead of 75 % of it.

Found without importing a backend (the launcher loads none): ``CUDA_VISIBLE_DEVICES`` when it is
set, else ``nvidia-smi``'s list; none on a machine without either.
"""

from __future__ import annotations

import math
import os
import subprocess

from tuner.errors import SearchError

__all__ = ["DEVICES_ENV", "machine_gpus", "gpu_env", "workers_for"]

DEVICES_ENV = "CUDA_VISIBLE_DEVICES"
_SHARED_MEMORY = 0.9  # of a shared GPU, split between the workers on it


def machine_gpus() -> list[str]:
    """The ids of this machine's GPUs the local workers may use."""
    visible = os.environ.get(DEVICES_ENV)
    if visible is not None:
        return [g.strip() for g in visible.split(",") if g.strip() and g.strip() != "-1"]
    try:
        done = subprocess.run(
            ["nvidia-smi", "--query-gpu=index", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=10,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in done.stdout.splitlines() if line.strip()]


def gpu_env(worker: int | None, workers: int, gpus: list[str]) -> dict[str, str]:
    """The environment that gives local worker ``worker`` (from 0) of ``workers`` its GPU (none
    without GPUs): ``gpus[worker mod G]``, and a memory cap when others share it. The chief
    (``worker`` None) trains nothing: it sees no GPU, so its backend takes no device memory."""
    if not gpus:
        return {}
    if worker is None:
        return {DEVICES_ENV: ""}
    index = worker % len(gpus)
    sharing = len(range(index, workers, len(gpus)))  # the workers on this GPU
    env = {DEVICES_ENV: gpus[index]}
    if sharing > 1:
        env.update(
            TF_FORCE_GPU_ALLOW_GROWTH="true",
            XLA_PYTHON_CLIENT_MEM_FRACTION=f"{math.floor(100 * _SHARED_MEMORY / sharing) / 100}",
        )
    return env


def workers_for(text: str, gpus: list[str] | None = None) -> int:
    """``--workers``: a count, or ``gpus`` for one worker per GPU of this machine."""
    if text.strip().lower() == "gpus":
        found = machine_gpus() if gpus is None else gpus
        if not found:
            raise SearchError(
                "--workers gpus: this machine shows no GPU (no CUDA_VISIBLE_DEVICES, no nvidia-smi)"
            )
        return len(found)
    if not text.strip().isdigit():
        raise SearchError(f"--workers must be a count (0 or more) or 'gpus', got {text!r}")
    return int(text)
