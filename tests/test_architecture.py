"""The package's design, checked: the layers' import contracts (pyproject.toml, import-linter), that
they catch a violation, and that the commands that only read a search never load Keras."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import FIXTURES, ROOT

LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(project: Path) -> subprocess.CompletedProcess:
    """``lint-imports`` on ``project`` (its pyproject.toml's contracts, its tuner/ package)."""
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=project,
        env={"PYTHONPATH": str(project), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def copy_project(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    shutil.copytree(ROOT / "tuner", project / "tuner", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", project)
    return project


def test_the_layers_contracts_hold():
    done = lint_imports(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "4 kept, 0 broken" in done.stdout


def test_the_distributed_package_names_its_launcher_without_loading_it_first():
    """``tuner.distributed`` spans layers, so its package loads nothing; ``launch`` loads the
    launcher (and the search below it) on first use."""
    code = (
        "import sys, tuner.distributed as d; "
        "assert 'tuner.distributed.launcher' not in sys.modules; "
        "assert d.launch.__module__ == 'tuner.distributed.launcher'"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(
    ("module", "planted", "broken"),
    [
        # a lower layer importing a higher one
        ("tuner/storage/records.py", "import tuner.search.driver", "Layers import only downward"),
        ("tuner/data/splits.py", "import tuner.cli", "Nothing imports the CLI"),
        # the distributed package's modules keep their own layers: the chief is below the search
        ("tuner/distributed/chief.py", "import tuner.search.driver", "Layers import only downward"),
        ("tuner/distributed/secret.py", "import tuner.storage.manifest", "import only downward"),
        # Keras below the boundary
        ("tuner/ui/tables.py", "import keras", "never load Keras"),
        # the CLI loading Keras other than through the library API
        ("tuner/cli/inspecting.py", "import tuner.models.cnn", "only through the library API"),
    ],
)
def test_a_planted_violation_breaks_a_contract(tmp_path, module, planted, broken):
    project = copy_project(tmp_path)
    path = project / module
    path.write_text(path.read_text() + f"\n{planted}  # planted\n")
    done = lint_imports(project)
    assert done.returncode != 0, done.stdout
    line = next((x for x in done.stdout.splitlines() if broken in x), "")
    assert " BROKEN" in line, done.stdout


LOADED = """
import json, sys
from typer.testing import CliRunner
from tests.helpers import FIXTURES, ROOT
from tuner.cli import app
result = CliRunner().invoke(app, sys.argv[1:])
heavy = sorted(m for m in ("keras", "keras_tuner", "tensorflow", "jax") if m in sys.modules)
print(json.dumps({"exit": result.exit_code, "heavy": heavy, "output": result.output[-400:]}))
"""


@pytest.mark.parametrize(
    "command",
    [
        ["--help"],
        ["searches", "--results-dir", "{results}"],
        ["trials", "legacy", "--results-dir", "{results}"],
        ["trial", "1", "--search", "legacy", "--results-dir", "{results}"],
        ["importance", "legacy", "--results-dir", "{results}"],
    ],
)
def test_commands_that_read_a_search_load_neither_keras_nor_tensorflow(tmp_path, command):
    results = tmp_path / "results"
    shutil.copytree(FIXTURES / "legacy-search", results / "legacy")
    args = [a.format(results=results) for a in command]
    done = subprocess.run(
        [sys.executable, "-c", LOADED, *args], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    seen = json.loads(done.stdout.splitlines()[-1])
    assert seen["exit"] == 0, seen["output"]
    assert seen["heavy"] == [], seen


def test_structure_figures_meet_their_goals():
    """``shared/tools/structure.py`` (beside the checkout, where it is laid out): no import cycles,
    no class inside a function, few long functions, a short README, no history by sessions."""
    tool = ROOT.parent / "shared" / "tools" / "structure.py"
    if not tool.is_file():
        pytest.skip(f"{tool} is not here")
    done = subprocess.run(
        [sys.executable, str(tool), str(ROOT)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_wheel_lists_every_sub_package():
    """pyproject.toml names the packages a wheel installs; one left out would be missing from an
    installed (not editable) digit-tuner, and one that no longer exists breaks the install."""
    import tomllib

    listed = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    found = {
        ".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "tuner").rglob("__init__.py")
    }
    assert listed == found | {"tuner.search_spaces"}


def test_the_sub_packages_are_reachable_from_import_tuner_without_keras():
    """``import tuner`` then ``tuner.space.V5`` (as the README writes it) works, and reaching a
    sub-package below the Keras boundary loads no Keras."""
    code = (
        "import sys, tuner; v5 = tuner.space.V5; assert v5['conv_filters'] == 256, v5; "
        "assert 'keras' not in sys.modules"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
