"""Read CSV files of the 健康情報等交換規約 into ``RawBatch`` frames, streamed in chunks.

One file holds one record type, named by the file: the stem (file name without ``.csv``) must be a
record type's physical name, or start with it followed by ``.`` or ``-`` (``activity.csv``,
``activity-2025-02.csv``, ``participant.part1.csv``); anything else is DH-X119. ``header`` is not a
CSV record type (the header belongs to JSON messages).

Encoding: UTF-8, with or without a byte-order mark. The whole file is checked as UTF-8 before a
single row is handed on, so a Shift_JIS (or any other non-UTF-8) file gives exactly one DH-X114 that
names the line of the first invalid byte, and no rows: never garbage. A stream that cannot seek is
first spooled to a temporary file (disk, not memory).

Structure: the first record is the header row of physical names (surrounding spaces ignored). A
required (●) column that is absent is DH-X115; a column the record type does not define (or a
repeated one) is DH-X116; both reject the whole file, because a misspelt conditional column would
otherwise silently drop its values. Conditional (▲) and optional columns may be absent; they are
read as empty. A file without data rows is DH-X123.

Rows are RFC 4180: fields separated by ``,``, optionally quoted with ``"`` (``""`` inside quotes is a
quote), quoted fields may hold commas and line breaks; line ends are LF or CRLF. Blank lines are
skipped. A row whose number of fields differs from the header's, or whose quote is never closed, is
DH-X125 and is not read. Every value is read as a string exactly as sent; an empty field (quoted or
not) is null.

``_locator`` is ``line N``: the physical line on which the record *starts*, counting the header row
as line 1 and counting every line break, including those inside quoted fields (so a record after a
field with an embedded line break is two lines further down, as a text editor shows it).

Memory is bounded by the chunk: the stream is read in blocks, record boundaries are found with a
vectorised scan (quote parity at each line break), and every ``chunk_rows`` records are parsed by
polars into one ``RawBatch``.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
import numpy.typing as npt
import polars as pl

from datahealth.exchange import spec
from datahealth.exchange.pipeline import LOCATOR, SOURCE, Issue, RawBatch
from datahealth.exchange.spec_model import Need, RecordType

CSV_TYPES: dict[str, RecordType] = {record.name: record for record in (*spec.REGISTRIES, *spec.RECORDS)}
BLOCK_SIZE = 4 * 1024 * 1024
MAX_RECORD_BYTES = 1024 * 1024
"""A record longer than this (far beyond any valid one) means an unclosed quote: the rest is unreadable."""
BOM = codecs.BOM_UTF8

Positions = npt.NDArray[np.int64]


def record_type_for(name: str) -> RecordType | None:
    """The record type a CSV file name stands for (longest matching name), or None."""
    base = re.split(r"[\\/]", name)[-1]
    stem = base[:-4] if base.lower().endswith(".csv") else base
    best: RecordType | None = None
    for type_name, record in CSV_TYPES.items():
        if stem == type_name or stem.startswith((type_name + ".", type_name + "-")):
            if best is None or len(type_name) > len(best.name):
                best = record
    return best


def read_csv_files(files: Sequence[tuple[str, bytes]]) -> RawBatch:
    """Read whole CSV files (name, content) into one batch; files of the same record type are concatenated."""
    frames: dict[str, list[pl.DataFrame]] = {}
    issues: list[Issue] = []
    for name, data in files:
        for batch in iter_csv_file(name, io.BytesIO(data)):
            issues.extend(batch.issues)
            for type_name, frame in batch.frames.items():
                frames.setdefault(type_name, []).append(frame)
    merged = {name: pl.concat(parts, how="vertical") for name, parts in frames.items()}
    return RawBatch("csv", [name for name, _ in files], merged, issues)


def iter_csv_file(name: str, stream: BinaryIO, chunk_rows: int = 200_000) -> Iterator[RawBatch]:
    """Read one CSV file in chunks of at most ``chunk_rows`` records, each a ``RawBatch``.

    File-level problems (record type, encoding, header, no rows) come as a batch without frames.
    """
    record = record_type_for(name)
    if record is None:
        yield _file_problem(name, "", "DH-X119", field="activity")
        return
    seekable = _seekable(stream)
    try:
        start = seekable.tell()
        bad_line = _utf8_error_line(seekable)
        if bad_line is not None:
            yield _file_problem(name, record.name, "DH-X114", locator=f"line {bad_line}")
            return
        seekable.seek(start)
        yield from _read_records(name, record, seekable, max(1, chunk_rows))
    finally:
        if seekable is not stream:
            seekable.close()


# --- bytes → records --------------------------------------------------------------------------------


def _seekable(stream: BinaryIO) -> BinaryIO:
    try:
        if stream.seekable():
            return stream
    except (AttributeError, OSError):
        pass
    spool = tempfile.TemporaryFile()  # noqa: SIM115 - closed by iter_csv_file
    shutil.copyfileobj(stream, spool, BLOCK_SIZE)
    spool.seek(0)
    return spool


def _utf8_error_line(stream: BinaryIO) -> int | None:
    """The 1-based line of the first byte that is not UTF-8, or None when the whole stream is UTF-8."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    lines = 0
    while True:
        block = stream.read(BLOCK_SIZE)
        pending = len(decoder.getstate()[0])
        try:
            decoder.decode(block, final=not block)
        except UnicodeDecodeError as exc:
            return lines + block[: max(0, exc.start - pending)].count(b"\n") + 1
        if not block:
            return None
        lines += block.count(b"\n")


@dataclass
class _Records:
    """Records found in one buffer: byte ranges, starting lines (0-based, relative) and field counts."""

    starts: Positions
    ends: Positions
    """Exclusive end, without the line break (and without a CR before it)."""
    lines: Positions
    fields: Positions
    consumed: int
    """Bytes of the buffer these records take (up to and including the last line break)."""
    line_breaks: int
    """Line breaks within the consumed bytes."""
    unclosed: bool = False
    """The last record ends the file inside an open quote."""


def _scan(buf: bytes, limit: int, final: bool) -> _Records:
    """Find up to ``limit`` complete records in ``buf`` (which starts at a record boundary).

    A line break ends a record when an even number of quotes precedes it (quotes inside quoted fields
    are doubled, so they never change the parity); commas are counted the same way.
    """
    data = np.frombuffer(buf, dtype=np.uint8)
    breaks: Positions = np.flatnonzero(data == 10)
    quotes: Positions = np.flatnonzero(data == 34)
    terms = breaks[(np.searchsorted(quotes, breaks) & 1) == 0] if quotes.size else breaks
    unclosed = False
    ends_at = terms
    if final:
        tail = int(terms[-1]) + 1 if terms.size else 0
        if tail < len(buf):
            ends_at = np.append(terms, np.int64(len(buf)))
            unclosed = bool((quotes.size - int(np.searchsorted(quotes, tail))) & 1)
    if ends_at.size > limit:
        ends_at = ends_at[:limit]
        unclosed = False
    count = int(ends_at.size)
    consumed = min(int(ends_at[-1]) + 1, len(buf)) if count else 0
    starts: Positions = np.zeros(count, dtype=np.int64)
    starts[1:] = ends_at[:-1] + 1
    ends: Positions = ends_at.copy()
    if count:
        ends -= ((ends > starts) & (data[np.maximum(ends - 1, 0)] == 13)).astype(np.int64)
    lines: Positions = np.searchsorted(breaks, starts)
    commas: Positions = np.flatnonzero(data[:consumed] == 44)
    if quotes.size and commas.size:
        commas = commas[(np.searchsorted(quotes, commas) & 1) == 0]
    before_end = np.searchsorted(commas, ends_at)
    fields: Positions = np.diff(before_end, prepend=0) + 1
    line_breaks = int(np.searchsorted(breaks, consumed))
    return _Records(starts, ends, lines, fields, consumed, line_breaks, unclosed)


def _blocks(stream: BinaryIO, chunk_rows: int) -> Iterator[tuple[bytes, _Records, int]]:
    """Yield (buffer, records, first line) with at most ``chunk_rows`` records each (plus the header once).

    Reads about one chunk's worth of bytes at a time (estimated from the records seen so far), so each
    chunk is usually scanned once.
    """
    buf = b""
    line = 1
    eof = forced = False
    first = True
    limit = chunk_rows + 1  # the header row rides along in the first chunk
    record_bytes = 0.0
    while True:
        if not eof:
            want = BLOCK_SIZE if not record_bytes else max(BLOCK_SIZE, int(limit * record_bytes * 1.02) - len(buf))
            block = stream.read(want)
            if first:
                block = block.removeprefix(BOM)
                first = False
            eof = not block
            buf += block
        records = _scan(buf, limit, final=eof)
        count = int(records.starts.size)
        if count:
            record_bytes = max(record_bytes, records.consumed / count)
        if count >= limit or (eof and count):
            if forced and records.consumed >= len(buf):
                records.unclosed = True
            yield buf, records, line
            line += records.line_breaks
            buf = buf[records.consumed :]
            limit = chunk_rows
        elif eof:
            return
        elif len(buf) - records.consumed > MAX_RECORD_BYTES:
            # A quote that is never closed: read no further, report the record it starts.
            eof = forced = True


# --- records → frames -------------------------------------------------------------------------------


def _read_records(name: str, record: RecordType, stream: BinaryIO, chunk_rows: int) -> Iterator[RawBatch]:
    columns: list[str] | None = None
    rows_seen = 0
    for buf, records, first_line in _blocks(stream, chunk_rows):
        skip = 0
        if columns is None:
            filled = np.flatnonzero(records.ends > records.starts)
            if filled.size == 0:
                continue
            skip = int(filled[0]) + 1
            header = buf[int(records.starts[skip - 1]) : int(records.ends[skip - 1])]
            if b"\r" in header:  # line ends of CR alone (old Mac): the whole file would read as one line
                yield RawBatch(
                    "csv", [name], {}, [_issue(name, record.name, "DH-X125", locator="line 1", rule=CR_RULE)]
                )
                return
            columns = _header(header)
            problems = _header_problems(name, record, columns)
            if problems:
                yield RawBatch("csv", [name], {}, problems)
                return
        batch = _chunk_batch(name, record, columns, buf, records, first_line, skip)
        frame = batch.frames[record.name]
        rows_seen += frame.height + len(batch.issues)
        if frame.height or batch.issues:
            yield batch
    if not rows_seen:
        yield _file_problem(name, record.name, "DH-X123")


def _header(data: bytes) -> list[str]:
    text = data.decode("utf-8")
    try:
        row = next(csv.reader(io.StringIO(text, newline="")), [])
    except csv.Error:
        row = text.split(",")
    return [cell.strip() for cell in row]


def _header_problems(name: str, record: RecordType, columns: list[str]) -> list[Issue]:
    problems: list[Issue] = []
    known = set(record.names)
    unknown = [column for column in columns if column not in known]
    repeated = sorted({column for column in columns if column in known and columns.count(column) > 1})
    if unknown or repeated:
        listed = [*(column or '""' for column in unknown), *(f"{column}（重複 / repeated）" for column in repeated)]
        problems.append(_issue(name, record.name, "DH-X116", field=", ".join(listed)))
    missing = [f.name for f in record.fields if f.need == Need.REQUIRED and f.name not in columns]
    if missing:
        problems.append(_issue(name, record.name, "DH-X115", field=", ".join(missing)))
    return problems


def _fields_rule(count: int, width: int) -> str:
    return f"{count} 列（見出し行は {width} 列） / {count} fields (the header has {width})"


CR_RULE = "改行は LF か CRLF / line ends must be LF or CRLF"
UNCLOSED_RULE = '引用符 " が閉じていません / a quote " is never closed'


def _chunk_batch(
    name: str, record: RecordType, columns: list[str], buf: bytes, records: _Records, first_line: int, skip: int
) -> RawBatch:
    width = len(columns)
    starts, ends = records.starts[skip:], records.ends[skip:]
    lines = records.lines[skip:] + first_line
    fields = records.fields[skip:]
    readable = np.ones(starts.size, dtype=bool)
    issues: list[Issue] = []
    if records.unclosed and starts.size:
        readable[-1] = False
    blank = ends <= starts
    ragged = readable & ~blank & (fields != width)
    good = readable & ~blank & ~ragged
    frame = _parse(buf, starts[good], ends[good], width)
    if frame is not None:
        lines_good = lines[good]
        issues.extend(
            _issue(name, record.name, "DH-X125", locator=f"line {line}", rule=_fields_rule(count, width), row=True)
            for line, count in zip(lines[ragged].tolist(), fields[ragged].tolist(), strict=True)
        )
    else:
        frame, lines_good, extra = _parse_with_csv(
            name, record.name, buf, starts[readable], ends[readable], lines, width
        )
        issues.extend(extra)
    if not readable.all():
        issues.append(
            _issue(name, record.name, "DH-X125", locator=f"line {int(lines[-1])}", rule=UNCLOSED_RULE, row=True)
        )
    frame = frame.rename(dict(zip(frame.columns, columns, strict=True)))
    locators = pl.Series(LOCATOR, lines_good, dtype=pl.Int64)
    out = frame.select(
        *(
            (pl.when(pl.col(f.name).str.len_bytes() > 0).then(pl.col(f.name)) if f.name in columns else pl.lit(None))
            .cast(pl.String)
            .alias(f.name)
            for f in record.fields
        ),
        pl.lit(name, dtype=pl.String).alias(SOURCE),
        pl.format("line {}", pl.lit(locators)).alias(LOCATOR),
    )
    return RawBatch("csv", [name], {record.name: out}, issues)


def _parse(buf: bytes, starts: Positions, ends: Positions, width: int) -> pl.DataFrame | None:
    """Parse the given records with polars; None when polars disagrees with the scan (then the csv module reads)."""
    schema = {f"c{i}": pl.String for i in range(width)}
    if starts.size == 0:
        return pl.DataFrame(schema=schema)
    gaps = np.flatnonzero(starts[1:] != _next_starts(buf, ends[:-1]))
    bounds = [0, *(int(g) + 1 for g in gaps), int(starts.size)]
    payload = b"\n".join(buf[int(starts[a]) : int(ends[b - 1])] for a, b in zip(bounds[:-1], bounds[1:], strict=True))
    try:
        frame = pl.read_csv(
            payload,
            has_header=False,
            schema=schema,
            quote_char='"',
            raise_if_empty=False,
        )
    except Exception:  # noqa: BLE001 - any polars parse failure falls back to the csv module
        return None
    return frame if frame.height == starts.size else None


def _next_starts(buf: bytes, ends: Positions) -> Positions:
    """Where the record after each end begins if nothing was skipped (after an optional CR and the LF)."""
    if ends.size == 0:
        return ends
    data = np.frombuffer(buf, dtype=np.uint8)
    clipped = np.minimum(ends, len(buf) - 1)
    has_cr = (ends < len(buf)) & (data[clipped] == 13)
    following: Positions = ends + 1 + has_cr.astype(np.int64)
    return following


def _parse_with_csv(
    name: str, type_name: str, buf: bytes, starts: Positions, ends: Positions, lines: Positions, width: int
) -> tuple[pl.DataFrame, Positions, list[Issue]]:
    """The slow, forgiving path for input polars will not read (stray quotes and the like)."""
    schema = {f"c{i}": pl.String for i in range(width)}
    if starts.size == 0:
        return pl.DataFrame(schema=schema), lines[:0], []
    base = int(lines[0])
    text = buf[int(starts[0]) : int(ends[-1])].decode("utf-8")
    reader = csv.reader(io.StringIO(text, newline=""), strict=False)
    rows: list[list[str]] = []
    row_lines: list[int] = []
    issues: list[Issue] = []
    while True:
        line = base + reader.line_num
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            issues.append(_issue(name, type_name, "DH-X125", locator=f"line {line}", rule=str(exc), row=True))
            break
        if not row or row == [""]:
            continue
        if len(row) != width:
            issues.append(
                _issue(name, type_name, "DH-X125", locator=f"line {line}", rule=_fields_rule(len(row), width), row=True)
            )
            continue
        rows.append(row)
        row_lines.append(line)
    frame = pl.DataFrame(rows, schema=schema, orient="row")
    return frame, np.asarray(row_lines, dtype=np.int64), issues


def _issue(
    source: str,
    record_type: str,
    code: str,
    *,
    locator: str = "",
    field: str = "",
    rule: str = "",
    row: bool = False,
) -> Issue:
    """A reading issue; one about a row that cannot be read names it, so the checker counts it as received."""
    params = {"record": locator} if row else {}
    return Issue("error", code, source, locator, record_type=record_type, field=field, rule=rule, params=params)


def _file_problem(name: str, record_type: str, code: str, *, locator: str = "", field: str = "") -> RawBatch:
    return RawBatch("csv", [name], {}, [_issue(name, record_type, code, locator=locator, field=field)])
