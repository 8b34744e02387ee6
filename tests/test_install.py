"""Installing digit-tuner where a backend is installed already (a Kaggle or Colab image) keeps
that backend: the package itself requires none, the extras name them."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib

import pytest

from tests.helpers import ROOT

BACKENDS = ("tensorflow", "tensorflow-cpu", "jax", "jaxlib", "keras", "keras-tuner")


def test_the_package_requires_no_backend_and_the_extras_name_them():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    required = " ".join(project["dependencies"])
    assert "tensorflow-cpu" not in required and "jax" not in required
    extras = project["optional-dependencies"]
    assert extras["cpu"] == ["tensorflow-cpu>=2.16"] and extras["tensorflow"][0].startswith(
        "tensorflow>="
    )
    assert extras["jax"][0].startswith("jax>=") and "cuda" in extras["jax-cuda"][0]
    assert "tensorboard" in required  # keras-tuner needs it whatever the backend


@pytest.mark.slow  # a fresh venv with TensorFlow installed first: a few minutes
def test_installing_into_an_environment_with_a_backend_changes_none_of_it(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "--quiet"]
    subprocess.run([*pip, "install", "tensorflow-cpu", "keras", "keras-tuner"], check=True)
    report = tmp_path / "report.json"
    subprocess.run(
        [*pip, "install", "--dry-run", "--report", str(report), "-e", str(ROOT)], check=True
    )
    installs = {i["metadata"]["name"].lower() for i in json.loads(report.read_text())["install"]}
    assert not installs & set(BACKENDS), sorted(installs & set(BACKENDS))
