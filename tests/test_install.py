"""Installing digit-tuner where a backend is installed already (a Kaggle or Colab image) keeps
that backend: the package itself requires none, the extras name them."""

from __future__ import annotations

import ast
import importlib.metadata
import importlib.util
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

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


def _names(requirements: list[str]) -> set[str]:
    """Distribution names of requirement strings, normalized ("keras-tuner>=1.4; extra..." ->
    "keras-tuner"), leaving out those that only an extra asks for."""
    plain = [r for r in requirements if "extra ==" not in r]
    return {re.split(r"[<>=!~;\[ ]", r, maxsplit=1)[0].lower().replace("_", "-") for r in plain}


def _module_level_imports(package: Path) -> set[str]:
    """The third-party top-level modules ``package``'s files import when they load."""
    found = set()
    for path in package.rglob("*.py"):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.Import):
                found |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return {m for m in found if m not in sys.stdlib_module_names and m != package.name}


def test_what_keras_tuner_imports_is_required_without_tensorflow():
    """keras-tuner imports ``six`` without declaring it, and TensorFlow brings it: an environment
    with JAX alone (the GPU machines', ``pip install .[jax]``) failed at ``import keras_tuner``.
    Every module keras-tuner imports must come from a distribution it or this package requires."""
    ours = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    theirs = importlib.metadata.requires("keras-tuner") or []
    required = _names(ours) | _names(theirs)
    package = Path(importlib.util.find_spec("keras_tuner").origin).parent
    providers = importlib.metadata.packages_distributions()
    missing = {
        module: providers.get(module)
        for module in _module_level_imports(package)
        if not {d.lower().replace("_", "-") for d in providers.get(module, [])} & required
    }
    assert not missing, f"keras-tuner imports these, which nothing requires: {missing}"


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
