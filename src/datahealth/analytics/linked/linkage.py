"""Pseudonymous linkage: raw identifiers → keyed hashes → one person number per member; analysis tables.

``link(data_dir, secret)`` reads ``raw/`` (written by ``synth`` or converted from real extracts) and
writes ``linked/``::

    persons.parquet    pid, insurer_no, sex, birth_ym, enrol_start, enrol_end (months since year 0)
    checkups.parquet   pid, fiscal_year, measurements, questionnaire, guidance
    medical.parquet    pid, month, setting, ward, icd10, procedure, generic, cost_yen
    care.parquet       pid, month, care_level, service, cost_yen
    link_report.json   per source: rows, linked by key1 / key2, unmatched, ambiguous, link rate

Matching, NDB style: the insurer register (raw/enrolment) defines the members and their person numbers
(``pid``, a serial number in key order; nothing in it can be turned back into an identifier). Checkup and
medical rows link by key1 (insurer + symbol + number + birth date + sex), falling back to key2 (kana
name + birth date + sex) when key2 is unique in the register; care rows carry a care insurance number
only, so they link by key2 alone. A key2 shared by two members is *ambiguous* and never linked: a wrong
link is worse than a missing one. No raw identifier is written to ``linked/``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from datahealth.analytics.linked import identity
from datahealth.errors import Problem, UserError

IDENTITY_MEMBER = ("insurer_no", "member_symbol", "member_number", "name_kana", "birth_date", "sex")
IDENTITY_CARE = ("name_kana", "birth_date", "sex")
BATCH = 250_000

Progress = Callable[[str], None]


@dataclass(frozen=True)
class SourceLink:
    source: str
    rows: int
    by_key1: int
    by_key2: int
    unmatched: int
    ambiguous: int
    invalid: int

    @property
    def linked(self) -> int:
        return self.by_key1 + self.by_key2

    @property
    def rate(self) -> float:
        return self.linked / self.rows if self.rows else 0.0


@dataclass(frozen=True)
class LinkReport:
    members: int
    sources: tuple[SourceLink, ...]

    def to_json(self) -> str:
        return json.dumps(
            {
                "members": self.members,
                "sources": [{**asdict(s), "linked": s.linked, "rate": round(s.rate, 6)} for s in self.sources],
            },
            ensure_ascii=False,
            indent=2,
        )


@lru_cache(maxsize=200_000)
def _kana(value: str) -> str:
    return identity.normalise_kana(value)


@lru_cache(maxsize=200_000)
def _birth(value: str) -> str:
    return identity.normalise_birth_date(value)


@lru_cache(maxsize=64)
def _sex(value: str) -> str:
    return identity.normalise_sex(value)


class _Keys:
    def __init__(self, secret: bytes) -> None:
        self.secret = secret

    def member(self, insurer: str, symbol: str, number: str, name: str, birth: str, sex: str) -> tuple[str, str] | None:
        try:
            b, s = _birth(birth), _sex(sex)
        except ValueError:
            return None
        k1 = identity.keyed_hash(
            self.secret,
            "k1",
            identity.normalise_number(insurer),
            identity.normalise_symbol(symbol),
            identity.normalise_number(number),
            b,
            s,
        )
        return k1, identity.keyed_hash(self.secret, "k2", _kana(name), b, s)

    def person(self, name: str, birth: str, sex: str) -> str | None:
        try:
            return identity.keyed_hash(self.secret, "k2", _kana(name), _birth(birth), _sex(sex))
        except ValueError:
            return None


def _batches(con: duckdb.DuckDBPyConnection, sql: str) -> Iterator[pa.RecordBatch]:
    reader = con.sql(sql).to_arrow_reader(BATCH)
    yield from reader


def _hash_identities(
    con: duckdb.DuckDBPyConnection, source_sql: str, columns: tuple[str, ...], keys: _Keys, out: Path
) -> None:
    """Distinct identifier tuples of a source with their keys (key1, key2; NULL when unreadable)."""
    select = ", ".join(columns)
    writer: pq.ParquetWriter | None = None
    try:
        for batch in _batches(con, f"SELECT DISTINCT {select} FROM {source_sql}"):  # noqa: S608 - fixed names
            values = [batch.column(c).to_pylist() for c in columns]
            k1s: list[str | None] = []
            k2s: list[str | None] = []
            for row in zip(*values, strict=True):
                if len(columns) == len(IDENTITY_MEMBER):
                    pair = keys.member(*(str(v or "") for v in row))
                    k1s.append(pair[0] if pair else None)
                    k2s.append(pair[1] if pair else None)
                else:
                    k1s.append(None)
                    k2s.append(keys.person(*(str(v or "") for v in row)))
            table = pa.table(
                {
                    **{c: batch.column(c) for c in columns},
                    "k1": pa.array(k1s, pa.string()),
                    "k2": pa.array(k2s, pa.string()),
                }
            )
            if writer is None:
                writer = pq.ParquetWriter(out, table.schema)
            writer.write_table(table)
    finally:
        if writer is not None:
            writer.close()


def _month(column: str) -> str:
    return f"(({column} // 100) * 12 + {column} % 100 - 1)"


def link(
    data_dir: Path,
    secret: bytes,
    out_dir: Path | None = None,
    *,
    progress: Progress | None = None,
    memory_limit: str = "6GB",
    carry: tuple[str, ...] = (),
) -> LinkReport:
    """Link the raw sources under ``data_dir`` and write the pseudonymous tables (see module docstring).

    ``carry`` names extra raw columns copied to the outputs; tests carry the synthetic ground truth
    (``truth_person_id``) to prove every link right. Never carry an identifier.
    """
    raw = data_dir / "raw"
    if not (raw / "enrolment.parquet").exists():
        raise UserError(Problem("DH-L101", {"field": str(raw / "enrolment.parquet")}))
    if not secret:
        raise UserError(Problem("DH-L102", {}))
    out = out_dir or data_dir / "linked"
    out.mkdir(parents=True, exist_ok=True)
    work = out / "_work"
    work.mkdir(exist_ok=True)
    keys = _Keys(secret)
    con = duckdb.connect()
    con.execute(f"SET memory_limit='{memory_limit}'")
    con.execute(f"SET temp_directory='{(work / 'spill').as_posix()}'")
    con.execute("SET preserve_insertion_order=false")
    con.execute("SET enable_progress_bar=false")

    def step(text: str) -> None:
        if progress is not None:
            progress(text)

    def src(name: str) -> str:
        path = raw / name
        return f"read_parquet('{(path / '*.parquet').as_posix() if path.is_dir() else path.as_posix()}')"

    step("register / 加入者台帳")
    _hash_identities(con, src("enrolment.parquet"), IDENTITY_MEMBER, keys, work / "register_keys.parquet")
    con.execute(
        f"""
        CREATE TABLE register AS
        WITH r AS (
            SELECT k.k1, k.k2, e.enrol_start_ym, e.enrol_end_ym, e.insurer_no, k.birth_date, k.sex
            FROM {src("enrolment.parquet")} e
            JOIN read_parquet('{(work / "register_keys.parquet").as_posix()}') k
              USING (insurer_no, member_symbol, member_number, name_kana, birth_date, sex)
            WHERE k.k1 IS NOT NULL
        )
        SELECT row_number() OVER (ORDER BY k1) - 1 AS pid, * FROM (SELECT DISTINCT ON (k1) * FROM r ORDER BY k1)
        """  # noqa: S608 - paths and names are ours
    )
    con.execute("CREATE TABLE by_k2 AS SELECT k2, min(pid) AS pid, count(*) AS n FROM register GROUP BY k2")
    members = int(con.execute("SELECT count(*) FROM register").fetchone()[0])  # type: ignore[index]
    con.execute(
        f"""
        COPY (
            SELECT pid, insurer_no,
                   CASE WHEN sex IN ('2', '女', 'F') THEN 2 ELSE 1 END::TINYINT AS sex,
                   enrol_start_ym, enrol_end_ym,
                   {_month("enrol_start_ym")}::INTEGER AS enrol_start, {_month("enrol_end_ym")}::INTEGER AS enrol_end,
                   birth_date AS _birth_raw
            FROM register
        ) TO '{(work / "persons_raw.parquet").as_posix()}' (FORMAT parquet)
        """  # noqa: S608
    )
    _write_persons(con, work / "persons_raw.parquet", out / "persons.parquet")

    reports = []
    for name, table, columns, body in (
        ("checkups", "checkups", IDENTITY_MEMBER, _CHECKUP_COLUMNS),
        ("medical", "medical", IDENTITY_MEMBER, _MEDICAL_COLUMNS),
        ("care", "care", IDENTITY_CARE, _CARE_COLUMNS),
    ):
        if not (raw / table).exists():
            continue
        step(f"{name} / 突合")
        keys_path = work / f"{name}_keys.parquet"
        _hash_identities(con, src(table), columns, keys, keys_path)
        using = ", ".join(columns)
        con.execute(
            f"""
            CREATE OR REPLACE TABLE idmap AS
            SELECT {", ".join("k." + c for c in columns)}, k.k1 IS NULL AND k.k2 IS NULL AS invalid,
                   r.pid AS pid1, CASE WHEN b.n = 1 THEN b.pid END AS pid2, coalesce(b.n, 0) AS n2
            FROM read_parquet('{keys_path.as_posix()}') k
            LEFT JOIN register r ON r.k1 = k.k1
            LEFT JOIN by_k2 b ON b.k2 = k.k2
            """  # noqa: S608
        )
        con.execute(
            f"""
            CREATE OR REPLACE TABLE counts AS
            SELECT count(*) AS rows,
                   count(*) FILTER (WHERE pid1 IS NOT NULL) AS by_key1,
                   count(*) FILTER (WHERE pid1 IS NULL AND pid2 IS NOT NULL) AS by_key2,
                   count(*) FILTER (WHERE pid1 IS NULL AND pid2 IS NULL AND n2 > 1) AS ambiguous,
                   count(*) FILTER (WHERE invalid) AS invalid
            FROM {src(table)} JOIN idmap USING ({using})
            """  # noqa: S608
        )
        rows, by1, by2, ambiguous, invalid = con.execute("SELECT * FROM counts").fetchone()  # type: ignore[misc]
        reports.append(SourceLink(name, rows, by1, by2, rows - by1 - by2 - ambiguous - invalid, ambiguous, invalid))
        con.execute(
            f"""
            COPY (
                SELECT coalesce(i.pid1, i.pid2) AS pid, {body}{"".join(", s." + c for c in carry)}
                FROM {src(table)} s JOIN idmap i USING ({using})
                WHERE coalesce(i.pid1, i.pid2) IS NOT NULL
            ) TO '{(out / f"{name}.parquet").as_posix()}' (FORMAT parquet, COMPRESSION zstd)
            """  # noqa: S608
        )
    con.close()
    _clean(work)
    report = LinkReport(members, tuple(reports))
    (out / "link_report.json").write_text(report.to_json(), encoding="utf-8")
    return report


def _write_persons(con: duckdb.DuckDBPyConnection, source: Path, target: Path) -> None:
    """Replace the raw birth date by the birth month (生年月, as the NDB keeps it)."""
    writer: pq.ParquetWriter | None = None
    try:
        for batch in _batches(con, f"SELECT * FROM read_parquet('{source.as_posix()}')"):  # noqa: S608
            births = [_birth(str(v)) for v in batch.column("_birth_raw").to_pylist()]
            birth_ym = pa.array([int(b[:4]) * 100 + int(b[5:7]) for b in births], pa.int32())
            cols = {c: batch.column(c) for c in batch.schema.names if c not in ("_birth_raw", "insurer_no")}
            cols["insurer_no"] = pa.array(
                [identity.normalise_text(str(v)) for v in batch.column("insurer_no").to_pylist()]
            )
            table = pa.table({**cols, "birth_ym": birth_ym})
            if writer is None:
                writer = pq.ParquetWriter(target, table.schema)
            writer.write_table(table)
    finally:
        if writer is not None:
            writer.close()


def _clean(work: Path) -> None:
    for path in sorted(work.rglob("*"), reverse=True):
        if path.is_file():
            path.unlink()
        else:
            path.rmdir()
    work.rmdir()


_CHECKUP_COLUMNS = (
    "fiscal_year, " + _month("exam_ym") + "::INTEGER AS month, height_cm, bmi, waist_cm, sbp, dbp, tg, hdl, ldl, fpg, "
    "hba1c, ast, alt, ggt, smoking, exercise, late_dinner, skip_breakfast, daily_alcohol, sleep_ok, "
    "guidance_level, guidance_done"
)
_MEDICAL_COLUMNS = _month("service_ym") + "::INTEGER AS month, setting, ward, icd10, procedure, generic, cost_yen"
_CARE_COLUMNS = _month("service_ym") + "::INTEGER AS month, care_level, service, cost_yen"
