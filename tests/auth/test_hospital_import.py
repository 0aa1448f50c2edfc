"""Importing target hospitals from CSV: validation codes, all-or-nothing writes, updates, accounts."""

from __future__ import annotations

import csv
import io
import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from datahealth.auth.hospital_import import accounts_csv, import_hospitals
from datahealth.auth.passwords import activation_digest, verify_password
from datahealth.auth.service import activate_account
from datahealth.auth.tables import Organisation, OrgKind, User
from datahealth.config import Settings
from datahealth.errors import ImportFailed, UserError

HEADER_JA = "医療機関コード,医療機関名,都道府県,病床数,開設者区分,メールアドレス"
HEADER_EN = "institution_code,name,prefecture,bed_count,founder_type,email"
ROW_TOKYO = "1311234567,テスト中央病院,東京都,120,医療法人,info@example.jp"


NOW = datetime(2025, 2, 1, 3, tzinfo=UTC)


def csv_file(*lines: str, bom: bool = True) -> bytes:
    return (("\ufeff" if bom else "") + "\r\n".join(lines) + "\r\n").encode("utf-8")


def failure(db: Session, data: bytes) -> ImportFailed:
    with pytest.raises(ImportFailed) as caught:
        import_hospitals(db, data)
    return caught.value


def organisations(db: Session) -> int:
    return db.scalar(select(func.count()).select_from(Organisation)) or 0


def test_valid_file_with_bom_and_japanese_headers(db: Session) -> None:
    data = csv_file(
        HEADER_JA,
        ROW_TOKYO,
        "2711234568,大阪みなと病院,27,450,public,",
        "0111234569,札幌北病院,Hokkaido,20,National government,",
    )
    result = import_hospitals(db, data)
    db.commit()

    assert (result.created, result.updated, len(result.accounts)) == (3, 0, 3)
    tokyo = db.scalar(select(Organisation).where(Organisation.code == "1311234567"))
    assert tokyo is not None
    assert (tokyo.kind, tokyo.name, tokyo.prefecture_code, tokyo.bed_count) == (
        OrgKind.HOSPITAL,
        "テスト中央病院",
        13,
        120,
    )
    assert (tokyo.founder_type, tokyo.email) == ("medical_corporation", "info@example.jp")
    osaka = db.scalar(select(Organisation).where(Organisation.code == "2711234568"))
    assert osaka is not None
    assert (osaka.prefecture_code, osaka.founder_type, osaka.email) == (27, "public", None)
    sapporo = db.scalar(select(Organisation).where(Organisation.code == "0111234569"))
    assert sapporo is not None and (sapporo.prefecture_code, sapporo.founder_type) == (1, "national")

    by_login = {account.login_id: account for account in result.accounts}
    assert set(by_login) == {"h1311234567", "h2711234568", "h0111234569"}
    user = db.scalar(select(User).where(User.login_id == "h1311234567"))
    assert user is not None
    assert (user.role, user.organisation_id, user.display_name, user.password_hash) == (
        "hospital",
        tokyo.id,
        "テスト中央病院",
        None,
    )
    assert user.activation_code_hash == activation_digest(by_login["h1311234567"].activation_code)
    assert by_login["h1311234567"].hospital_name == "テスト中央病院"


def test_english_headers_without_bom_or_email_column(db: Session) -> None:
    data = csv_file(
        "name,institution_code,founder_type,bed_count,prefecture,extra",
        "英語ヘッダ病院,1311234567,individual,99,13,ignored",
        bom=False,
    )
    result = import_hospitals(db, data)
    assert result.created == 1
    org = db.scalar(select(Organisation).where(Organisation.code == "1311234567"))
    assert org is not None
    assert (org.name, org.founder_type, org.bed_count) == ("英語ヘッダ病院", "individual", 99)


def test_activation_code_activates_the_account(db: Session, settings: Settings) -> None:
    result = import_hospitals(db, csv_file(HEADER_JA, ROW_TOKYO))
    account = result.accounts[0]
    password = "a-long-enough-password"
    typed = account.activation_code.lower()  # forgiving of case as typed
    user = activate_account(db, account.login_id, typed, password, password, settings, NOW)
    assert verify_password(user.password_hash, password)
    assert user.activation_code_hash is None
    with pytest.raises(UserError) as caught:  # one-time: the same code does not work twice
        activate_account(db, account.login_id, account.activation_code, password, password, settings, NOW)
    assert caught.value.code == "DH-A106"


def test_shift_jis_file_is_rejected(db: Session) -> None:
    data = (HEADER_JA + "\r\n" + ROW_TOKYO + "\r\n").encode("shift_jis")
    assert failure(db, data).code == "DH-I105"


@pytest.mark.parametrize("data", [b"", b"\xef\xbb\xbf", b"\r\n\r\n", csv_file(HEADER_JA)])
def test_empty_file(db: Session, data: bytes) -> None:
    assert failure(db, data).code == "DH-I106"


def test_missing_columns_are_listed(db: Session) -> None:
    error = failure(db, csv_file("医療機関コード,医療機関名,都道府県", "1311234567,病院,東京都"))
    assert [problem.code for problem in error.problems] == ["DH-I104"]
    listed = error.problems[0].field or ""
    assert "bed_count" in listed and "founder_type" in listed and "institution_code" not in listed


@pytest.mark.parametrize(
    ("row", "code", "field"),
    [
        ("１３１１２３４５６７,病院,東京都,120,医療法人,", "DH-I102", "医療機関コード"),  # full-width digits
        ("131123456,病院,東京都,120,医療法人,", "DH-I102", "医療機関コード"),  # 9 digits (lost leading zero)
        ("13112345678,病院,東京都,120,医療法人,", "DH-I102", "医療機関コード"),
        ("9911234567,病院,東京都,120,医療法人,", "DH-I102", "医療機関コード"),  # no prefecture 99
        ("13-1234567,病院,東京都,120,医療法人,", "DH-I102", "医療機関コード"),
        (",病院,東京都,120,医療法人,", "DH-I101", "医療機関コード"),
        ("1311234567,,東京都,120,医療法人,", "DH-I101", "医療機関名"),
        ("1311234567,病院,東京府,120,医療法人,", "DH-I102", "都道府県"),
        ("1311234567,病院,48,120,医療法人,", "DH-I102", "都道府県"),
        ("1311234567,病院,,120,医療法人,", "DH-I101", "都道府県"),
        ("1311234567,病院,東京都,19,医療法人,", "DH-I102", "病床数"),  # a clinic, not a hospital
        ("1311234567,病院,東京都,12.5,医療法人,", "DH-I102", "病床数"),
        ("1311234567,病院,東京都,-20,医療法人,", "DH-I102", "病床数"),
        ("1311234567,病院,東京都,120,財団,", "DH-I102", "開設者区分"),
        ("1311234567,病院,東京都,120,,", "DH-I101", "開設者区分"),
        ("1311234567,病院,東京都,120,医療法人,not-an-address", "DH-I102", "メールアドレス"),
    ],
)
def test_invalid_cell(db: Session, row: str, code: str, field: str) -> None:
    error = failure(db, csv_file(HEADER_JA, row))
    assert [(problem.code, problem.row, problem.field) for problem in error.problems] == [(code, 2, field)]
    assert organisations(db) == 0


def test_duplicate_code_names_the_first_row(db: Session) -> None:
    error = failure(
        db,
        csv_file(HEADER_JA, ROW_TOKYO, "2711234568,別の病院,大阪府,200,public,", "1311234567,重複病院,東京都,80,個人,"),
    )
    assert [(problem.code, problem.row) for problem in error.problems] == [("DH-I103", 4)]
    assert error.problems[0].params["other_row"] == 2
    assert error.problems[0].params["value"] == "1311234567"


def test_every_problem_is_reported_and_nothing_written(db: Session) -> None:
    data = csv_file(
        HEADER_JA,
        ROW_TOKYO,  # line 2: fine
        "",  # line 3: blank, skipped but counted
        "2711234568,大阪病院,大阪府,10,public,",  # line 4: too few beds
        "4011234569,福岡病院,福岡,120,unknown,",  # line 5: unknown founder type
        "１３１１２３４５６８,全角病院,東京都,120,医療法人,",  # line 6: full-width code
    )
    error = failure(db, data)
    assert [(problem.code, problem.row) for problem in error.problems] == [
        ("DH-I102", 4),
        ("DH-I102", 5),
        ("DH-I102", 6),
    ]
    assert {problem.field for problem in error.problems} == {"病床数", "開設者区分", "医療機関コード"}
    assert organisations(db) == 0
    assert db.scalar(select(func.count()).select_from(User)) == 0


def test_line_numbers_count_quoted_line_breaks(db: Session) -> None:
    error = failure(
        db,
        csv_file(HEADER_JA, '1311234567,"二行の\n病院名",東京都,120,医療法人,', "2711234568,大阪病院,大阪府,5,public,"),
    )
    assert [(problem.code, problem.row) for problem in error.problems] == [("DH-I102", 4)]


def test_reimport_updates_and_keeps_accounts(db: Session) -> None:
    first = import_hospitals(db, csv_file(HEADER_JA, ROW_TOKYO, "2711234568,大阪病院,大阪府,200,public,"))
    db.commit()
    user_before = db.scalar(select(User).where(User.login_id == "h1311234567"))
    assert user_before is not None
    user_id, digest = user_before.id, user_before.activation_code_hash
    tokyo = db.scalar(select(Organisation).where(Organisation.code == "1311234567"))
    assert tokyo is not None  # loaded in the session: the import must not leave it stale

    second = import_hospitals(
        db,
        csv_file(
            HEADER_JA,
            "1311234567,テスト中央病院（新館）,神奈川県,150,public,new@example.jp",
            "2711234568,大阪病院,大阪府,200,public,",
            "0111234569,新規病院,北海道,60,医療法人,",
        ),
    )
    db.commit()

    assert (second.created, second.updated, second.unchanged) == (1, 1, 1)
    assert [account.login_id for account in second.accounts] == ["h0111234569"]
    assert (tokyo.name, tokyo.prefecture_code, tokyo.bed_count, tokyo.founder_type, tokyo.email) == (
        "テスト中央病院（新館）",
        14,
        150,
        "public",
        "new@example.jp",
    )
    user_after = db.scalar(select(User).where(User.login_id == "h1311234567"))
    assert user_after is not None and (user_after.id, user_after.activation_code_hash) == (user_id, digest)
    assert db.scalar(select(func.count()).select_from(User)) == 3
    assert len(first.accounts) == 2


def test_accounts_csv_has_bom_and_neutralises_formulas(db: Session) -> None:
    result = import_hospitals(db, csv_file(HEADER_JA, '1311234567,=HYPERLINK("http://x"),東京都,120,医療法人,'))
    data = accounts_csv(result)
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0][0].startswith("ログインID")
    assert rows[1][:3] == ["h1311234567", result.accounts[0].activation_code, "1311234567"]
    assert rows[1][3] == '\'=HYPERLINK("http://x")'


def test_national_list_imports_in_seconds(db: Session) -> None:
    lines = [HEADER_EN] + [
        f"{(i % 47) + 1:02d}1{i:07d},病院{i},{(i % 47) + 1},{20 + i % 900},other," for i in range(8000)
    ]
    calls: list[tuple[int, int]] = []
    started = time.perf_counter()
    result = import_hospitals(db, csv_file(*lines), progress=lambda done, total: calls.append((done, total)))
    elapsed = time.perf_counter() - started
    assert result.created == 8000 and len(result.accounts) == 8000
    assert calls[-1] == (8000, 8000)
    assert elapsed < 20, f"import took {elapsed:.1f} s"
