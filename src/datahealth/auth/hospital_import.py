"""Import the survey's target hospitals from a CSV file: organisations plus one account each.

The file is the ministry's list of hospitals (UTF-8, a header row in English or Japanese). Every row
is checked before anything is written; any problem raises :class:`ImportFailed` with one catalogued
problem per bad cell and the database is left untouched. A hospital already registered (same
institution code) is updated and keeps its account; a new hospital gets an organisation and a
``hospital`` account ``h<code>`` with a one-time activation code, returned once in the result so the
ministry can send it out (only its SHA-256 digest is stored).

The caller owns the transaction: this module only flushes. Writes are executemany-style bulk
statements so that a national list (about 8,000 hospitals) imports in seconds.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from datahealth.auth.passwords import activation_digest, new_activation_code
from datahealth.auth.tables import Organisation, OrgKind, Role, User
from datahealth.errors import ImportFailed, Problem
from datahealth.institutions import FOUNDER_TYPES, PREFECTURES, parse_founder_type, parse_prefecture

MIN_BEDS = 20
"""A hospital (病院) has at least 20 beds by law (医療法); fewer is a clinic."""
MAX_BEDS = 5000
"""No Japanese hospital comes close to this; a larger number is taken for a typing error."""
MAX_NAME_LENGTH = 200  # organisations.name is String(200)
LOGIN_PREFIX = "h"
_CHUNK = 1000  # rows per executemany batch (and per progress report)

# canonical column -> accepted header spellings (compared after NFKC, trimming and lower-casing)
COLUMNS: dict[str, tuple[str, ...]] = {
    "institution_code": ("institution_code", "医療機関コード"),
    "name": ("name", "医療機関名", "hospital_name"),
    "prefecture": ("prefecture", "都道府県"),
    "bed_count": ("bed_count", "病床数"),
    "founder_type": ("founder_type", "開設者区分"),
    "email": ("email", "メールアドレス"),
}
REQUIRED_COLUMNS = ("institution_code", "name", "prefecture", "bed_count", "founder_type")
_JA_NAMES = {key: spellings[1] for key, spellings in COLUMNS.items()}

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
_FULL_WIDTH_DIGITS = re.compile("[０-９]")


@dataclass
class ImportedAccount:
    institution_code: str
    hospital_name: str
    login_id: str
    activation_code: str


@dataclass
class HospitalImportResult:
    created: int
    """Hospitals that were not registered before (each with a new account)."""
    updated: int
    """Registered hospitals whose name, prefecture, beds, founder type or e-mail changed."""
    accounts: list[ImportedAccount]
    """The new accounts with their one-time activation codes (shown once, never stored in clear)."""
    unchanged: int = 0
    """Registered hospitals listed again with identical data."""


@dataclass
class _Row:
    line: int
    code: str
    name: str
    prefecture_code: int
    bed_count: int
    founder_type: str
    email: str | None


@dataclass
class _Parsed:
    rows: list[_Row] = field(default_factory=list)
    has_email: bool = False
    code_column: str = "institution_code"
    """The institution-code column's header as written in the file (named in problems)."""


def login_id_for(code: str) -> str:
    """The login ID of a hospital's account: ``h`` + its 10-digit institution code."""
    return LOGIN_PREFIX + code


# --- reading and checking ----------------------------------------------------------------------------


def _decode(data: bytes) -> str:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ImportFailed(Problem("DH-I105")) from None
    if not text.strip():
        raise ImportFailed(Problem("DH-I106"))
    return text


def _detail(ja: str, en: str) -> str:
    """The catalogue's ``{detail}`` appears in both languages' messages, so it carries both."""
    return f"{ja} / {en}"


def _header_key(cell: str) -> str:
    return unicodedata.normalize("NFKC", cell).strip().lower()


def _map_header(header: list[str]) -> tuple[dict[str, int], dict[str, str]]:
    """Canonical column -> index, and canonical column -> the header text as written in the file."""
    lookup = {spelling.lower(): key for key, spellings in COLUMNS.items() for spelling in spellings}
    positions: dict[str, int] = {}
    written: dict[str, str] = {}
    problems: list[Problem] = []
    for index, cell in enumerate(header):
        key = lookup.get(_header_key(cell))
        if key is None:
            continue  # extra columns are ignored
        if key in positions:
            detail = _detail("同じ項目の列が2つあります", "the same column appears twice")
            problems.append(Problem("DH-I102", {"value": cell.strip(), "detail": detail}, row=1, field=cell.strip()))
            continue
        positions[key] = index
        written[key] = cell.strip()
    missing = [key for key in REQUIRED_COLUMNS if key not in positions]
    if missing:
        names = "、".join(f"{_JA_NAMES[key]} ({key})" for key in missing)
        problems.insert(0, Problem("DH-I104", field=names))
    if problems:
        raise ImportFailed(*problems)
    return positions, written


def _records(text: str) -> Iterable[tuple[int, list[str]]]:
    """(1-based line where the record starts, cells) for every CSV record, header included."""
    reader = csv.reader(io.StringIO(text, newline=""))
    line = 1
    for record in reader:
        yield line, record
        line = reader.line_num + 1


def _check_code(raw: str) -> str | None:
    """The reason (bilingual detail) why ``raw`` is not a 10-digit institution code, or ``None``."""
    if _FULL_WIDTH_DIGITS.search(raw):
        return _detail(
            "全角数字は使えません。半角数字10桁で入力してください",
            "full-width digits are not accepted; use 10 half-width digits",
        )
    if not (raw.isascii() and raw.isdigit()):
        return _detail("半角数字10桁で入力してください", "use 10 half-width digits")
    if len(raw) == 9:
        return _detail(
            "9桁です。表計算ソフトで先頭の0が消えていないか確認してください",
            "9 digits: check that a spreadsheet did not drop the leading zero",
        )
    if len(raw) != 10:
        return _detail(f"{len(raw)}桁です。10桁で入力してください", f"{len(raw)} digits; the code has 10")
    if not 1 <= int(raw[:2]) <= len(PREFECTURES):
        return _detail(
            "先頭2桁が都道府県番号（01～47）ではありません", "the first 2 digits are not a prefecture number (01-47)"
        )
    return None


def _parse_int(raw: str) -> int | None:
    text = unicodedata.normalize("NFKC", raw).strip().replace(",", "")
    if not (text.isascii() and text.isdigit()):
        return None
    return int(text)


def _check_beds(beds: int | None) -> str | None:
    if beds is None:
        return _detail("整数で入力してください", "enter a whole number")
    if beds < MIN_BEDS:
        return _detail(f"病院の病床数は{MIN_BEDS}床以上です", f"a hospital has at least {MIN_BEDS} beds")
    if beds > MAX_BEDS:
        return _detail(f"{MAX_BEDS}床以下で入力してください", f"at most {MAX_BEDS} beds")
    return None


def _parse(text: str) -> _Parsed:
    records = _records(text)
    header: list[str] | None = None
    for _line, record in records:
        if any(cell.strip() for cell in record):
            header = record
            break
    if header is None:
        raise ImportFailed(Problem("DH-I106"))
    positions, written = _map_header(header)
    parsed = _Parsed(has_email="email" in positions, code_column=written["institution_code"])
    problems: list[Problem] = []
    first_line: dict[str, int] = {}
    founder_choices = "、".join(ja for ja, _en in FOUNDER_TYPES.values())
    founder_keys = ", ".join(FOUNDER_TYPES)

    for line, record in records:
        if not any(cell.strip() for cell in record):
            continue  # blank lines (often at the end of a file) are skipped

        def cell(key: str, record: list[str] = record) -> str:
            index = positions.get(key)
            return record[index].strip() if index is not None and index < len(record) else ""

        def bad(key: str, value: str, detail: str, line: int = line) -> None:
            params = {"value": value, "detail": detail}
            problems.append(Problem("DH-I102", params, row=line, field=written[key]))

        values = {key: cell(key) for key in COLUMNS}
        row_problems = len(problems)
        for key in REQUIRED_COLUMNS:
            if not values[key]:
                problems.append(Problem("DH-I101", row=line, field=written[key]))

        code = values["institution_code"]
        if code:
            reason = _check_code(code)
            if reason:
                bad("institution_code", code, reason)
            elif code in first_line:
                problems.append(
                    Problem(
                        "DH-I103",
                        {"value": code, "other_row": first_line[code]},
                        row=line,
                        field=written["institution_code"],
                    )
                )
            else:
                first_line[code] = line

        name = values["name"]
        if len(name) > MAX_NAME_LENGTH:
            bad(
                "name",
                name[:40] + "…",
                _detail(f"{MAX_NAME_LENGTH}文字以内にしてください", f"at most {MAX_NAME_LENGTH} characters"),
            )

        prefecture = parse_prefecture(values["prefecture"]) if values["prefecture"] else None
        if values["prefecture"] and prefecture is None:
            bad(
                "prefecture",
                values["prefecture"],
                _detail(
                    "都道府県名（例：東京都）またはJISコード（01～47）を入力してください",
                    "enter a prefecture name (e.g. Tokyo) or its JIS code (01-47)",
                ),
            )

        beds = _parse_int(values["bed_count"]) if values["bed_count"] else None
        if values["bed_count"]:
            reason = _check_beds(beds)
            if reason:
                bad("bed_count", values["bed_count"], reason)

        founder = parse_founder_type(values["founder_type"]) if values["founder_type"] else None
        if values["founder_type"] and founder is None:
            bad(
                "founder_type",
                values["founder_type"],
                _detail(f"次のいずれかを入力してください：{founder_choices}", f"use one of: {founder_keys}"),
            )

        email = values["email"] or None
        if email is not None and (len(email) > 254 or not _EMAIL.match(email)):
            bad("email", email, _detail("メールアドレスの形式ではありません", "not an e-mail address"))

        if len(problems) == row_problems and prefecture and beds is not None and founder:
            parsed.rows.append(_Row(line, code, name, prefecture, beds, founder, email))
    if problems:
        raise ImportFailed(*problems)
    if not parsed.rows:
        raise ImportFailed(Problem("DH-I106"))
    return parsed


# --- writing ------------------------------------------------------------------------------------------


def _chunks(items: list[Any], size: int = _CHUNK) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def import_hospitals(
    db: Session, data: bytes, *, progress: Callable[[int, int], None] | None = None
) -> HospitalImportResult:
    """Check every row, then create or update the hospitals; raises ``ImportFailed`` (nothing written).

    ``progress(done, total)`` is called as rows are written, ``total`` being the number of data rows.
    """
    parsed = _parse(_decode(data))
    rows = parsed.rows
    total = len(rows)
    report = progress or (lambda _done, _total: None)
    report(0, total)

    existing: dict[str, tuple[int, str, int | None, int | None, str | None, str | None]] = {
        org_code: (org_id, name, pref, beds, founder, email)
        for org_id, org_code, name, pref, beds, founder, email in db.execute(
            select(
                Organisation.id,
                Organisation.code,
                Organisation.name,
                Organisation.prefecture_code,
                Organisation.bed_count,
                Organisation.founder_type,
                Organisation.email,
            ).where(Organisation.kind == OrgKind.HOSPITAL)
        )
    }
    with_account = set(
        db.scalars(
            select(User.organisation_id)
            .join(Organisation, Organisation.id == User.organisation_id)
            .where(Organisation.kind == OrgKind.HOSPITAL)
        )
    )

    new_rows = [row for row in rows if row.code not in existing]
    # Organisations that exist but have no account yet get one as well.
    need_account = [row for row in rows if row.code not in existing or existing[row.code][0] not in with_account]
    _check_logins_free(db, need_account, parsed.code_column)

    changes: list[dict[str, Any]] = []
    unchanged = 0
    for row in rows:
        if row.code not in existing:
            continue
        org_id, name, pref, beds, founder, email = existing[row.code]
        new_email = row.email if parsed.has_email else email
        if (name, pref, beds, founder, email) == (
            row.name,
            row.prefecture_code,
            row.bed_count,
            row.founder_type,
            new_email,
        ):
            unchanged += 1
            continue
        changes.append(
            {
                "id": org_id,
                "name": row.name,
                "prefecture_code": row.prefecture_code,
                "bed_count": row.bed_count,
                "founder_type": row.founder_type,
                "email": new_email,
            }
        )

    done = 0
    for batch in _chunks(changes):
        db.execute(update(Organisation), batch)
        done += len(batch)
        report(done, total)
    _expire_changed(db, {change["id"] for change in changes})

    org_ids = {code: values[0] for code, values in existing.items()}
    for batch in _chunks(new_rows):
        inserted = db.execute(
            insert(Organisation).returning(Organisation.id, Organisation.code),
            [
                {
                    "kind": OrgKind.HOSPITAL.value,
                    "code": row.code,
                    "name": row.name,
                    "prefecture_code": row.prefecture_code,
                    "bed_count": row.bed_count,
                    "founder_type": row.founder_type,
                    "email": row.email,
                }
                for row in batch
            ],
        )
        org_ids.update({org_code: org_id for org_id, org_code in inserted})
        done += len(batch)
        report(min(done, total), total)

    accounts: list[ImportedAccount] = []
    user_rows: list[dict[str, Any]] = []
    for row in need_account:
        code = new_activation_code()
        login = login_id_for(row.code)
        accounts.append(ImportedAccount(row.code, row.name, login, code))
        user_rows.append(
            {
                "login_id": login,
                "display_name": row.name,
                "role": Role.HOSPITAL.value,
                "organisation_id": org_ids[row.code],
                "password_hash": None,  # no password until the account is activated  # nosec B105
                "activation_code_hash": activation_digest(code),
            }
        )
    for batch in _chunks(user_rows):
        db.execute(insert(User), batch)
    db.flush()
    report(total, total)
    return HospitalImportResult(created=len(new_rows), updated=len(changes), accounts=accounts, unchanged=unchanged)


def _check_logins_free(db: Session, rows: list[_Row], column: str) -> None:
    """A login ID ``h<code>`` already held by some other account would make the insert fail: report it."""
    taken: set[str] = set()
    for batch in _chunks([login_id_for(row.code) for row in rows], 500):
        taken.update(db.scalars(select(User.login_id).where(User.login_id.in_(batch))))
    if taken:
        raise ImportFailed(
            *(
                Problem(
                    "DH-I102",
                    {
                        "value": row.code,
                        "detail": _detail(
                            f"ログインID「{login_id_for(row.code)}」は別のアカウントが使用しています",
                            f"login ID {login_id_for(row.code)} is used by another account",
                        ),
                    },
                    row=row.line,
                    field=column,
                )
                for row in rows
                if login_id_for(row.code) in taken
            )
        )


def _expire_changed(db: Session, ids: set[int]) -> None:
    """Bulk UPDATE bypasses loaded objects: expire any loaded organisation it changed."""
    if not ids:
        return
    for obj in list(db.identity_map.values()):
        if isinstance(obj, Organisation) and obj.id in ids:
            db.expire(obj)


# --- the list of accounts to send out ------------------------------------------------------------------


def _safe_text(value: str) -> str:
    """Neutralise spreadsheet formula injection: a cell starting with = + - @ tab or CR gets a quote."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def accounts_csv(result: HospitalImportResult) -> bytes:
    """The new accounts as CSV (UTF-8 with BOM so Excel reads it) for the ministry to send out."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(
        [
            "ログインID (login_id)",
            "初回登録コード (activation_code)",
            "医療機関コード (institution_code)",
            "医療機関名 (hospital)",
        ]
    )
    for account in result.accounts:
        writer.writerow(
            [account.login_id, account.activation_code, account.institution_code, _safe_text(account.hospital_name)]
        )
    return buffer.getvalue().encode("utf-8-sig")
