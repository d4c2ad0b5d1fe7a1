"""The README's reference tables, generated from the op table and the exit codes.

``python -m gradcli._dev.readme_tables`` prints them; a test checks that the README holds
exactly these.
"""

from __future__ import annotations

from ..errors import ExitCode
from ..language.ops import BINARY_SYMBOLS, FUNCTIONS, OPS, PREFIX_SYMBOLS


def operator_table() -> str:
    """Markdown table of the operators, tightest binding first."""
    rows = ["| operator | meaning | d/du, d/dv |", "|---|---|---|"]
    seen: set[str] = set()
    entries = sorted(
        [(op.precedence, sym, op) for sym, op in BINARY_SYMBOLS.items()]
        + [(op.precedence, f"{sym}u (prefix)", op) for sym, op in PREFIX_SYMBOLS.items()],
        key=lambda e: -e[0],
    )
    for _, sym, op in entries:
        key = f"{sym}:{op.name}"
        if key in seen:
            continue
        seen.add(key)
        spelled = f"`u {sym} v`" if op.arity == 2 else f"`{sym.split()[0]}`"
        rows.append(f"| {spelled} | {op.doc} | {', '.join(f'`{d}`' for d in op.derivative)} |")
    return "\n".join(rows)


def function_table() -> str:
    """Markdown table of the functions, in table order."""
    rows = ["| function | meaning | local derivative(s) |", "|---|---|---|"]
    for op in FUNCTIONS.values():
        params = ", ".join(["u", "v"][: op.arity])
        derivs = ", ".join(f"`{d}`" for d in op.derivative)
        rows.append(f"| `{op.name}({params})` | {op.doc} | {derivs} |")
    return "\n".join(rows)


def exit_code_table() -> str:
    """Markdown table of the exit codes."""
    doc = {
        ExitCode.OK: "the check agreed, or the point is non-differentiable (a warning says so)",
        ExitCode.CHECK_FAILED: "`mismatch` or `precision_loss`: the results are printed, "
        "with both numbers; `gradcli check`: the answer is wrong (a counterexample is shown)",
        ExitCode.USAGE: "usage, parse or input error: nothing was computed",
        ExitCode.UNDEFINED: "`undefined` or `overflow`: no finite float64 answer at the point",
        ExitCode.CHECK_TIMEOUT: "`timeout` or `inconclusive`: the exact check did not finish "
        "within `--timeout`, or a number could not be settled at the precision cap; torch's "
        "numbers are printed, unchecked",
        ExitCode.DIVERGED: "`descend` did not converge: the loss or a parameter became "
        "non-finite or grew without bound (`diverged`), or the steps flip direction without "
        "shrinking (`oscillating`); the steps are printed",
        ExitCode.INTERNAL: "a bug in gradcli (please report it; `--debug` shows the traceback)",
        ExitCode.OUTPUT_FAILED: "the output could not be written (disk full, an I/O error); "
        "no partial file is left under the output's name",
        ExitCode.INTERRUPTED: "interrupted with Ctrl-C (SIGINT); no partial file is left",
        ExitCode.HANGUP: "stopped by SIGHUP (the terminal closed); cleaned up as for Ctrl-C",
        ExitCode.TERMINATED: "stopped by SIGTERM (`kill`, a job scheduler); cleaned up as for "
        "Ctrl-C",
        ExitCode.BROKEN_PIPE: "stdout was closed early by the reader (for example `head -c1`)",
    }
    rows = ["| code | meaning |", "|---|---|"]
    rows += [f"| {int(code)} | {doc[code]} |" for code in sorted(ExitCode)]
    return "\n".join(rows)


SECTIONS = {"operators": operator_table, "functions": function_table, "exit-codes": exit_code_table}

if __name__ == "__main__":
    for name, make in SECTIONS.items():
        print(f"<!-- {name}:start -->\n{make()}\n<!-- {name}:end -->\n")
    assert set(OPS)  # the table is non-empty
