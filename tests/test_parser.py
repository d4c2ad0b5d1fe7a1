"""The lexer and parser: what parses to what, and the exact text of every kind of error."""

from __future__ import annotations

import pytest

from gradcli.errors import LimitError, ParseError
from gradcli.language.nodes import to_text
from gradcli.language.ops import FUNCTIONS
from gradcli.language.parser import parse
from gradcli.limits import MAX_DEPTH, MAX_LENGTH, MAX_NODES


def shape(source: str) -> str:
    """The tree as fully parenthesised prefix text, to pin down precedence and associativity."""
    expr = parse(source)
    out: list[str] = []
    for node in expr.nodes:
        if node.kind == "number":
            out.append(node.text)
        elif node.kind in ("variable", "constant"):
            out.append(node.name)
        else:
            out.append(f"{node.op}({', '.join(out[a] for a in node.args)})")
    return out[-1]


@pytest.mark.parametrize(
    ("source", "tree"),
    [
        ("x**2*y", "mul(pow(x, 2), y)"),
        ("x^2", "pow(x, 2)"),
        ("-x**2", "neg(pow(x, 2))"),
        ("2**-1", "pow(2, neg(1))"),
        ("2**3**2", "pow(2, pow(3, 2))"),
        ("2^3^2", "pow(2, pow(3, 2))"),
        ("a-b-c", "sub(sub(a, b), c)"),
        ("a/b/c", "div(div(a, b), c)"),
        ("a-(b-c)", "sub(a, sub(b, c))"),
        ("-a*b", "mul(neg(a), b)"),
        ("a--b", "sub(a, neg(b))"),
        ("+x", "pos(x)"),
        ("x**-y**2", "pow(x, neg(pow(y, 2)))"),
        ("(-x)**2", "pow(neg(x), 2)"),
        ("sin(x**2)", "sin(pow(x, 2))"),
        ("max(x, y) + min(1, x)", "add(max(x, y), min(1, x))"),
        ("pow(x, 3)", "pow(x, 3)"),
        ("2*pi*e", "mul(mul(2, pi), e)"),
        (".5 + 1e-3 + 2.5E+2", "add(add(.5, 1e-3), 2.5E+2)"),
        ("detach(x)*x", "mul(detach(x), x)"),
        ("  x  +  1  ", "add(x, 1)"),
        ("x @ y", "matmul(x, y)"),
        ("w1_b*X2", "mul(w1_b, X2)"),
    ],
)
def test_parse_tree(source: str, tree: str) -> None:
    assert shape(source) == tree


@pytest.mark.parametrize(
    "source",
    [
        "x**2*y",
        "-x**2",
        "(-x)**2",
        "2**-1",
        "a-(b-c)",
        "a/(b*c)",
        "(a+b)*(c-d)",
        "x**y**z",
        "(x**y)**z",
        "-(a+b)",
        "sin(cos(x))**2",
        "max(x, y)-min(x, -y)",
        "a*-b",
        "--x",
        "x^2^3",
        "detach(x*y)+log10(z)",
        "pi*e**x",
        "-x*-y",
        "(a@b)@c",
        "a@(b@c)",
    ],
)
def test_print_then_parse_gives_the_same_tree(source: str) -> None:
    tree = parse(source)
    assert parse(to_text(tree)) == tree


def test_spans_give_the_text_as_written() -> None:
    expr = parse("(x+1)*sin(y)")
    texts = [expr.text_of(i) for i in range(len(expr.nodes))]
    assert texts == ["x", "1", "x+1", "y", "sin(y)", "(x+1)*sin(y)"]


def test_variables_in_order_of_first_use() -> None:
    assert parse("b*a + sin(b) + c").variables == ("b", "a", "c")
    assert parse("2*pi").variables == ()


# Every error: the first line of the report (with its column), exactly.
@pytest.mark.parametrize(
    ("source", "first_line"),
    [
        ("", "column 1: empty expression"),
        ("x**", "column 2: expression is incomplete after '**'"),
        ("(x+1", "column 1: unclosed '('"),
        ("sin(x", "column 4: unclosed '('"),
        ("x)", "column 2: unmatched ')'"),
        ("()", "column 1: empty parentheses"),
        ("sin()", "column 5: sin() needs an argument"),
        ("2x", "column 1: implicit multiplication is not supported"),
        ("x y", "column 3: missing operator before 'y'"),
        ("(x)(y)", "column 4: missing operator before '('"),
        ("sin x", "column 1: 'sin' is a function; call it with parentheses"),
        ("exp", "column 1: 'exp' is a function; call it with parentheses"),
        ("sin(x, y)", "column 1: sin() takes 1 argument, got 2"),
        ("max(x)", "column 1: max() takes 2 arguments, got 1"),
        ("x, y", "column 2: only one expression is allowed here"),
        ("x//2", "column 2: floor division '//' is not supported"),
        ("x == 2", "column 3: comparisons are not supported"),
        ("x = 2", "column 3: unexpected character '='"),
        ("~x", "column 1: unexpected character '~'"),
        ("x % 2", "column 3: unexpected character '%'"),
        ("x.y", "column 2: unexpected character '.'"),
        ("foo(x)", "column 1: unknown function 'foo'"),
        ("pi(2)", "column 1: 'pi' is a constant, not a function"),
        ("nan*x", "column 1: 'nan' is not allowed: NaN is not accepted as a number"),
        ("inf", "column 1: 'inf' is not allowed: infinity is not accepted as a number"),
        ("True + x", "column 1: 'True' is not allowed: booleans are not numbers here"),
        ("x if y", "column 3: missing operator before 'if'"),
        ("not x", "column 1: 'not' is a Python keyword; expressions are not Python"),
        ("*x", "column 1: expression cannot start with '*'"),
        ("x*/y", "column 3: operator '/' cannot follow '*'"),
        ("max(x,)", "column 6: missing argument after ','"),
        ("1e400", "column 1: number 1e400 is too large for float64 (max about 1.8e308)"),
        ("1e-400", "column 1: number 1e-400 is too small for float64: it rounds to 0"),
        ("2e", "column 1: incomplete exponent in number"),
        ("1.2.3", "column 4: a number has at most one '.'"),
        ("0x10", "column 1: hexadecimal, binary and octal literals are not supported"),
        ("1_000", "column 2: digit separators '_' are not supported"),
        ("2j", "column 1: complex numbers are not supported"),
        ("_x", "column 1: unexpected character '_'"),
        ("x\n+1", "column 2: control character '\\n' (LINE FEED) is not allowed"),
        ("x\x00", "column 2: control character '\\x00' (NUL) is not allowed"),
        ("x\u2212y", "column 2: non-ASCII character '\\u2212' (MINUS SIGN) is not allowed"),
        ("9**9**9", "column 4: constant exponent 3.8742e+08 is too large; the limit is 10,000"),
        ("x**20000", "column 4: constant exponent 20000 is too large; the limit is 10,000"),
    ],
)
def test_error_text(source: str, first_line: str) -> None:
    with pytest.raises(ParseError) as info:
        parse(source)
    assert info.value.report().splitlines()[0] == first_line


def test_error_report_draws_a_caret_under_the_problem() -> None:
    with pytest.raises(ParseError) as info:
        parse("x + 2y")
    assert info.value.report() == (
        "column 5: implicit multiplication is not supported\n  x + 2y\n      ^^\nhint: write 2*y"
    )


def test_caret_accounts_for_escaped_characters() -> None:
    with pytest.raises(ParseError) as info:
        parse("\x1b[2J+x")
    lines = info.value.report().splitlines()
    assert lines[1] == "  \\x1b[2J+x"
    assert lines[2] == "  ^^^^"


@pytest.mark.parametrize(
    ("source", "hint"),
    [
        ("ln(x)", "did you mean 'log'?"),
        ("Sin(x)", "did you mean 'sin'?"),
        ("arcsin(x)", "did you mean 'asin'?"),
        ("sinn(x)", "did you mean 'sin'?"),
        ("ｘ**2", "type the plain ASCII 'x' instead"),
        ("x\u2212y", "replace it with '-'"),
        ("x\u00a0+1", "replace it with ' '"),
        ("\ufeffx", "delete it"),
        ("2x", "write 2*x"),
    ],
)
def test_hints(source: str, hint: str) -> None:
    with pytest.raises(ParseError) as info:
        parse(source)
    assert info.value.hint == hint


def test_unknown_function_lists_the_functions() -> None:
    with pytest.raises(ParseError) as info:
        parse("print(x)")
    assert info.value.hint == "functions: " + ", ".join(FUNCTIONS)


def test_length_limit() -> None:
    with pytest.raises(LimitError, match=f"the limit is {MAX_LENGTH:,}"):
        parse("x" * (MAX_LENGTH + 1))


def test_depth_limit_parentheses() -> None:
    parse("(" * 50_000 + "x" + ")" * 50_000)
    with pytest.raises(LimitError, match=f"more than {MAX_DEPTH:,} levels"):
        parse("(" * (MAX_DEPTH + 1) + "x")  # refused at the opening too many, not at the end


def test_depth_limit_signs_and_power_towers() -> None:
    parse("-" * 20_000 + "x")
    with pytest.raises(LimitError, match="nested too deeply"):
        parse("-" * (MAX_DEPTH + 1) + "x")
    with pytest.raises(LimitError, match="nested too deeply"):
        parse("(-" * (MAX_DEPTH // 2 + 1) + "x")
    parse("**".join(["1"] * 30_000))  # a chain of 29,999 powers


def test_power_tower_limit() -> None:
    parse("**".join(["x"] * 11))  # ten levels of variable exponents
    parse("(" * 20 + "x" + "**x)" * 20)  # left-nested powers are not a tower
    parse("x**2**2**2")  # nor are constant exponents
    with pytest.raises(LimitError, match="power tower of more than 10 levels"):
        parse("**".join(["x"] * 12))


def test_long_flat_sums_are_not_deep() -> None:
    expr = parse("+".join(f"x{i}" for i in range(10_000)))
    assert len(expr.nodes) == 19_999
    assert len(expr.variables) == 10_000


def test_node_limit() -> None:
    with pytest.raises(LimitError, match=f"more than {MAX_NODES:,} nodes"):
        parse("+".join(["x"] * (MAX_NODES // 2 + 1)))


def test_number_length_limit() -> None:
    with pytest.raises(LimitError, match="number literal has 5,000 characters"):
        parse("1" * 5000)
