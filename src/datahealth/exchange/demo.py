"""Exchange hub demo: three consortia with operators, a researcher, registries and ~60 days of records.

Everything goes through the real ingest path (``service.ingest``) with synthetic data from
``synth``: the secretariat registers the consortia, devices, methods, labs and participants; each
consortium then sends its records as an operator would — weekly CSV batches for the first two,
one JSON message per participant for the third. The first consortium's data carries the planted
errors and implausible values (so its batches have an error report to download); the second
resends a correction in its last week (so a record has history).

Demo accounts (password ``DEMO_PASSWORD``): ``demo-consortium1`` … ``demo-consortium3`` (operators of
DEMO1 … DEMO3) and ``demo-researcher`` (reads aggregates of every consortium, no records).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import polars as pl
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from datahealth.auth.passwords import hash_password
from datahealth.auth.tables import Organisation, OrgKind, Role, User
from datahealth.clock import JST
from datahealth.demo import DEMO_PASSWORD
from datahealth.exchange import synth
from datahealth.exchange.service import Sender, Upload, ingest

CONSORTIA: tuple[tuple[str, str], ...] = (
    ("DEMO1", "さくら健康づくりコンソーシアム（デモ）"),
    ("DEMO2", "みなとPHRコンソーシアム（デモ）"),
    ("DEMO3", "やまびこ生活習慣コンソーシアム（デモ）"),
)
RESEARCHER_LOGIN = "demo-researcher"
SECRETARIAT = Sender(None, "user:admin")


def operator_login(number: int) -> str:
    return f"demo-consortium{number}"


@dataclass
class ExchangeDemoSummary:
    consortia: list[str]
    batches: int
    records: int
    logins: list[tuple[str, str]]


def exchange_demo_logins() -> list[tuple[str, str]]:
    """(who, login ID) of the exchange demo accounts, for the CLI to print with ``DEMO_PASSWORD``."""
    return [
        *(
            (f"consortium operator / コンソーシアム担当者 {code}", operator_login(number))
            for number, (code, _name) in enumerate(CONSORTIA, start=1)
        ),
        ("researcher, aggregates of every consortium / 研究者（全コンソーシアムの集計のみ）", RESEARCHER_LOGIN),
    ]


def load_exchange_demo(
    db: Session,
    *,
    today: date,
    seed: int = 2024,
    days: int = 60,
    participants: int = 20,
    progress: Callable[[str, int, int], None] | None = None,
) -> ExchangeDemoSummary:
    """Register the demo consortia, accounts and registries, then send ``days`` days of records ending yesterday.

    Only flushes: the caller commits. Expects no exchange demo in the database yet.
    """
    report = progress or (lambda _stage, _done, _total: None)
    codes = tuple(code for code, _name in CONSORTIA)
    start = today - timedelta(days=days)
    data = synth.generate(participants=participants, days=days, consortia=codes, start=start, seed=seed)
    flawed = synth.generate(
        participants=participants, days=days, consortia=codes[:1], start=start, seed=seed, errors=True
    )
    names = dict(CONSORTIA)
    data.registries["consortium"] = data.registries["consortium"].with_columns(
        pl.col("consortium_id").replace_strict(names).alias("consortium_name")
    )
    for name, frame in flawed.records.items():  # DEMO1 sends the records with planted problems
        data.records[name] = pl.concat([frame, data.records[name].filter(pl.col("consortium_id") != codes[0])])

    def moment(day: date) -> datetime:
        return datetime.combine(day, time(0, 30), tzinfo=JST).astimezone(UTC)

    registries = [Upload(name, content) for name, content in synth.csv_files(data, records=False)]
    ingest(db, SECRETARIAT, registries, channel="web", now=moment(start))
    _accounts(db, codes)

    batches = 1
    weeks = (days + 6) // 7
    for number, code in enumerate(codes, start=1):
        sender = Sender(code, f"user:{operator_login(number)}")
        own = {name: frame.filter(pl.col("consortium_id") == code) for name, frame in data.records.items()}
        if number == 3:  # JSON messages, all at once
            mine = synth.SynthData({}, own, start=start, days=days)
            messages = [Upload(n, b) for n, b in synth.json_messages(mine, datetime.combine(today, time(0, 20)))]
            ingest(db, sender, messages, channel="api", now=moment(today))
            batches += 1
        else:  # weekly CSV batches, each sent the morning after its week
            for week in range(weeks):
                window = [
                    Upload(f"{name}.csv", synth.csv_bytes(part))
                    for name, frame in own.items()
                    if (part := _week(frame, start, week, weeks)).height
                ]
                if window:
                    ingest(
                        db, sender, window, channel="api", now=moment(min(start + timedelta(days=7 * week + 7), today))
                    )
                    batches += 1
        if number == 2:
            ingest(db, sender, [Upload("weight.csv", _correction(own["weight"]))], channel="web", now=moment(today))
            batches += 1
        report("exchange / 交換データ", number, len(codes))
    db.flush()
    return ExchangeDemoSummary(
        consortia=list(codes),
        batches=batches,
        records=sum(frame.height for frame in data.records.values()),
        logins=exchange_demo_logins(),
    )


def _week(frame: pl.DataFrame, start: date, week: int, weeks: int) -> pl.DataFrame:
    """The records of one weekly send: observed in that week (unreadable or out-of-period dates go last)."""
    observed = pl.col("observation_time").str.slice(0, 8).str.strptime(pl.Date, "%Y%m%d", strict=False)
    index = ((observed - pl.lit(start)).dt.total_days() // 7).clip(0, weeks - 1).fill_null(weeks - 1)
    return frame.filter(index == week)


def _correction(weight: pl.DataFrame) -> bytes:
    """The first weighing again, corrected by hand (data_input_code 2) with a newer update_time."""
    first = weight.head(1)
    observed = datetime.strptime(str(first["observation_time"][0]), "%Y%m%d%H%M%S")
    corrected = first.with_columns(
        pl.lit("2").alias("data_input_code"),
        (pl.col("body_weight").cast(pl.Float64) - 1.0).round(1).cast(pl.String).alias("body_weight"),
        pl.lit((observed + timedelta(days=2)).strftime("%Y%m%d%H%M%S") + "000").alias("update_time"),
    )
    return synth.csv_bytes(corrected)


def _accounts(db: Session, codes: tuple[str, ...]) -> None:
    """Operators of each demo consortium and a researcher in the ministry; one shared demo password hash."""
    password_hash = hash_password(DEMO_PASSWORD)
    orgs = dict(
        db.execute(
            select(Organisation.code, Organisation.id).where(
                Organisation.kind == OrgKind.CONSORTIUM.value, Organisation.code.in_(codes)
            )
        ).all()
    )
    ministry = db.scalar(select(Organisation.id).where(Organisation.kind == OrgKind.MINISTRY.value).limit(1))
    if ministry is None:
        ministry = db.execute(
            insert(Organisation).returning(Organisation.id),
            [{"kind": OrgKind.MINISTRY.value, "code": "MHLW", "name": "厚生労働省"}],
        ).scalar_one()
    rows = [
        {
            "login_id": operator_login(number),
            "display_name": f"{name} 担当者",
            "role": Role.CONSORTIUM.value,
            "organisation_id": orgs[code],
            "password_hash": password_hash,
        }
        for number, (code, name) in enumerate(CONSORTIA, start=1)
    ]
    rows.append(
        {
            "login_id": RESEARCHER_LOGIN,
            "display_name": "データヘルス研究班（デモ）",
            "role": Role.RESEARCHER.value,
            "organisation_id": ministry,
            "password_hash": password_hash,
        }
    )
    db.execute(insert(User), rows)
