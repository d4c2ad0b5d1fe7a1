"""The warm server, through the real command line: every call it serves gives the bytes a cold
run gives (stdout, stderr, exit code, on pipes and on a terminal), stdin streams, signals and
closed pipes behave as cold, other users are refused, and a missing, stale, crashed or hung
server never breaks a call.

The server here lives in the tests' private runtime directory (conftest), never the user's.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pty
import select
import signal
import socket
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from subprocess import CompletedProcess
from typing import Any

import pytest

from .conftest import command_for, load_bad_inputs, load_jsonl, run_cli

ON = {"GRADCLI_SERVER": "on"}
OFF = {"GRADCLI_SERVER": "off"}

#: calls that cover every command and output mode, errors and warnings included
CALLS: list[list[str]] = [
    ["grad", "x**2*y", "--x", "2", "--y", "3"],
    ["grad", "x**2*y", "--x", "2", "--y", "3", "--json"],
    ["grad", "x**2*y", "--x", "2", "--y", "3", "--plain"],
    ["grad", "sin(x)*y", "--x", "1", "--y", "2", "--dtype", "float32"],
    ["grad", "x**3", "--x", "2", "--order", "2"],
    ["grad", "x*y", "--x", "0:1:5", "--y", "2"],
    ["grad", "x*y", "--x", "0:1:5", "--y", "2", "--format", "jsonl"],
    ["grad", "abs(x)", "--x", "0"],
    ["grad", "1/x", "--x", "0"],
    ["grad", "log(x)", "--x", "-1"],
    ["grad", "x**2", "--x", "3", "--code"],
    ["grad", "x**2*y", "--x", "2", "--y", "3", "--const", "y"],
    ["grad", "x+", "--x", "1"],
    ["grad", "x", "--x", "1", "--y", "2"],
    ["grad", "x", "--x", "abc"],
    ["grad", "--no-such-option"],
    ["graph", "sin(x**2)", "--x", "4"],
    ["graph", "sin(x**2)", "--x", "4", "--torch"],
    ["graph", "sin(x**2)", "--format", "mermaid"],
    ["graph", "sin(x**2)", "--x", "4", "--format", "json"],
    ["steps", "sin(x**2)", "--x", "4"],
    ["steps", "exp(x)*y", "--x", "1", "--y", "2", "--json"],
    ["jacobian", "x*y, x+y", "--x", "2", "--y", "3"],
    ["hessian", "x**2 - y**2", "--x", "0", "--y", "0"],
    ["descend", "(w-3)**2", "--w", "0", "--lr", "0.1", "--steps", "30"],
    ["descend", "(w-3)**2", "--w", "0", "--lr", "1.5", "--steps", "50"],
    ["check", "x**2*y", "--wrt", "x", "--answer", "2*x*y"],
    ["check", "sin(x)", "--wrt", "x", "--answer", "sin(x)"],
    ["--help"],
    ["grad", "--help"],
    ["server", "--help"],
    ["--version"],
]


def call(*args: str, env: dict[str, str] | None = None, **kw: Any) -> CompletedProcess[str]:
    return run_cli(*args, env={**ON, **(env or {})}, **kw)


def status() -> dict[str, Any]:
    proc = run_cli("server", "status", "--json")
    document = json.loads(proc.stdout)
    assert document["schema"] == "gradcli/1"
    return document  # type: ignore[no-any-return]


def served() -> int:
    document = status()
    assert document["running"], document
    return int(document["server"]["served"])


@pytest.fixture(scope="module")
def server() -> Iterator[dict[str, Any]]:
    proc = run_cli("server", "start", timeout=240)
    assert proc.returncode == 0, proc.stderr
    assert "server started" in proc.stderr
    yield status()["server"]
    run_cli("server", "stop")


def both(args: list[str], **kw: Any) -> tuple[CompletedProcess[str], CompletedProcess[str]]:
    return run_cli(*args, env=OFF, **kw), call(*args, **kw)


def same(cold: CompletedProcess[str], warm: CompletedProcess[str]) -> None:
    assert (warm.returncode, warm.stdout, warm.stderr) == (
        cold.returncode,
        cold.stdout,
        cold.stderr,
    ), cold.args


# -- the same bytes -------------------------------------------------------------------------------


def test_the_cli_corpus_gives_the_same_bytes(
    server: dict[str, Any], hostile_outcomes: dict[str, CompletedProcess[str]]
) -> None:
    """The hostile corpus (its cold runs are test_hostile's), special points and a call of
    every command and mode: the server's stdout, stderr and exit code are the cold run's."""
    before = served()
    scratch = Path(hostile_outcomes["__scratch__"].stdout)
    hostile = load_bad_inputs()
    special = [
        ["grad", case["expr"], *[f"--{k}={v}" for k, v in case["point"].items()], "--json"]
        for case in load_jsonl("special_public.jsonl")[::4]  # (a quarter: cold runs are slow)
    ]

    def warm(args: list[str]) -> CompletedProcess[str]:
        return call(*args, cwd=scratch, timeout=60)

    with ThreadPoolExecutor(max_workers=4) as pool:
        warm_hostile = list(pool.map(warm, [command_for(*c, scratch) for c in hostile]))
        pairs = list(pool.map(lambda a: both(a, cwd=scratch, timeout=60), special + CALLS))
    for (expression, _), got in zip(hostile, warm_hostile, strict=True):
        same(hostile_outcomes[expression], got)
    for cold, got in pairs:
        same(cold, got)
    assert list(scratch.iterdir()) == []  # (the injection payloads ran nowhere)
    local = [a for a in CALLS if a[0] in ("server", "repl")]  # (run by the client itself)
    assert served() - before == len(hostile) + len(special) + len(CALLS) - len(local)


def _in_terminal(args: list[str], env: dict[str, str], columns: int) -> tuple[bytes, bytes, int]:
    """stdout and stderr of a run whose streams are two terminals ``columns`` wide."""
    ends = [pty.openpty() for _ in range(2)]
    for master, _ in ends:
        fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    full = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "COLUMNS")}
    full.update(env, TERM="xterm-256color")
    proc = subprocess.Popen(
        [sys.executable, "-m", "gradcli", *args],
        stdin=subprocess.DEVNULL,
        stdout=ends[0][1],
        stderr=ends[1][1],
        env=full,
    )
    for _, slave in ends:
        os.close(slave)
    got = [b"", b""]
    open_ = {ends[0][0]: 0, ends[1][0]: 1}
    deadline = time.monotonic() + 60
    while open_ and time.monotonic() < deadline:
        ready, _, _ = select.select(list(open_), [], [], 1)
        for fd in ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # (EIO: the other end closed)
                chunk = b""
            if chunk:
                got[open_[fd]] += chunk
            else:
                os.close(fd)
                del open_[fd]
    code = proc.wait(timeout=60)
    return got[0], got[1], code


@pytest.mark.parametrize("columns", [60, 120])
def test_a_terminal_gets_the_same_bytes(server: dict[str, Any], columns: int) -> None:
    """Colour, width and the terminal's line endings: the child writes to the terminal
    itself, as wide as it is."""
    for args in (
        ["grad", "x**2*y", "--x", "2", "--y", "3"],
        ["graph", "sin(x**2)", "--x", "4"],
        ["grad", "1/x", "--x", "0"],
        ["grad", "x+"],
    ):
        cold = _in_terminal(args, OFF, columns)
        warm = _in_terminal(args, ON, columns)
        assert warm == cold, args
        assert b"\x1b[" in cold[0] + cold[1]  # (colour: a terminal was seen)


def test_stdin_streams_to_the_child(server: dict[str, Any], tmp_path: Path) -> None:
    rows = "x,y\n" + "".join(f"{i / 7},{i % 5}\n" for i in range(2000))
    for args in (["grad", "x**2*y", "--input", "-"], ["grad", "--file", "-", "--x", "2"]):
        text = rows if "--input" in args else "sin(x)*x\n"
        cold = subprocess.run(
            [sys.executable, "-m", "gradcli", *args],
            input=text,
            capture_output=True,
            text=True,
            env={**os.environ, "NO_COLOR": "1", **OFF},
        )
        warm = subprocess.run(
            [sys.executable, "-m", "gradcli", *args],
            input=text,
            capture_output=True,
            text=True,
            env={**os.environ, "NO_COLOR": "1", **ON},
        )
        same(cold, warm)
        assert cold.returncode == 0 and cold.stdout


def test_files_land_in_the_callers_directory(server: dict[str, Any], tmp_path: Path) -> None:
    """The working directory and the umask are the caller's: -o writes where a cold run would,
    with the same mode."""
    for mode, name in ((OFF, "cold.csv"), (ON, "warm.csv")):
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "gradcli",
                "grad",
                "x*y",
                "--x",
                "0:1:3",
                "--y",
                "1",
                "-o",
                name,
            ],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            env={**os.environ, **mode},
            preexec_fn=lambda: os.umask(0o077),
        )
        assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "cold.csv").read_bytes() == (tmp_path / "warm.csv").read_bytes()
    modes = {(tmp_path / n).stat().st_mode & 0o777 for n in ("cold.csv", "warm.csv")}
    assert len(modes) == 1


def _shell(command: str, mode: dict[str, str]) -> CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", command],
        capture_output=True,
        text=True,
        env={**os.environ, "NO_COLOR": "1", "COLUMNS": "80", **mode},
        timeout=120,
    )


def test_a_closed_pipe_and_closed_streams_behave_as_cold(server: dict[str, Any]) -> None:
    gradcli = f"{sys.executable} -m gradcli"
    for command in (
        # the reader goes away: 141 and nothing else said
        f"{gradcli} grad 'x*y' --x 0:1:200000 --y 1 | head -c 100 >/dev/null;"
        " echo ${{PIPESTATUS[0]}}",
        f"{gradcli} graph 'sin(x)' --x 1 >&-; echo $?",  # stdout closed by the shell
        f"{gradcli} grad 'x' --file - <&-; echo $?",  # stdin closed
    ):
        cold, warm = _shell(command, OFF), _shell(command, ON)
        same(cold, warm)
    assert _shell(f"{gradcli} graph 'sin(x)' --x 1 >&-; echo $?", ON).stdout.strip() == "74"


def _interrupted(mode: dict[str, str], sig: int, tmp_path: Path) -> CompletedProcess[str]:
    """A long descend whose client gets ``sig`` once the run is under way."""
    out = tmp_path / f"trace-{mode['GRADCLI_SERVER']}-{sig}.csv"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gradcli",
            "descend",
            "(w-3)**2",
            "--w",
            "0",
            "--steps",
            "1000000",
            "--lr",
            "0.0000001",
            "-o",
            str(out),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "NO_COLOR": "1", **mode},
    )
    time.sleep(4.0 if mode is OFF else 1.5)  # (cold: past torch's import)
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=60)
    assert not out.exists()  # (nothing half-written under the final name)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(out.name)]
    return CompletedProcess(proc.args, proc.returncode, stdout, stderr)


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_ctrl_c_and_sigterm_reach_the_child(
    server: dict[str, Any], tmp_path: Path, sig: int, code: int
) -> None:
    cold = _interrupted(OFF, sig, tmp_path)
    warm = _interrupted(ON, sig, tmp_path)
    assert cold.returncode == warm.returncode == code
    assert warm.stderr == cold.stderr
    assert warm.stderr.strip() in ("gradcli: interrupted", "gradcli: stopped by SIGTERM")


def test_calls_run_in_parallel(server: dict[str, Any]) -> None:
    """A long call does not hold up a short one: each has its own child."""
    long = subprocess.Popen(
        [sys.executable, "-m", "gradcli", "descend", "(w-3)**2", "--w", "0", "--steps", "200000"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, **ON},
    )
    time.sleep(0.5)
    with ThreadPoolExecutor(max_workers=4) as pool:
        short = list(pool.map(lambda v: call("grad", "x**2", "--x", str(v), "--plain"), range(4)))
    assert [p.stdout for p in short] == [f"{v * v}\n{2 * v}\n" for v in range(4)]
    assert long.poll() is None  # (still running while the short calls were answered)
    assert status()["server"]["running"] >= 1
    long.kill()  # (the client dies: its child is told, SIGHUP, and goes)
    long.communicate()
    deadline = time.monotonic() + 20
    while status()["server"]["running"] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert status()["server"]["running"] == 0


def test_many_calls_at_once_are_all_served(server: dict[str, Any]) -> None:
    """Thirty calls at once (with auto: a slow answer must not be taken for a hung server):
    every one served, the same bytes as a cold run, the same server afterwards."""
    before = status()["server"]
    args = ["grad", "sin(x)*y", "--x", "2", "--y", "3", "--json"]
    cold = run_cli(*args, env=OFF)
    with ThreadPoolExecutor(max_workers=30) as pool:
        warm = list(pool.map(lambda _: call(*args, env={"GRADCLI_SERVER": "auto"}), range(30)))
    for got in warm:
        same(cold, got)
    after = status()["server"]
    assert after["pid"] == before["pid"]
    assert after["served"] - before["served"] == 30


def test_the_callers_limits_apply(server: dict[str, Any], tmp_path: Path) -> None:
    """ulimit -f: the child writes no more than a cold run may (EFBIG: exit 74)."""
    gradcli = f"cd {tmp_path} && ulimit -f 1 && {sys.executable} -m gradcli"
    command = f"{gradcli} grad 'sin(x)' --x 0:1:20000 -o big.csv; echo $?"
    cold, warm = _shell(command, OFF), _shell(command, ON)
    same(cold, warm)
    assert cold.stdout.strip() == "74"


def test_a_call_outlives_its_servers_restart(server: dict[str, Any]) -> None:
    """The old server stops listening at once but stays to tell its running calls' clients how
    they ended, even by a signal (here SIGQUIT, which Python does not catch)."""
    long = ["descend", "(w-3)**2", "--w", "0", "--steps", "1000000", "--lr", "0.0000001"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "gradcli", *long],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, **ON},
    )
    time.sleep(1.5)
    restarted = run_cli("server", "restart", timeout=240)
    assert restarted.returncode == 0, restarted.stderr
    assert proc.poll() is None
    proc.send_signal(signal.SIGQUIT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGQUIT, stderr
    assert b"ended without an exit code" not in stderr
    assert served() >= 0  # (the new server serves)


def test_a_lost_socket_is_told_and_restart_replaces_it(server: dict[str, Any]) -> None:
    old = status()["server"]
    os.unlink(old["socket"])
    told = run_cli("server", "status")
    assert told.returncode == 1 and "lost its socket" in told.stderr
    assert run_cli("server", "restart", timeout=240).returncode == 0
    assert status()["server"]["pid"] != old["pid"]


def test_debug_with_stderr_closed_still_runs_the_call(tmp_path: Path) -> None:
    env = {"XDG_RUNTIME_DIR": str(tmp_path / "none")}
    command = f"{sys.executable} -m gradcli grad x --x 1 --plain --debug 2>&-; echo $?"
    got = _shell(command, {**ON, **env})
    assert got.stdout == "1\n1\n0\n"


def test_server_commands_work_whatever_the_mode_says() -> None:
    got = run_cli("server", "status", env={"GRADCLI_SERVER": "garbage"})
    assert got.returncode in (0, 1) and "GRADCLI_SERVER" not in got.stderr


def test_the_server_holds_no_state(server: dict[str, Any]) -> None:
    """A call's work dies with its child: the server's memory and threads do not grow, and
    the same call gives the same bytes every time."""
    first = status()["server"]
    outputs = {call("steps", "sin(x**2)", "--x", "4").stdout for _ in range(8)}
    assert len(outputs) == 1
    later = status()["server"]
    assert later["threads"] == first["threads"]
    assert later["memory"] < first["memory"] * 1.05


def test_the_client_imports_almost_nothing() -> None:
    code = (
        "import sys; from gradcli.server import client; from gradcli import __main__; "
        "print(' '.join(sorted(sys.modules)))"
    )
    loaded = set(
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.split()
    )
    heavy = {"torch", "sympy", "numpy", "polars", "typer", "rich", "click", "flint", "typing"}
    assert "gradcli.server.client" in loaded
    assert not loaded & heavy


# -- security -------------------------------------------------------------------------------------


def test_the_socket_is_private(server: dict[str, Any]) -> None:
    server = status()["server"]  # (the one running now: earlier tests restart it)
    path = Path(server["socket"])
    assert path.stat().st_uid == os.getuid()
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o777 == 0o700
    listening = Path("/proc/net/tcp").read_text() + Path("/proc/net/tcp6").read_text()
    pid = server["pid"]
    inodes = {os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")}
    sockets = {i.removeprefix("socket:[").rstrip("]") for i in inodes if i.startswith("socket:")}
    assert not any(line.split()[9] in sockets for line in listening.splitlines()[1:])


def _connect_as(uid: int, path: str) -> str:
    """What a process of user ``uid`` gets when it connects and asks for the status."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        try:
            os.setgid(uid)
            os.setuid(uid)
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(5)
            try:
                sock.connect(path)
                request = json.dumps({"protocol": 1, "control": "status"}).encode()
                with contextlib.suppress(BrokenPipeError):  # (refused before it asked)
                    sock.sendall(struct.pack(">I", len(request)) + request)
                head = sock.recv(4)
                answer = sock.recv(struct.unpack(">I", head)[0]).decode() if head else "closed"
            except OSError as e:
                answer = f"{type(e).__name__}"
            os.write(write, answer.encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as got:
        answer = got.read()
    os.waitpid(pid, 0)
    return answer


def test_another_user_is_refused(server: dict[str, Any]) -> None:
    """Another user cannot reach the socket (a 0700 directory), and even where the directory
    were opened, the server checks the caller's uid (SO_PEERCRED) and refuses."""
    path = status()["server"]["socket"]
    if os.getuid() != 0:  # (another user cannot be played without root: the permissions tell)
        assert Path(path).parent.stat().st_mode & 0o077 == 0
        return
    assert _connect_as(65534, path) == "PermissionError"
    folders = [Path(path).parent, Path(path).parent.parent]  # (gradcli/, the runtime dir)
    try:
        for folder in folders:
            folder.chmod(0o755)
        os.chmod(path, 0o777)
        answer = _connect_as(65534, path)
    finally:
        for folder in folders:
            folder.chmod(0o700)
        os.chmod(path, 0o600)
    assert "serves its own user only" in answer
    assert '"status"' not in answer
    assert served() >= 0  # (still serving its own user)


def test_a_directory_open_to_others_is_never_used(tmp_path: Path) -> None:
    runtime = tmp_path / "runtime"
    (runtime / "gradcli").mkdir(parents=True)
    (runtime / "gradcli").chmod(0o777)
    env = {"XDG_RUNTIME_DIR": str(runtime)}
    proc = run_cli(
        "grad", "x", "--x", "1", "--plain", "--debug", env={**env, "GRADCLI_SERVER": "auto"}
    )
    assert (proc.returncode, proc.stdout) == (0, "1\n1\n")
    assert "is open to other users" in proc.stderr
    started = run_cli("server", "start", env=env)
    assert started.returncode == 2 and "open to other users" in started.stderr


# -- robustness -----------------------------------------------------------------------------------


def test_a_bad_mode_is_one_clear_error() -> None:
    proc = run_cli("grad", "x", "--x", "1", env={"GRADCLI_SERVER": "sometimes"})
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith("gradcli: error: GRADCLI_SERVER='sometimes' is not one of")


def test_off_runs_cold_and_debug_says_why(server: dict[str, Any]) -> None:
    before = served()
    proc = run_cli("grad", "x", "--x", "1", "--plain", "--debug", env=OFF)
    assert proc.stdout == "1\n1\n"
    assert (
        proc.stderr
        == "gradcli: debug: not using the warm server: GRADCLI_SERVER=off; running here\n"
    )
    assert served() == before


def test_another_environment_at_import_runs_cold(server: dict[str, Any]) -> None:
    before = served()
    proc = call("grad", "x", "--x", "1", "--plain", "--debug", env={"OMP_NUM_THREADS": "1"})
    assert proc.stdout == "1\n1\n"
    assert "started with another OMP_NUM_THREADS" in proc.stderr
    assert served() == before


def test_a_hung_server_falls_back(tmp_path: Path) -> None:
    """Something holds the socket and never answers: the call runs cold after the client's
    short wait, with the same output."""
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    env = {"XDG_RUNTIME_DIR": str(runtime)}
    folder = runtime / "gradcli"
    folder.mkdir(mode=0o700)
    probe = run_cli("server", "status", "--json", env=env)
    assert json.loads(probe.stdout)["running"] is False
    name = subprocess.run(
        [sys.executable, "-c", "from gradcli.server import place; print(place.files()['socket'])"],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
    ).stdout.strip()
    mute = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    mute.bind(name)
    mute.listen(8)
    try:
        begun = time.monotonic()
        proc = call("grad", "x**2", "--x", "3", "--plain", "--debug", env=env)
        assert (proc.returncode, proc.stdout) == (0, "9\n6\n")
        assert "did not answer" in proc.stderr
        assert time.monotonic() - begun < 30
        hung = run_cli("server", "status", env=env)
        assert hung.returncode == 1 and "does not answer" in hung.stderr
    finally:
        mute.close()


def test_auto_starts_one_on_first_use_and_it_exits_when_idle(tmp_path: Path) -> None:
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    env = {"XDG_RUNTIME_DIR": str(runtime), "GRADCLI_SERVER": "auto", "GRADCLI_SERVER_IDLE": "3"}
    first = run_cli("grad", "x**2", "--x", "3", "--plain", "--debug", env=env)
    assert (first.returncode, first.stdout) == (0, "9\n6\n")
    assert "started one in the background" in first.stderr
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        up = json.loads(run_cli("server", "status", "--json", env=env).stdout)
        if up["running"]:
            break
        time.sleep(0.5)
    assert up["running"] and up["server"]["idle_timeout"] == 3
    served = run_cli("grad", "x**2", "--x", "3", "--plain", "--debug", env=env)
    assert (served.stdout, served.stderr) == ("9\n6\n", "")
    time.sleep(6)  # (3 s idle, and the loop's tick)
    assert json.loads(run_cli("server", "status", "--json", env=env).stdout)["running"] is False


def test_a_changed_installation_replaces_the_server(server: dict[str, Any]) -> None:
    """An upgrade (here: a file of the package touched) makes the server refuse the next call,
    which runs cold, and replace itself with a fresh server of the new code."""
    old = status()["server"]
    watched = Path(old["package"]) / "server" / "__init__.py"
    stamp = watched.stat()
    os.utime(watched, ns=(stamp.st_atime_ns, stamp.st_mtime_ns + 1_000_000_000))
    proc = call("grad", "x**2", "--x", "3", "--plain", "--debug")
    assert proc.stdout == "9\n6\n"
    assert "changed since the server started" in proc.stderr
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        now = status()
        if now["running"] and now["server"]["started"] > old["started"]:
            break
        time.sleep(0.5)
    assert now["server"]["started"] > old["started"] and not now["server"]["stale"]
    again = call("grad", "x**2", "--x", "3", "--plain", "--debug")
    assert (again.stdout, again.stderr) == ("9\n6\n", "")


def test_a_crashed_server_falls_back_and_start_replaces_it(server: dict[str, Any]) -> None:
    pid = status()["server"]["pid"]
    os.kill(pid, signal.SIGKILL)
    time.sleep(0.5)
    proc = call("grad", "x**2", "--x", "3", "--plain", "--debug")
    assert (proc.returncode, proc.stdout) == (0, "9\n6\n")
    assert "no server is running" in proc.stderr
    assert run_cli("server", "status").returncode == 1
    started = run_cli("server", "start", timeout=240)
    assert started.returncode == 0, started.stderr
    assert status()["server"]["pid"] != pid
    stopped = run_cli("server", "stop")
    assert stopped.returncode == 0 and "server stopped" in stopped.stderr
    assert run_cli("server", "stop").stderr.strip() == "gradcli: no server was running"
