"""Library errors name the parameter a Python caller passed; the CLI shows the flag instead."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from grainseg.commands import build_parser, error_message
from grainseg.errors import GrainsegError, ParameterError
from grainseg.train.config import TrainConfig

SRC = Path(__file__).resolve().parents[1] / "src" / "grainseg"
FLAG = re.compile(r"--[a-z]")
_ERRORS = {"GrainsegError": 0, "ParameterError": 0, "input_error": 1}  # name -> message argument


def _opening(node: ast.expr) -> str:
    """The literal text a message expression starts with ('' when it starts with a value)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr) and node.values:
        return _opening(node.values[0])
    if isinstance(node, ast.BinOp):
        return _opening(node.left)
    return ""


def messages_opening_with_a_flag(source: str) -> list[int]:
    """Lines of ``source`` that build an error whose message (or parameter) starts with a flag."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                and node.func.id in _ERRORS and len(node.args) > _ERRORS[node.func.id]:
            if FLAG.match(_opening(node.args[_ERRORS[node.func.id]])):
                lines.append(node.lineno)
    return lines


def test_library_errors_open_with_the_parameter_not_a_flag():
    found = []
    for path in sorted(SRC.rglob("*.py")):
        relative = path.relative_to(SRC)
        if relative.parts[0] == "commands" or relative.name == "cli.py":
            continue  # the CLI layer speaks of flags
        found += [f"{relative}:{line}" for line in
                  messages_opening_with_a_flag(path.read_text(encoding="utf-8"))]
    assert not found, "library errors naming a CLI flag: " + ", ".join(found)


@pytest.mark.parametrize("source", [
    'raise GrainsegError(f"--width must be > 0, got {w}")',
    'raise GrainsegError("--lr must be > 0")',
    'raise input_error(path, f"--page {page}: no such page")',
    'raise ParameterError("--seed", "must not be negative")',
])
def test_the_check_catches_a_flag(source):
    assert messages_opening_with_a_flag(source) == [1]


def test_config_error_names_the_field():
    with pytest.raises(ParameterError) as caught:
        TrainConfig(dataset="ds", width=0).validate()
    assert str(caught.value) == "width must be > 0"
    assert caught.value.parameter == "width"
    with pytest.raises(ParameterError, match="^max_time_min must be a finite number, got inf$"):
        TrainConfig(dataset="ds", max_time_min=float("inf")).validate()
    assert isinstance(caught.value, GrainsegError)  # the CLI's one-line handling applies


@pytest.mark.parametrize(("argv", "error", "line"), [
    (["train", "ds", "--out", "run"], ParameterError("width", "must be > 0"), "--width must be > 0"),
    (["train", "ds", "--out", "run"], ParameterError("max_time_min", "must be > 0"),
     "--max-time must be > 0"),
    (["compare", "ds", "--out", "t"], ParameterError("max_time_min", "must be > 0"),
     "--max-time must be > 0"),
    (["labels", "--ebsd", "m.ctf", "--out", "l"], ParameterError("lagb_deg", "12: must be > 0"),
     "--lagb 12: must be > 0"),
    (["dataset", "l", "--out", "ds"], ParameterError("median_px", "20: must be between"),
     "--median 20: must be between"),
    # A parameter the command has no flag for, and other errors, are shown as they are.
    (["train", "ds", "--out", "run"], ParameterError("name", "'x': unknown"), "name 'x': unknown"),
    (["train", "ds", "--out", "run"], GrainsegError("ds: not a data set"), "ds: not a data set"),
])
def test_cli_shows_the_flag_of_the_parameter(argv, error, line):
    assert error_message(build_parser().parse_args(argv), error) == line
