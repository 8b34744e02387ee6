"""Mixed precision (tuner.backend): bfloat16 on a CPU that has it, float16 on a GPU; a trial in
bfloat16 learns as a float32 one does."""

from __future__ import annotations

import tuner.backend as backend
from tuner.backend import keras

import numpy as np
import pytest

from tests.helpers import TINY
from tuner.data.splits import fold_indices
from tuner.training.folds import TrialWork, train_trial


def test_bfloat16_hardware_is_read_from_the_cpus_flags(tmp_path):
    for flags, has in [
        ("fpu sse avx2 avx512f", False),
        ("fpu avx512f avx512_bf16", True),
        ("fpu amx_tile amx_bf16", True),
    ]:
        cpuinfo = tmp_path / "cpuinfo"
        cpuinfo.write_text(f"processor\t: 0\nmodel name\t: x\nflags\t\t: {flags}\n")
        assert backend.cpu_has_bf16(str(cpuinfo)) is has
    assert backend.cpu_has_bf16(str(tmp_path / "missing")) is False


@pytest.mark.parametrize(
    "gpu, bf16, default, policy",
    [
        (False, False, False, "float32"),
        (False, True, True, "mixed_bfloat16"),
        (True, False, True, "mixed_float16"),
    ],
)
def test_the_default_precision_follows_the_hardware(monkeypatch, gpu, bf16, default, policy):
    monkeypatch.setattr(backend, "has_gpu", lambda: gpu)
    monkeypatch.setattr(backend, "cpu_has_bf16", lambda: bf16)
    assert backend.mixed_precision_default() is default
    with backend.precision(None) as on:
        assert on is default and keras.config.dtype_policy().name == policy
    with backend.precision(False):
        assert keras.config.dtype_policy().name == "float32"
    assert keras.config.dtype_policy().name == "float32"  # restored after the block


def test_a_bfloat16_trial_scores_within_noise_of_float32(tiny_train):
    x, y = tiny_train.images, tiny_train.labels
    splits = fold_indices(y, 2, 0)
    values = {**TINY, "epochs": 3}
    single = train_trial(TrialWork(values, splits, 0, "0", mixed_precision=False), x, y)
    mixed = train_trial(TrialWork(values, splits, 0, "0", mixed_precision=True), x, y)
    assert keras.config.dtype_policy().name == "float32"
    assert np.isfinite(mixed.oof).all() and mixed.oof.dtype == np.float32
    for fold in mixed.folds:
        assert all(np.isfinite(v) for v in fold.history["loss"])
    difference = np.mean([f.val_accuracy for f in mixed.folds]) - np.mean(
        [f.val_accuracy for f in single.folds]
    )
    # 300 images, 2 folds: one image is 0.0033; the seeds' spread at 3 epochs is a few points
    assert abs(difference) < 0.08, difference


def test_a_fold_model_is_built_in_the_precision_asked_for(tiny_train, monkeypatch):
    """fit_model clears the Keras session first, which resets the dtype policy: without keeping
    it, every model trained in float32 whatever the search recorded."""
    from tuner.space.values import resolve_values
    from tuner.training.fit import Recipe, fit_model

    monkeypatch.setattr(backend, "has_gpu", lambda: False)
    x, y = tiny_train.images[:64], tiny_train.labels[:64]
    for mixed, compute in [(True, "bfloat16"), (False, "float32")]:
        with backend.precision(mixed):
            fit = fit_model(Recipe(resolve_values({**TINY, "epochs": 1})), x, y, seed=0)
        dense = [layer for layer in fit.model.layers if "dense" in layer.name.lower()]
        assert dense and dense[0].compute_dtype == compute
        assert fit.model.layers[-1].compute_dtype == "float32"  # probabilities stay float32
