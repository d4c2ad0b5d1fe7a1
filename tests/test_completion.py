"""TAB completion: the checked-in scripts are current, candidates are right, the real shells get
them, and nothing heavy is imported on the way."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gradcli._dev import completion_spec
from gradcli.cli import completion
from gradcli.cli._completion_spec import SPEC
from gradcli.cli.completion import SHELLS

from .conftest import run_cli

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "completions"
BIN = str(Path(sys.executable).parent)  # where the installed 'gradcli' command lives
GRAD_OPTIONS = [name for name in SPEC["commands"]["grad"]["options"] if name.startswith("--")]


def env() -> dict[str, str]:
    return {**os.environ, "PATH": BIN + os.pathsep + os.environ.get("PATH", "")}


# ---- generated files ---------------------------------------------------------------------------


@pytest.mark.parametrize("shell", sorted(completion.SHELLS))
def test_checked_in_scripts_are_current(shell: str) -> None:
    path = SCRIPTS / completion.SHELLS[shell]
    assert path.read_text(encoding="utf-8") == completion_spec.script(shell), (
        "run: python -m gradcli._dev.completion_spec --write"
    )


def test_checked_in_spec_is_current() -> None:
    path = ROOT / "gradcli" / "cli" / "_completion_spec.py"
    assert path.read_text(encoding="utf-8") == completion_spec.spec_module(), (
        "run: python -m gradcli._dev.completion_spec --write"
    )


# ---- candidates ------------------------------------------------------------------------------


def values(args: list[str], incomplete: str) -> list[str]:
    return [v for v, _ in completion.candidates(SPEC, args, incomplete)]


def test_commands_and_root_options() -> None:
    assert values([], "gr") == ["grad", "graph"]
    assert values([], "") == [
        "check",
        "descend",
        "grad",
        "graph",
        "hessian",
        "jacobian",
        "repl",
        "server",
        "steps",
    ]
    assert values([], "--v") == ["--version"]


def test_options_and_fixed_choices() -> None:
    assert values(["graph"], "--fo") == ["--format"]
    assert values(["graph", "--format"], "") == ["tree", "dot", "mermaid", "json"]
    assert values(["grad", "--dtype"], "float3") == ["float32"]
    assert values(["grad", "--timeout"], "") == []  # a free value: nothing to offer


def test_variables_of_the_expression() -> None:
    assert values(["grad", "x**2*y"], "--") == ["--x", "--y", *GRAD_OPTIONS]
    assert values(["grad", "x**2*y", "--x", "2"], "--") == ["--y", *GRAD_OPTIONS]
    assert values(["grad", "x**2*y", "x=2", "--y=3"], "--") == GRAD_OPTIONS
    assert values(["grad", "--x", "1", "--json", "x*y"], "--") == [
        "--y",
        *[o for o in GRAD_OPTIONS if o != "--json"],
    ]
    assert values(["grad", "w1*x + b"], "--w") == ["--w1", "--wrt"]
    assert values(["jacobian", "x*y, x+z"], "--")[:3] == ["--x", "--y", "--z"]


@pytest.mark.parametrize("expression", ["2x", "x**", "__import__('os')", "x\x1b[2J"])
def test_unparseable_expression_adds_no_variables(expression: str) -> None:
    assert values(["grad", expression], "--") == GRAD_OPTIONS


def test_completion_imports_nothing_heavy() -> None:
    probe = (
        "import os, sys, runpy\n"
        "os.environ.update({'_GRADCLI_COMPLETE': 'complete_bash',"
        " 'COMP_WORDS': 'gradcli grad x**2*y --', 'COMP_CWORD': '3'})\n"
        "try:\n    runpy.run_module('gradcli', run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
        "print(sorted(m for m in ('torch', 'sympy', 'typer', 'rich') if m in sys.modules),"
        " file=sys.stderr)\n"
    )
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert proc.stderr.strip() == "[]"
    assert proc.stdout.splitlines()[:2] == ["--x", "--y"]


# ---- the real shells ---------------------------------------------------------------------------
# Each test drives the shell's own completion machinery when the shell is installed (CI installs
# bash, zsh and fish); without it, it runs the exact request the script would send.


def protocol(shell: str, line: str, **extra: str) -> str:
    variables = {"_GRADCLI_COMPLETE": f"complete_{shell}", **extra}
    if shell == "bash":
        words = line.split(" ")
        variables |= {"COMP_WORDS": "\n".join(words), "COMP_CWORD": str(len(words) - 1)}
    else:
        variables["_TYPER_COMPLETE_ARGS"] = line
    proc = subprocess.run(
        ["gradcli"], env={**env(), **variables}, capture_output=True, text=True, timeout=60
    )
    assert proc.stderr == ""
    return proc.stdout


def bash_complete(words: list[str]) -> list[str]:
    if shutil.which("bash") is None:
        return protocol("bash", " ".join(words)).splitlines()
    array = " ".join(f"'{w}'" for w in words)
    script = (
        f"source '{SCRIPTS / 'gradcli.bash'}'; COMP_WORDS=({array}); "
        f"COMP_CWORD={len(words) - 1}; _gradcli_completion gradcli; "
        'printf "%s\\n" "${COMPREPLY[@]}"'
    )
    proc = subprocess.run(
        ["bash", "--norc", "-c", script], env=env(), capture_output=True, text=True, timeout=60
    )
    assert proc.stderr == ""
    return [line for line in proc.stdout.splitlines() if line]


def fish_complete(line: str) -> list[str]:
    if shutil.which("fish") is None:
        out = protocol("fish", line, _TYPER_COMPLETE_FISH_ACTION="get-args")
    else:
        script = f"source '{SCRIPTS / 'gradcli.fish'}'; complete -C \"{line}\""
        proc = subprocess.run(
            ["fish", "--no-config", "-c", script],
            env=env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.stderr == ""
        out = proc.stdout
    return [entry.split("\t")[0] for entry in out.splitlines() if entry]


def zsh_complete(words: list[str]) -> str:
    if shutil.which("zsh") is None:
        return protocol("zsh", " ".join(words)).removeprefix("_arguments ")
    # Load the real completion function, then run it with the words zsh would give it; a stub
    # _arguments prints what the function asks zsh to offer.
    array = " ".join(f"'{w}'" for w in words)
    script = (
        f"autoload -U compinit; compinit -u; source '{SCRIPTS / '_gradcli'}'; "
        '_arguments() { print -r -- "$@" }; _files() { print -r -- _files }; '
        f"words=({array}); CURRENT={len(words)}; _gradcli_completion"
    )
    proc = subprocess.run(
        ["zsh", "-f", "-c", script], env=env(), capture_output=True, text=True, timeout=60
    )
    assert proc.stderr == ""
    return proc.stdout.strip()


def test_bash() -> None:
    assert bash_complete(["gradcli", "gr"]) == ["grad", "graph"]
    assert bash_complete(["gradcli", "grad", '"x**2*y"', "--"])[:2] == ["--x", "--y"]
    assert bash_complete(["gradcli", "grad", "x**2*y", "--x", "2", "--"])[:1] == ["--y"]
    assert bash_complete(["gradcli", "graph", "--format", ""]) == ["tree", "dot", "mermaid", "json"]
    assert bash_complete(["gradcli", "grad", "2x", "--n"]) == ["--no-check"]


def test_fish() -> None:
    assert fish_complete("gradcli gr") == ["grad", "graph"]
    offered = fish_complete("gradcli grad 'x**2*y' --")  # fish sorts what it shows
    assert sorted(offered) == sorted(["--x", "--y", *GRAD_OPTIONS])
    offered = fish_complete("gradcli grad 'x**2*y' --y 3 --")
    assert "--x" in offered and "--y" not in offered
    assert sorted(fish_complete("gradcli graph --format ")) == ["dot", "json", "mermaid", "tree"]
    assert fish_complete("gradcli grad 2x --n") == ["--no-check"]


def test_zsh() -> None:
    assert zsh_complete(["gradcli", "gr"]).startswith('*: :(("grad":"Value and gradient')
    offered = zsh_complete(["gradcli", "grad", '"x**2*y"', "--x", "2", "--"])
    assert offered.startswith('*: :(("--y":"value of the variable y"')
    assert '"--x"' not in offered
    assert (
        zsh_complete(["gradcli", "graph", "--format", ""])
        == '*: :(("tree" "dot" "mermaid" "json"))'
    )


def test_zsh_keeps_apostrophes() -> None:
    offered = zsh_complete(["gradcli", "grad", '"x"', "--max"])
    assert "Skip SymPy's whole derivative" in offered


@pytest.mark.parametrize(
    ("args", "login", "first_line"),
    [
        (["--show-completion", "zsh"], "/bin/bash", "#compdef gradcli"),  # the one named
        (["--show-completion=zsh"], "/bin/bash", "#compdef gradcli"),
        (["--show-completion"], "/usr/bin/fish", "complete --command gradcli"),  # $SHELL's
        (["--show-completion"], "/bin/bash", "_gradcli_completion() {"),
        (["--show-completion", "bash"], "/usr/bin/zsh", "_gradcli_completion() {"),
    ],
)
def test_show_completion_prints_the_shell_asked_for(
    args: list[str], login: str, first_line: str
) -> None:
    proc = run_cli(*args, env={**os.environ, "SHELL": login})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.lstrip().startswith(first_line)
    for shell, name in SHELLS.items():  # what the checked-in scripts hold, exactly
        if f"complete_{shell}" in proc.stdout:
            assert proc.stdout == (SCRIPTS / name).read_text()


def test_install_completion_writes_the_script_and_refuses_other_shells(tmp_path: Path) -> None:
    env = {**os.environ, "HOME": str(tmp_path), "SHELL": "/bin/bash"}
    proc = run_cli("--install-completion", "fish", env=env)
    assert proc.returncode == 0, proc.stderr
    installed = tmp_path / ".config/fish/completions/gradcli.fish"
    assert installed.read_text().strip() == (SCRIPTS / "gradcli.fish").read_text().strip()
    proc = run_cli("--show-completion", "tcsh", env=env)
    assert proc.returncode == 2 and "'tcsh' is not one of bash, zsh, fish" in proc.stderr
