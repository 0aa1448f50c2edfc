"""The CSV reader: file names, encoding, header row, RFC 4180 rows, line numbers and streaming in chunks."""

from __future__ import annotations

import io
from typing import BinaryIO

import polars as pl
import pytest
from checker_rows import codes, csv_bytes, row, run_csv

from datahealth.exchange import read_csv
from datahealth.exchange.pipeline import LOCATOR, SOURCE
from datahealth.exchange.read_csv import iter_csv_file, read_csv_files, record_type_for
from datahealth.exchange.spec import ACTIVITY

HEADER = ",".join(ACTIVITY.names)


def activity_line(**overrides: str) -> str:
    values = row("activity", **overrides)
    return ",".join(values.get(name) or "" for name in ACTIVITY.names)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("activity.csv", "activity"),
        ("activity-2025-02.csv", "activity"),
        ("activity.part1.csv", "activity"),
        ("uploads/2025/activity.csv", "activity"),
        ("C:\\data\\weight.csv", "weight"),
        ("activity_recording.csv", "activity_recording"),
        ("activity_recording-1.csv", "activity_recording"),
        ("hba1c_method.csv", "hba1c_method"),
        ("hba1c.csv", "hba1c"),
        ("activity_2025.csv", None),
        ("ACTIVITY.csv", None),
        ("header.csv", None),
        ("steps.csv", None),
    ],
)
def test_record_type_from_the_file_name(name: str, expected: str | None) -> None:
    record = record_type_for(name)
    assert (record.name if record else None) == expected


def test_unknown_file_name_is_x119() -> None:
    batch = read_csv_files([("steps.csv", (HEADER + "\n").encode())])
    assert codes(batch.issues) == [("DH-X119", "", "activity")]
    assert batch.frames == {}


def test_reads_every_value_as_a_string_with_locators() -> None:
    data = csv_bytes([row("activity"), row("activity", observation_time="20250302000000", step="00012")])
    batch = read_csv_files([("activity.csv", data)])
    frame = batch.frames["activity"]
    assert batch.issues == []
    assert frame.columns == [*ACTIVITY.names, SOURCE, LOCATOR]
    assert all(dtype == pl.String for dtype in frame.dtypes)
    assert frame["step"].to_list() == ["8000", "00012"]
    assert frame[LOCATOR].to_list() == ["line 2", "line 3"]
    assert frame[SOURCE].to_list() == ["activity.csv"] * 2


def test_bom_crlf_and_lf_are_accepted() -> None:
    with_bom = csv_bytes([row("activity")], bom=True)
    lf = with_bom.replace(b"\r\n", b"\n")
    for data in (with_bom, lf):
        batch = read_csv_files([("activity.csv", data)])
        assert batch.issues == []
        assert batch.frames["activity"]["consortium_id"].to_list() == ["C01"]
        assert batch.frames["activity"]["update_time"].to_list() == ["20250302120000123"]


def test_empty_fields_are_null_and_other_text_is_kept_as_sent() -> None:
    values = row("activity", calories=" 1.5")
    cells = [values.get(name) or "" for name in ACTIVITY.names]
    cells[ACTIVITY.names.index("walk_time")] = '""'
    cells[ACTIVITY.names.index("moderate_intensity_activity")] = ""
    batch = read_csv_files([("activity.csv", f"{HEADER}\n{','.join(cells)}\n".encode())])
    frame = batch.frames["activity"]
    assert frame["walk_time"].to_list() == [None]
    assert frame["moderate_intensity_activity"].to_list() == [None]
    assert frame["calories"].to_list() == [" 1.5"]


def test_quoted_fields_with_commas_quotes_and_line_breaks() -> None:
    rows = [
        row("activity", model_number='AM "100", rev\nB'),
        row("activity", observation_time="20250302000000"),
        row("activity", observation_time="20250303000000", production_specification_serial="S\r\n1\n2"),
        row("activity", observation_time="20250304000000"),
    ]
    batch = read_csv_files([("activity.csv", csv_bytes(rows))])
    frame = batch.frames["activity"]
    assert frame["model_number"].to_list()[0] == 'AM "100", rev\nB'
    assert frame["production_specification_serial"].to_list()[2] == "S\r\n1\n2"
    # A record's line is the physical line it starts on: line breaks inside quotes count.
    assert frame[LOCATOR].to_list() == ["line 2", "line 4", "line 5", "line 8"]


def test_blank_lines_are_skipped_but_counted() -> None:
    text = f"\n{HEADER}\n\n{activity_line()}\r\n\r\n{activity_line(observation_time='20250302000000')}\n\n\n"
    batch = read_csv_files([("activity.csv", text.encode())])
    assert batch.issues == []
    assert batch.frames["activity"][LOCATOR].to_list() == ["line 4", "line 6"]


def test_shift_jis_file_is_x114_not_garbage() -> None:
    text = "consortium_id,lab_id,lab_name,lab_prefecture_code\r\nC01,LAB2,中央検査センター,13\r\n"
    batch = read_csv_files([("lab.csv", text.encode("shift_jis"))])
    assert codes(batch.issues) == [("DH-X114", "line 2", "")]
    assert batch.frames == {}
    assert "UTF-8" in batch.issues[0].message("en")


def test_non_utf8_byte_late_in_the_file_names_its_line() -> None:
    rows = "".join(f"C01,LAB{i},Lab {i},13\n" for i in range(50))
    data = ("consortium_id,lab_id,lab_name,lab_prefecture_code\n" + rows).encode() + "検査\n".encode("cp932")
    batch = read_csv_files([("lab.csv", data)])
    assert codes(batch.issues) == [("DH-X114", "line 52", "")]
    assert batch.frames == {}


def test_missing_required_columns_reject_the_file() -> None:
    columns = [name for name in ACTIVITY.names if name not in ("step", "update_time")]
    batch = read_csv_files([("activity.csv", csv_bytes([row("activity")], columns=columns))])
    assert codes(batch.issues) == [("DH-X115", "", "step, update_time")]
    assert batch.frames == {}


def test_unknown_and_repeated_columns_reject_the_file() -> None:
    text = HEADER.replace("walk_time", "walktime") + ",step\n" + activity_line() + ",1\n"
    batch = read_csv_files([("activity.csv", text.encode())])
    assert codes(batch.issues) == [("DH-X116", "", "walktime, step（重複 / repeated）")]
    assert batch.frames == {}


def test_header_names_may_carry_spaces() -> None:
    text = HEADER.replace(",", " , ") + "\n" + activity_line() + "\n"
    assert read_csv_files([("activity.csv", text.encode())]).issues == []


@pytest.mark.parametrize("data", [b"", "\ufeff".encode(), (HEADER + "\r\n").encode(), (HEADER + "\n\n\n").encode()])
def test_empty_file_or_header_only_is_x123(data: bytes) -> None:
    batch = read_csv_files([("activity.csv", data)])
    assert [issue.code for issue in batch.issues] == ["DH-X123"]


def test_rows_with_the_wrong_number_of_fields_are_x125() -> None:
    text = (
        f"{HEADER}\n{activity_line()}\nC01,P001,20250302000000\n{activity_line(observation_time='20250303000000')},x\n"
    )
    text += activity_line(observation_time="20250304000000") + "\n"
    batch = read_csv_files([("activity.csv", text.encode())])
    assert codes(batch.issues) == [("DH-X125", "line 3", ""), ("DH-X125", "line 4", "")]
    assert batch.frames["activity"][LOCATOR].to_list() == ["line 2", "line 5"]
    checked = run_csv([("activity.csv", text.encode())])
    assert checked.received == {"activity": 4}
    assert checked.rejected("activity") == 2


def test_an_unclosed_quote_is_x125() -> None:
    text = f'{HEADER}\n{activity_line()}\nC01,"P001,20250302000000\n'
    batch = read_csv_files([("activity.csv", text.encode())])
    assert codes(batch.issues) == [("DH-X125", "line 3", "")]
    assert batch.frames["activity"].height == 1


def test_a_huge_unclosed_quote_stops_reading(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(read_csv, "MAX_RECORD_BYTES", 1000)
    monkeypatch.setattr(read_csv, "BLOCK_SIZE", 256)
    text = f'{HEADER}\n{activity_line()}\n"' + ("x\n" * 5000)
    batches = list(iter_csv_file("activity.csv", io.BytesIO(text.encode())))
    issues = [issue for batch in batches for issue in batch.issues]
    assert codes(issues) == [("DH-X125", "line 3", "")]
    assert sum(batch.frames["activity"].height for batch in batches if batch.frames) == 1


def test_paired_stray_quotes_fall_back_to_the_forgiving_reader() -> None:
    odd = activity_line(model_number='A"B"C')
    text = f"{HEADER}\n{odd}\n{activity_line(observation_time='20250302000000')}\n"
    batch = read_csv_files([("activity.csv", text.encode())])
    frame = batch.frames["activity"]
    assert batch.issues == []
    assert frame["model_number"].to_list()[0] == 'A"B"C'
    assert frame[LOCATOR].to_list() == ["line 2", "line 3"]


def test_a_lone_quote_inside_a_field_opens_a_quote_that_never_closes() -> None:
    lone = activity_line(model_number='A"B')
    text = f"{HEADER}\n{activity_line()}\n{lone}\n{activity_line()}\n"
    batch = read_csv_files([("activity.csv", text.encode())])
    assert codes(batch.issues) == [("DH-X125", "line 3", "")]
    assert batch.frames["activity"][LOCATOR].to_list() == ["line 2"]


def test_files_of_the_same_type_are_concatenated() -> None:
    first = csv_bytes([row("activity")])
    second = csv_bytes([row("activity", observation_time="20250302000000")])
    batch = read_csv_files([("activity.csv", first), ("activity-2.csv", second), ("steps.csv", b"x")])
    frame = batch.frames["activity"]
    assert frame[SOURCE].to_list() == ["activity.csv", "activity-2.csv"]
    assert batch.sources == ["activity.csv", "activity-2.csv", "steps.csv"]
    assert [issue.code for issue in batch.issues] == ["DH-X119"]


class _Pipe(io.RawIOBase):
    """A stream that cannot seek, like a socket."""

    def __init__(self, data: bytes) -> None:
        self._inner = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def readinto(self, buffer: bytearray) -> int:  # type: ignore[override]
        chunk = self._inner.read(len(buffer))
        buffer[: len(chunk)] = chunk
        return len(chunk)


def test_a_stream_that_cannot_seek_is_read_the_same_way() -> None:
    data = csv_bytes([row("activity"), row("activity", observation_time="20250302000000")])
    stream: BinaryIO = io.BufferedReader(_Pipe(data))  # type: ignore[arg-type]
    batches = list(iter_csv_file("activity.csv", stream))
    assert [batch.frames["activity"].height for batch in batches] == [2]
    sjis = io.BufferedReader(_Pipe("lab_name\n検査\n".encode("shift_jis")))  # type: ignore[arg-type]
    assert [issue.code for batch in iter_csv_file("lab.csv", sjis) for issue in batch.issues] == ["DH-X114"]


def test_200000_rows_are_read_in_chunks_with_continuous_line_numbers() -> None:
    rows = 200_000
    body = io.StringIO()
    body.write(HEADER + "\n")
    base = activity_line()
    for index in range(rows):
        if index % 40_000 == 39_999:
            # a quoted line break near every chunk boundary shifts the lines that follow
            body.write(base.replace("SER001", f'"S\n{index}"') + "\n")
        else:
            body.write(base.replace("SER001", f"S{index}") + "\n")
    data = body.getvalue().encode()
    batches = list(iter_csv_file("activity.csv", io.BytesIO(data), chunk_rows=50_000))
    heights = [batch.frames["activity"].height for batch in batches]
    assert heights == [50_000, 50_000, 50_000, 50_000]
    assert all(batch.issues == [] for batch in batches)
    locators = pl.concat([batch.frames["activity"].select(LOCATOR) for batch in batches])[LOCATOR]
    lines = locators.str.strip_prefix("line ").cast(pl.Int64)
    expected = pl.Series(range(rows)) + 2 + (pl.Series(range(rows)) // 40_000)
    assert (lines == expected).all()
    serials = pl.concat([batch.frames["activity"] for batch in batches])["production_specification_serial"]
    assert serials[39_999] == "S\n39999"
    assert serials[40_000] == "S40000"


def test_chunks_go_through_the_checker() -> None:
    data = csv_bytes([row("activity", observation_time=f"202503{day:02d}000000") for day in range(1, 31)])
    from checker_rows import NOW, registry

    from datahealth.exchange.check import check

    stored = 0
    for batch in iter_csv_file("activity.csv", io.BytesIO(data), chunk_rows=7):
        checked = check(batch, registry(), sender="C01", now=NOW)
        assert checked.errors == []
        stored += checked.frames["activity"].height
    assert stored == 30


def test_line_ends_of_cr_alone_are_x125() -> None:
    text = f"{HEADER}\r{activity_line()}\r"
    batch = read_csv_files([("activity.csv", text.encode())])
    assert codes(batch.issues) == [("DH-X125", "line 1", "")]
    assert batch.frames == {}
    assert run_csv([("activity.csv", text.encode())]).received == {}
