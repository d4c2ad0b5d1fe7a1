"""What the commands print, kept true: the README's console examples and the golden views.

``python -m gradcli._dev.examples --write`` runs every ``$ gradcli ...`` example of the README
(at 80 columns, no colour, as a terminal shows them: the result, then the warnings) and writes
its output under it; it also writes ``tests/golden/``, the views of every command on the
canonical examples at 60, 80 and 120 columns. Tests fail while either is stale.
"""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
GOLDEN = ROOT / "tests" / "golden"
WIDTHS = (60, 80, 120)

BCE = "-(y*log(sigmoid(w*x+b)) + (1-y)*log(1-sigmoid(w*x+b)))"
BCE_POINT = ["--x", "6.7", "--y", "0", "--w", "1", "--b", "0"]
MSE = "mean((w*X + b - Y)**2)"
#: the canonical examples: the README's, the tutorials' losses, vectors of 4 and 8 elements,
#: a matrix, Jacobians, a 3x3 Hessian, and the BCE loss's graph and steps
CANONICAL: dict[str, list[str]] = {
    "grad-readme": ["grad", "x**2*y", "--x", "2", "--y", "3"],
    "grad-bce": ["grad", BCE, *BCE_POINT],
    "grad-mse": ["grad", MSE, "--X", "1,2,3,4", "--Y", "3,5,7,9", "--w", "0", "--b", "0"],
    "grad-vector4": ["grad", "sum(sin(x))", "--x", "1,2,3,4"],
    "grad-vector8": ["grad", "sum(sin(x)*exp(-x))", "--x", "1,2,3,4,5,6,7,8"],
    "grad-matrix": ["grad", "sum(W**2)*0.5", "--W", "[[1.5, -2.25], [3.125, 4e-7]]"],
    "jacobian-two": ["jacobian", "x*y, x+y", "--x", "2", "--y", "3"],
    "jacobian-matrix": ["jacobian", "W@x", "--W", "[[1, 2], [3, 4]]", "--x", "0.1,0.2"],
    "hessian-3x3": ["hessian", "sin(x)*cos(y)*z", "--x", "1", "--y", "2", "--z", "3"],
    "hessian-saddle": ["hessian", "x**2 - y**2", "--x", "0", "--y", "0"],
    "graph-readme": ["graph", "sin(x**2)", "--x", "4"],
    "graph-detach": ["graph", "detach(x**2)*x", "--x", "3"],
    "graph-bce": ["graph", BCE, *BCE_POINT],
    "graph-torch": ["graph", "sin(x**2)*y", "--x", "4", "--y", "2", "--torch"],
    "steps-readme": ["steps", "sin(x**2)", "--x", "4"],
    "steps-bce": ["steps", BCE, *BCE_POINT, "--wrt", "b"],
}


def run(args: list[str], width: int) -> str:
    """What the command shows on a terminal ``width`` columns wide: stdout, then stderr."""
    # (here, not at the top: the CLI's test runner loads Typer)
    from typer.testing import CliRunner

    from ..cli.app import app  # (Typer)

    result = CliRunner(env={"NO_COLOR": "1", "COLUMNS": str(width)}).invoke(app, args)
    text = result.stdout + result.stderr
    return "".join(line.rstrip() + "\n" for line in text.splitlines())


def golden_names() -> list[str]:
    return [f"{name}-{width}.txt" for name in CANONICAL for width in WIDTHS]


def golden_case(file_name: str) -> tuple[list[str], int]:
    """The command and the width of one golden file."""
    name, _, width = file_name.removesuffix(".txt").rpartition("-")
    return CANONICAL[name], int(width)


def golden() -> dict[str, str]:
    """Each golden file's name and text."""
    return {name: run(*golden_case(name)) for name in golden_names()}


_EXAMPLE = re.compile(r"(```console\n\$ (gradcli [^\n]*)\n)(.*?)((?:^\$ .*?)?```)", re.S | re.M)


def readme(text: str) -> str:
    """The README with every console example's output as the command prints it now. An
    example whose output ends in a line ``...`` keeps only as many lines before it; what
    follows a second ``$`` command in the block is left as it is."""

    def rerun(match: re.Match[str]) -> str:
        args = shlex.split(match.group(2))[1:]
        output = run(args, 80)
        old = match.group(3).splitlines()
        if old and old[-1] == "...":
            output = "".join(line + "\n" for line in output.splitlines()[: len(old) - 1])
            output += "...\n"
        return match.group(1) + output + match.group(4)

    return _EXAMPLE.sub(rerun, text)


def main() -> int:
    write = "--write" in sys.argv[1:]
    stale = []
    current = README.read_text(encoding="utf-8")
    fresh = readme(current)
    if fresh != current:
        stale.append(str(README))
        if write:
            README.write_text(fresh, encoding="utf-8")
    GOLDEN.mkdir(exist_ok=True)
    for name, text in golden().items():
        path = GOLDEN / name
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            stale.append(str(path))
            if write:
                path.write_text(text, encoding="utf-8")
    for stale_path in stale:
        print(("wrote " if write else "stale: ") + stale_path)
    return 0 if write or not stale else 1


if __name__ == "__main__":
    sys.exit(main())
