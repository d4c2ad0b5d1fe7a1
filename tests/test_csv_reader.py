"""The batch reader's blocks: however the input arrives (in one read, byte by byte, or cut
anywhere, as a pipe delivers it), the rows that come out, their line numbers and the error
are the same. Quoted fields may hold line ends; blank lines at the end are not rows; a longer
row follows the bad-row policy; a number may have spaces around it whichever way the block
is read."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import polars as pl
import pytest
from typer.testing import CliRunner

from gradcli.batch import formats
from gradcli.cli.app import app
from gradcli.errors import InputError

runner = CliRunner(env={"NO_COLOR": "1", "COLUMNS": "80"})


class _Counts:
    skipped = 0
    nulled = 0


def _read(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    data: bytes,
    sizes: list[int] | None,
    policy: str = "error",
    fmt: str = "csv",
) -> tuple[list[tuple[Any, ...]], str | None, tuple[int, int]]:
    """Every row read from ``data`` delivered in reads of ``sizes`` bytes (cycled; None: in
    one read), the error's message, and the counts of skipped and nulled rows."""

    def reads(stream: IO[bytes], size: list[int]) -> Iterator[bytes]:
        whole = stream.read()
        if sizes is None:
            yield whole
            return
        at, turn = 0, 0
        while at < len(whole):
            step = sizes[turn % len(sizes)]
            yield whole[at : at + step]
            at, turn = at + step, turn + 1

    monkeypatch.setattr(formats, "_reads", reads)
    source = tmp_path / f"in.{fmt}"
    source.write_bytes(data)
    counts = _Counts()
    rows: list[tuple[Any, ...]] = []
    error = None
    try:
        for chunk in formats.read_chunks(str(source), fmt, ["x", "y"], policy, counts):
            # (a row written as null says so in a column of its own, when its chunk has one)
            flags = chunk["__bad__"].to_list() if "__bad__" in chunk.columns else None
            for i, row in enumerate(chunk.drop("__bad__", strict=False).rows()):
                cells = tuple(None if c != c else c for c in row)  # (NaN as None, to compare)
                rows.append(cells + (("null",) if flags and flags[i] else ()))
    except InputError as e:
        error = e.message
    return rows, error, (counts.skipped, counts.nulled)


TRICKY = [
    # quoted fields with line ends (LF, CR LF, a blank line inside), a quoted quote
    b'x,y,note\n1,2,"a\nb"\n3,4,"c\r\nd"\n5,6,"e\n\nf ""g"" h"\n7,8,plain\n',
    b'x,y,note\r\n1,2,"a\r\nb"\r\n3,4,c\r\n',
    # a header whose names are quoted, one with a line end in it
    b'"n\nm",x,"y"\n1,2,3\n4,5,6\n',
    # blank lines at the end, and in the middle (a row with no fields: missing)
    b"x,y\n1,2\n3,4\n\n\n",
    b"x,y\n1,2\n3,4\r\n\r\n  \n",
    b"x,y\n1,2\n\n3,4\n",
    # spaces and tabs around numbers: before, after, both, with a zero (the text path)
    b"x,y\n 1,2 \n3,\t4\n0 , 5\n",
    # a row with more fields than the header, and one with fewer
    b"x,y\n1,2\n3,4,5\n6,7\n8\n9,10\n",
    b'x,y,note\n1,2,"a,b"\n3,4,"c\nd",extra\n5,6,e\n',
    # a bad field after a quoted line end (its line number counts lines, not rows)
    b'x,y,note\n1,2,"a\nb\nc"\n3,4,z\nq,1,w\n5,6,v\n',
    # a quote that is never closed, and one that is stray
    b'x,y\n1,2\n3,"4\n5,6\n',
    b'x,y\n1,2\nab"c,3\n4,5\n',
    # text that is not UTF-8 in a passed-through column
    b"x,y,n\n1,2,a\n3,4,\xff\n5,6,b\n",
    # old Mac line ends
    b"x,y\r1,2\r3,4\r",
    # a quote never closed whose field holds a doubled quote (it opens on line 2, not 3)
    b'x,y,z\n1,2,"a\nb""c\n3,4,d\n',
    # a CR inside a quoted name decides nothing: CR LF and LF files stay what they are
    b'x,y,"a\rb"\r\n1,2,3\r\n4,5,6\r\n',
    b'x,y,"a\rb"\n1,2,3\n',
    # stray quotes that pair up across lines
    b'x,y,z\n1,2,ab"c\n3,4,d"e\n5,6,q\n',
]


@pytest.mark.parametrize("data", TRICKY)
def test_any_split_of_the_input_reads_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data: bytes
) -> None:
    for policy in ("error", "skip", "null"):
        whole = _read(tmp_path, monkeypatch, data, None, policy)
        splits = [[1], [2], [3, 7], [5]] + [[cut, len(data)] for cut in range(1, len(data))]
        for sizes in splits:
            got = _read(tmp_path, monkeypatch, data, sizes, policy)
            assert got == whole, (policy, sizes)


def test_quoted_line_ends_are_one_field_and_lines_are_counted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows, error, _ = _read(tmp_path, monkeypatch, TRICKY[0], [4])
    assert error is None
    assert [r[2] for r in rows] == ["a\nb", "c\r\nd", 'e\n\nf "g" h', "plain"]
    assert [r[:2] for r in rows] == [(1.0, 2.0), (3.0, 4.0), (5.0, 6.0), (7.0, 8.0)]
    rows, error, _ = _read(tmp_path, monkeypatch, TRICKY[2], [3])
    assert rows == [("1", 2.0, 3.0), ("4", 5.0, 6.0)] and error is None
    # the bad field is on line 6: lines 2 to 4 are one row
    rows, error, _ = _read(tmp_path, monkeypatch, TRICKY[9], [6])
    assert error == "line 6: field x is not a finite number: 'q'"
    assert rows == [(1.0, 2.0, "a\nb\nc"), (3.0, 4.0, "z")]  # (the rows before it)


def test_blank_lines_at_the_end_are_not_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for data in (TRICKY[3], TRICKY[4]):
        rows, error, _ = _read(tmp_path, monkeypatch, data, [3])
        assert error is None and rows == [(1.0, 2.0), (3.0, 4.0)]
    rows, error, _ = _read(tmp_path, monkeypatch, TRICKY[5], None)
    assert error == "line 3: field x is missing" and rows == [(1.0, 2.0)]
    rows, error, counts = _read(tmp_path, monkeypatch, TRICKY[5], None, "skip")
    assert error is None and rows == [(1.0, 2.0), (3.0, 4.0)] and counts == (1, 0)


def test_spaces_around_a_number_are_read_on_either_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Polars' own float parse takes a leading space and refuses a trailing one; a block with a
    zero (or a bad field) is read as text instead. Both read ``1 `` and `` 1`` as 1."""
    rows, error, _ = _read(tmp_path, monkeypatch, TRICKY[6], None)
    assert error is None and rows == [(1.0, 2.0), (3.0, 4.0), (0.0, 5.0)]
    for data in (b"x,y\n 1,2\n", b"x,y\n1 ,2\n", b"x,y\n 1,0\n", b"x,y\n1 ,0\n"):
        rows, error, _ = _read(tmp_path, monkeypatch, data, None)
        assert error is None and rows[0][0] == 1.0, data


def test_a_longer_row_follows_the_policy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = TRICKY[7]
    rows, error, _ = _read(tmp_path, monkeypatch, data, None)
    assert error == "line 3 has 3 fields; the header names 2 columns" and rows == [(1.0, 2.0)]
    rows, error, counts = _read(tmp_path, monkeypatch, data, None, "skip")
    assert error is None and counts == (2, 0)  # (the longer row, and the one missing y)
    assert rows == [(1.0, 2.0), (6.0, 7.0), (9.0, 10.0)]
    rows, error, counts = _read(tmp_path, monkeypatch, data, None, "null")
    assert error is None and counts == (0, 2) and len(rows) == 5
    assert rows[1] == (None, None, "null")  # (which field is which is unknown: none is read)
    # separators inside quotes are not fields; a quoted line end does not end the row
    rows, error, _ = _read(tmp_path, monkeypatch, TRICKY[8], None)
    assert error == "line 3 has 4 fields; the header names 3 columns" and len(rows) == 1


def test_a_quote_never_closed_is_named_at_its_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for data, line in ((TRICKY[10], 3), (TRICKY[11], 3)):
        rows, error, _ = _read(tmp_path, monkeypatch, data, [2])
        assert error is not None and error.startswith(f"line {line}: a double quote opens"), error
        assert rows == [(1.0, 2.0)]


def test_an_open_quote_is_not_gathered_without_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A quote never closed would make the rest of the input one field: past the record
    limit, the run stops (it does not read a huge file into memory first)."""
    monkeypatch.setattr(formats, "MAX_RECORD_BYTES", 1 << 20)
    data = b'x,y\n1,2\n3,"4\n' + b"5,6\n" * 300_000
    rows, error, _ = _read(tmp_path, monkeypatch, data, [1 << 16])
    assert error is not None and error.startswith("line 3 is longer than 1 MiB: a double quote")
    assert rows == [(1.0, 2.0)]
    long = b"x,y\n1,2\n" + b"7" * (1 << 21)
    rows, error, _ = _read(tmp_path, monkeypatch, long, [1 << 16])
    assert error == "line 3 is longer than 1 MiB" and rows == [(1.0, 2.0)]


def test_text_that_is_not_utf8_is_named_at_its_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows, error, _ = _read(tmp_path, monkeypatch, TRICKY[12], None)
    assert error == "line 3 is not UTF-8 text (byte 5 of the line)"
    assert rows == [(1.0, 2.0, "a")]
    rows, error, _ = _read(tmp_path, monkeypatch, b"x,y,caf\xe9\n1,2,3\n", None)
    assert error == "line 1, the header, is not UTF-8 text" and rows == []


def test_the_rows_on_stdout_before_an_error_do_not_depend_on_the_reads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On stdout, exactly the rows before the bad line come out, however the input arrived."""
    data = b"x,y\n" + b"".join(b"%d,1\n" % i for i in range(1, 40)) + b"oops,1\n5,5\n"
    outputs = set()
    for size in (None, 7, 64, 300):

        def reads(stream: IO[bytes], _: list[int], size: int | None = size) -> Iterator[bytes]:
            whole = stream.read()
            step = size or len(whole)
            yield from (whole[at : at + step] for at in range(0, len(whole), step))

        monkeypatch.setattr(formats, "_reads", reads)
        r = runner.invoke(app, ["grad", "x*y", "--input", "-"], input=data)
        assert r.exit_code == 2 and "line 41: field x is not a finite number" in r.stderr
        outputs.add(r.stdout)
    (out,) = outputs
    assert len(out.strip().splitlines()) == 1 + 39


def test_a_late_status_rewrites_a_file_with_quoted_line_ends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file whose first chunk all agreed is rewritten with the status column when a later
    row does not: a passed-through field with line ends survives the rewrite whole, however
    the copy's reads fall."""
    monkeypatch.setattr(formats, "CHUNK_ROWS", 4)

    def reads(stream: IO[bytes], _: list[int]) -> Iterator[bytes]:
        whole = stream.read()
        yield from (whole[at : at + 9] for at in range(0, len(whole), 9))

    monkeypatch.setattr(formats, "_reads", reads)
    lines = [b'%d,"note\nnumber %d"' % (i, i) for i in range(1, 13)] + [b'-1,"last\none"']
    source = tmp_path / "in.csv"
    source.write_bytes(b"x,n\n" + b"\n".join(lines) + b"\n")
    out = tmp_path / "out.csv"
    r = runner.invoke(app, ["grad", "log(x)", "-i", str(source), "-o", str(out)])
    assert r.exit_code != 0 and r.exit_code != 2, r.stderr  # (the last row is undefined)
    frame = pl.read_csv(io.BytesIO(out.read_bytes()))
    assert frame["n"].to_list() == [f"note\nnumber {i}" for i in range(1, 13)] + ["last\none"]
    assert frame["status"].to_list()[:12] == ["agree"] * 12
    assert frame["status"][12] != "agree"


def _small_chunks(monkeypatch: pytest.MonkeyPatch, size: int | None) -> None:
    """Chunks of 4 rows, from reads of ``size`` bytes (None: the whole input at once)."""
    monkeypatch.setattr(formats, "CHUNK_ROWS", 4)

    def reads(stream: IO[bytes], _: list[int]) -> Iterator[bytes]:
        whole = stream.read()
        step = size or len(whole)
        yield from (whole[at : at + step] for at in range(0, len(whole), step))

    monkeypatch.setattr(formats, "_reads", reads)


@pytest.mark.parametrize("size", [None, 9, 40])
def test_json_lines_carry_the_status_from_the_first_row_that_needs_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: int | None
) -> None:
    """Where the key first appears does not depend on where the chunks end."""
    _small_chunks(monkeypatch, size)
    xs = [1, 2, 3, 4, 5, 6, -1, 8, 9, 10, -2]
    data = "".join(f'{{"x": {x}}}\n' for x in xs)
    r = runner.invoke(
        app,
        ["grad", "log(x)", "-i", "-", "--input-format", "jsonl", "--format", "jsonl"],
        input=data,
    )
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert [row["x"] for row in rows] == [float(x) for x in xs]
    assert ["status" in row for row in rows] == [False] * 6 + [True] * 5
    assert [row["status"] for row in rows[6:]] == [
        "undefined",
        "agree",
        "agree",
        "agree",
        "undefined",
    ]


@pytest.mark.parametrize("size", [None, 9])
def test_a_rewritten_file_keeps_the_status_of_every_earlier_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: int | None
) -> None:
    """A row written as null before the column was added has an empty status after the
    rewrite, not the fill's ``agree``."""
    _small_chunks(monkeypatch, size)
    source = tmp_path / "in.csv"
    source.write_text("x\n1\n2\n3\n4\n5\nbad\n7\n8\n9\n10\n-1\n12\n")
    out = tmp_path / "out.csv"
    args = ["grad", "log(x)", "-i", str(source), "-o", str(out), "--on-bad-row", "null"]
    r = runner.invoke(app, args)
    assert out.exists(), r.stderr
    frame = pl.read_csv(out, infer_schema=False)
    expected = ["agree"] * 5 + [None] + ["agree"] * 4 + ["undefined", "agree"]
    assert frame["status"].to_list() == expected


def test_a_rows_numbers_do_not_depend_on_its_place_in_the_chunk() -> None:
    """torch's SIMD loop and its scalar loop for the last elements of a range can differ in the
    last bit (``pow``): the chunk is padded so that every row goes through the same one, and
    the same row gives the same bits wherever a chunk begins or ends."""
    import numpy as np

    from gradcli.engines.autograd import batch_gradients
    from gradcli.language.parser import parse

    rng = np.random.default_rng(1)
    x, y = rng.uniform(0.1, 3, 70_000), rng.uniform(-3, 3, 70_000)
    expr = parse("x**y * exp(y) / (1 + x**2.5)")
    value, grads = batch_gradients(expr, {"x": x, "y": y})
    for start in range(0, 200, 13):
        for length in (1, 13, 1000, 32_769, 40_000, 65_535):
            rows = slice(start, start + length)
            v, g = batch_gradients(expr, {"x": x[rows], "y": y[rows]})
            assert np.array_equal(v, value[rows]), (start, length)
            assert np.array_equal(g["x"], grads["x"][rows]) and np.array_equal(
                g["y"], grads["y"][rows]
            )


def test_a_line_end_inside_quotes_decides_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whether lines end in CR alone is decided by the first line end outside quotes; a JSON
    line's CR is white space (JSON Lines end in LF)."""
    rows, error, _ = _read(tmp_path, monkeypatch, TRICKY[15], None)
    assert error is None and rows == [(1.0, 2.0, "3"), (4.0, 5.0, "6")]
    source = tmp_path / "in.csv"
    source.write_bytes(TRICKY[16])
    counts = _Counts()
    (frame,) = formats.read_chunks(str(source), "csv", ["x", "y"], "error", counts)
    assert frame.columns == ["x", "y", "a\rb"]
    rows, error, _ = _read(tmp_path, monkeypatch, b'{"x": 1,\r"y": 2}\n', None, fmt="jsonl")
    assert error is None and rows == [(1.0, 2.0)]


def test_quote_trouble_is_told_in_our_words(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows, error, _ = _read(tmp_path, monkeypatch, TRICKY[14], [3])
    assert error is not None and error.startswith("line 2: a double quote opens"), error
    assert rows == []
    rows, error, _ = _read(tmp_path, monkeypatch, TRICKY[17], None)
    assert error is not None and error.startswith("line 2: a double quote in a field"), error
    assert "Polars" not in error and "chunk" not in error and rows == []
    rows, error, _ = _read(tmp_path, monkeypatch, b'x,y,z\n1,2,"a"b\n', None)
    assert error is not None and error.startswith("line 2: a double quote in a field"), error
    data = b'{"x": 1, "y": 1}\n{"x": "\xff", "y": 1}\n'
    rows, error, _ = _read(tmp_path, monkeypatch, data, None, fmt="jsonl")
    assert error == "line 2 is not UTF-8 text" and rows == [(1.0, 1.0)]


def test_a_header_with_many_quoted_line_ends_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = b'x,y,"' + b"\n" * 20_000 + b'z"\n1,2,3\n4,5,6\n'
    rows, error, _ = _read(tmp_path, monkeypatch, data, None)
    assert error is None and rows == [(1.0, 2.0, "3"), (4.0, 5.0, "6")]
    rows, error, _ = _read(tmp_path, monkeypatch, data.replace(b"4,", b"q,"), [4096])
    assert error == "line 20003: field x is not a finite number: 'q'"


@pytest.mark.parametrize("quoted", [False, True])
def test_the_record_limit_holds_wherever_the_record_ends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, quoted: bool
) -> None:
    """A record past the limit is refused whether its end comes in the read that crosses the
    limit or later, in one read or many; one with a closed quote is too long, not unclosed."""
    monkeypatch.setattr(formats, "MAX_RECORD_BYTES", 1 << 20)
    for extra in (100, 100_000, 300_000, 3 << 20):
        body = b"a" * ((1 << 20) + extra)
        field = b'"' + body.replace(b"aaaa", b"aa\na", 1000) + b'"' if quoted else body
        data = b"x,y,z\n1,2,a\n3,4," + field + b"\n5,6,b\n"
        for sizes in (None, [1 << 16], [1 << 22]):
            rows, error, _ = _read(tmp_path, monkeypatch, data, sizes)
            assert error is not None and error.startswith("line 3 is longer than 1 MiB"), (
                extra,
                sizes,
                error,
            )
            assert rows == [(1.0, 2.0, "a")]


def test_a_chunk_that_starts_with_a_null_row_writes_its_status() -> None:
    """A chunk whose first row was written as null, with a later row not agreeing (it was an
    internal error: Polars cannot make text of an object array that starts with None)."""
    r = runner.invoke(
        app, ["grad", "log(x)*y", "-i", "-", "--on-bad-row", "null"], input="x,y\nq,1\n-1,1\n"
    )
    assert r.exit_code == 3, r.stderr
    assert r.stdout.splitlines()[1:] == [",1.0,,,,", "-1.0,1.0,,-1.0,,undefined"]


@pytest.mark.parametrize("size", [None, 7, 300])
def test_the_sample_is_the_same_however_the_input_arrives(
    monkeypatch: pytest.MonkeyPatch, size: int | None
) -> None:
    """``--check sample`` draws from the first 65,536 rows, not from the first read's."""
    _small_chunks(monkeypatch, size)
    monkeypatch.setattr(formats, "CHUNK_ROWS", 1 << 16)
    data = "x\n" + "".join(f"{i}\n" for i in range(1, 2001)) + "-1\n"
    r = runner.invoke(app, ["grad", "log(x)", "-i", "-", "--check", "sample:5"], input=data)
    statuses = [line.rsplit(",", 1)[1] for line in r.stdout.splitlines()[1:]]
    sampled = [i for i, status in enumerate(statuses) if status == "agree"]
    assert len(sampled) == 5 and statuses[-1] == "undefined", r.stderr
    assert max(sampled) > 100  # (not only the first read's rows)
    expected = getattr(test_the_sample_is_the_same_however_the_input_arrives, "seen", sampled)
    assert sampled == expected
    test_the_sample_is_the_same_however_the_input_arrives.seen = sampled  # type: ignore[attr-defined]
