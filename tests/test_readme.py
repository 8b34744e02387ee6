"""The README and the pages under docs/ agree with the software: every `digit-tuner` command in
their code blocks is one the CLI accepts (its command and options parsed as the CLI parses them,
nothing run), every TOML block is a space the toolkit loads, every Python block compiles and
imports only names the package has, and the README's Python blocks run, in order, on the tiny
digits."""

from __future__ import annotations

import ast
import re
import shlex
from pathlib import Path

import pytest
import typer

from tests.helpers import ROOT
from tuner.cli import app
from tuner.space.spaces import load_space

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)


def blocks(language: str) -> list[tuple[str, str]]:
    """(page:line, text) of every code block of ``language`` in the pages."""
    found = []
    for page in PAGES:
        text = page.read_text()
        for match in BLOCK.finditer(text):
            if match.group(1) == language:
                line = text[: match.start()].count("\n") + 1
                found.append((f"{page.name}:{line}", match.group(2)))
    return found


def commands() -> list[tuple[str, list[str]]]:
    """Every ``digit-tuner ...`` invocation of the bash blocks, as its arguments."""
    found = []
    for where, text in blocks("bash"):
        for line in text.splitlines():
            for part in re.split(r"&&|;", line.split(" #")[0]):
                words = shlex.split(part)
                if words and Path(words[0]).name == "digit-tuner":
                    found.append((where, words[1:]))
    return found


def test_the_pages_show_commands_toml_and_python():
    assert len(commands()) >= 6 and blocks("toml") and len(blocks("python")) >= 3


def shown(value) -> str:
    return " ".join(value)[:60] if isinstance(value, list) else str(value)[:30]


@pytest.mark.parametrize(("where", "args"), commands(), ids=shown)
def test_every_command_shown_is_one_the_cli_accepts(where, args):
    group = typer.main.get_command(app)
    with group.context_class(group, info_name="digit-tuner") as context:
        command = group.get_command(context, args[0])
        assert command is not None, f"{where}: no command {args[0]!r}"
        try:
            command.make_context(args[0], list(args[1:]), parent=context)
        except Exception as e:  # Typer's click (vendored or not): a usage error
            pytest.fail(f"{where}: digit-tuner {shlex.join(args)}: {e}")


@pytest.mark.parametrize(("where", "text"), blocks("toml"), ids=shown)
def test_every_space_shown_loads(tmp_path, where, text):
    path = tmp_path / "shown.toml"
    path.write_text(text)
    assert load_space(path).hyperparameters, where


@pytest.mark.parametrize(("where", "text"), blocks("python"), ids=shown)
def test_every_python_block_compiles_and_imports_what_the_package_has(where, text):
    import tuner

    tree = ast.parse(text, filename=where)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "tuner":
            missing = [a.name for a in node.names if not hasattr(tuner, a.name)]
            assert not missing, f"{where}: tuner has no {missing}"


# What the README's Python blocks run, shrunk to the tiny digits: each replacement must still
# find its text, so a block that changes is rerun here as it now reads.
SHRUNK = {
    'load_data("../shared/data/digit-recognizer")': "load_data(TINY_DIR)",
    'load_space("quick")': "load_space(TINY_SPACE)",
    'open_results("quick-digit-recognizer")': 'open_results("mine")',
}


def shrunk(text: str, replacements: dict[str, str]) -> str:
    for old, new in replacements.items():
        if old in text:
            text = text.replace(old, new)
    return text


@pytest.mark.eager
def test_the_readmes_python_blocks_run_in_order_on_the_tiny_digits(
    tmp_path, monkeypatch, tiny_dir, tiny_space_path
):
    """The blocks of README.md run one after another in one namespace, as a reader pastes them
    into a notebook: the hypermodels build, the search runs and exports, its results open."""
    import keras

    from tuner.models.hypermodels import build, load_hypermodel

    monkeypatch.chdir(tmp_path)
    readme = [(where, text) for where, text in blocks("python") if where.startswith("README")]
    used = {old for old in SHRUNK if any(old in text for _, text in readme)}
    assert used == set(SHRUNK), f"the README no longer shows {set(SHRUNK) - used}"
    namespace = {"TINY_DIR": str(tiny_dir), "TINY_SPACE": str(tiny_space_path)}
    for where, text in readme:
        exec(compile(shrunk(text, SHRUNK), where, "exec"), namespace)  # noqa: S102
    # block 1's hypermodels, as the toolkit takes them
    for name in ("model_builder", "Tuned"):
        space = load_hypermodel(namespace[name])
        model = build(space.default_values(), space=space)
        assert model.output_shape == (None, 10)
    # blocks 2 and 3: the search, its export, and what open_results gives back
    assert (tmp_path / "results" / "mine" / "submission.csv").is_file()
    assert isinstance(namespace["model"], keras.Model) and len(namespace["folds"]) >= 2
