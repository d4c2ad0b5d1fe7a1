"""Variable values on the command line and through the API."""

from __future__ import annotations

import pytest

from gradcli.cli.arguments import split_arguments
from gradcli.errors import InputError, UsageError
from gradcli.language.values import coerce_values, match_variables, parse_number


@pytest.mark.parametrize(
    ("args", "expression", "values"),
    [
        (["x**2*y", "--x", "2", "--y", "3"], "x**2*y", {"x": "2", "y": "3"}),
        (["x**2*y", "--x=2", "--y=3"], "x**2*y", {"x": "2", "y": "3"}),
        (["sin(x^2)", "x=4"], "sin(x^2)", {"x": "4"}),
        (["--x", "1", "-x**2"], "-x**2", {"x": "1"}),
        (["-x**2", "--x", "-1"], "-x**2", {"x": "-1"}),
        (["x==2"], "x==2", {}),
        (["---x", "--x", "2"], "---x", {"x": "2"}),
        (["--w1", "0.5", "w1*x", "x=1e-3"], "w1*x", {"w1": "0.5", "x": "1e-3"}),
    ],
)
def test_split_arguments(args: list[str], expression: str, values: dict[str, str]) -> None:
    assert split_arguments(args) == (expression, values)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "missing expression"),
        (["--x", "1"], "missing expression"),
        (["x", "y"], "expected one expression, got 2: 'x', 'y'"),
        (["x", "--x"], "--x needs a value"),
        (["x", "--x", "1", "--x", "2"], "x is given more than once"),
        (["x", "--foo-bar", "2"], "no such option: --foo-bar"),
        (["x", "--pi", "2"], "'pi' is a constant and cannot be given a value"),
        (["x", "--sin", "2"], "'sin' is a function name and cannot be a variable"),
        (["x", "--json"], "--json came after '--', where nothing is read as an option"),
    ],
)
def test_split_argument_errors(args: list[str], message: str) -> None:
    with pytest.raises((UsageError, InputError)) as info:
        split_arguments(args, reserved={"--json"})
    assert info.value.message == message


@pytest.mark.parametrize("text", ["2", "-0.5", "+3", ".5", "1e-3", "2.", "1E+5", "0"])
def test_numbers_accepted(text: str) -> None:
    assert parse_number(text, "x") == float(text)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("nan", "value for x is not a number: 'nan'"),
        ("inf", "value for x is not a number: 'inf'"),
        ("1_000", "value for x is not a number: '1_000'"),
        ("0x10", "value for x is not a number: '0x10'"),
        (" 2", "value for x is not a number: ' 2'"),
        ("", "value for x is not a number: ''"),
        ("1e400", "value for x is too large for float64: '1e400'"),
        ("1e-400", "value for x is too small for float64 (it rounds to 0): '1e-400'"),
        ("2\x1b[31m", "value for x is not a number: '2\\x1b[31m'"),
    ],
)
def test_numbers_refused(text: str, message: str) -> None:
    with pytest.raises(InputError) as info:
        parse_number(text, "x")
    assert info.value.message == message


def test_coerce_values_from_python() -> None:
    assert coerce_values({"x": 2, "y": "0.5", "z": 1.5}) == {"x": 2.0, "y": 0.5, "z": 1.5}
    for bad in (True, float("nan"), float("inf"), [[1], [2, 3]], [], None, 10**400):
        with pytest.raises(InputError):
            coerce_values({"x": bad})


def test_match_variables_lists_missing_and_extra_names() -> None:
    assert match_variables(["y", "x"], {"x": 1.0, "y": 2.0}) == {"y": 2.0, "x": 1.0}
    with pytest.raises(UsageError) as info:
        match_variables(["x", "y"], {"x": 1.0})
    assert info.value.message == "no value for y"
    assert info.value.hint == "add --y VALUE; the expression uses x, y"
    with pytest.raises(UsageError) as info:
        match_variables(["x"], {"x": 1.0, "X": 2.0})
    assert info.value.message == "value given for X, but the expression uses x"
    with pytest.raises(UsageError) as info:
        match_variables([], {"x": 1.0})
    assert info.value.message == "value given for x, but the expression has no variables"
