"""The library API the commands call (tuner.pipeline): the whole job from Python."""

from __future__ import annotations

import pytest

from tests.helpers import assert_plain_keras_reproduces
from tuner import pipeline
from tuner.errors import SearchError

# tracing a tiny model's graphs costs more than training it: these tests check what the
# library does, not how Keras compiles (tests/test_shipped.py runs it as shipped)
pytestmark = pytest.mark.eager


def test_run_searches_then_exports_as_the_command_does(tmp_path, tiny_dir, tiny_space_path):
    job = pipeline.prepare(
        tiny_dir, tiny_space_path, with_test=True, name="lib", results_dir=tmp_path, seed=3,
        max_trials=2, isolate=False,
    )  # fmt: skip
    assert job.config.directory == tmp_path / "lib" and len(job.data.test) == 40
    result, exported = pipeline.run(job, ensemble="none", tta=1)
    assert len(result.records) == 2 and result.best is not None
    assert exported.best.trial_id == result.best.trial_id and exported.rows == 40
    assert_plain_keras_reproduces(
        exported.model_path, job.data.test.images, exported.submission_path
    )


def test_run_refuses_a_bad_recipe_before_any_training(tmp_path, tiny_dir, tiny_space_path):
    job = pipeline.prepare(tiny_dir, tiny_space_path, name="bad", results_dir=tmp_path)
    with pytest.raises(SearchError, match="tta must be 1, 5 or 9"):
        pipeline.run(job, tta=4)
    assert not (tmp_path / "bad").exists()


def test_a_default_name_says_the_space_and_the_data(tiny_dir):
    assert pipeline.default_name("quick", None) == "quick-embedded"
    assert pipeline.default_name("quick", tiny_dir) == f"quick-{tiny_dir.name}"
