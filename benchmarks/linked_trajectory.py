"""Trajectory analysis (stroke cohort, 15 services, months −6…+6) on linked synthetic data: Ibis on DuckDB
beside one hand-written DuckDB SQL query (the ceiling), pandas (the peer) and Ibis on Spark (reference).

    PYTHONPATH=src python benchmarks/linked_trajectory.py --data /tmp/linked-bench/p1m --persons 1000000 \\
        --replicate 10 --methods sql,ibis,spark
    PYTHONPATH=src python benchmarks/linked_trajectory.py --data /tmp/linked-bench/p1m --persons 1000000 \\
        --methods ibis,sql,pandas,spark

Data are generated (``synth claims``) and linked (``analyze link``) first when ``DATA`` has none. Each
method runs in its own process; wall time, CPU time (user + system of that process) and peak resident
memory (``ru_maxrss`` from ``wait4``) are measured per process, and every method's table is checked
against the hand-written SQL's. The load average is printed with each figure (the machine is shared).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HAND_WRITTEN_SQL = """
WITH idx AS (
    SELECT pid, min(month) AS index_month FROM medical
    WHERE setting = 'inpatient' AND ward = 'general' AND icd10 LIKE 'I63%'
    GROUP BY pid
), cohort AS (
    SELECT i.pid, i.index_month FROM idx i JOIN persons p USING (pid)
    WHERE p.enrol_start <= i.index_month - 12 AND p.enrol_end >= i.index_month + 6
), med AS (
    SELECT m.pid, m.month - c.index_month AS rel_month,
        max((setting = 'inpatient' AND ward = 'general')::INT) AS general_ward,
        max((setting = 'inpatient' AND ward = 'rehab')::INT) AS rehab_ward,
        max((setting = 'inpatient' AND ward = 'longterm')::INT) AS longterm_ward,
        max((setting = 'home_visit')::INT) AS home_visit,
        max((setting = 'home_nursing')::INT) AS home_nursing_medical,
        max((icd10 SIMILAR TO 'J1[2-8].*')::INT) AS pneumonia,
        max((icd10 SIMILAR TO '(F0[0-3]|G30).*')::INT) AS dementia,
        max((procedure = 'liaison')::INT) AS liaison,
        max((procedure = 'stroke_pathway')::INT) AS stroke_pathway
    FROM medical m JOIN cohort c USING (pid)
    WHERE m.month BETWEEN c.index_month - 6 AND c.index_month + 6
      AND (setting IN ('inpatient', 'home_visit', 'home_nursing') OR procedure IS NOT NULL
           OR icd10 SIMILAR TO '(J1[2-8]|F0[0-3]|G30).*')
    GROUP BY ALL
), care AS (
    SELECT k.pid, k.month - c.index_month AS rel_month,
        1 AS care_insurance,
        max((service = 'home_care')::INT) AS home_care,
        max((service = 'home_nursing')::INT) AS home_nursing_care,
        max((service = 'day_care')::INT) AS day_care,
        max((service = 'tokuyo')::INT) AS tokuyo,
        max((service = 'roken')::INT) AS roken
    FROM care k JOIN cohort c USING (pid)
    WHERE k.month BETWEEN c.index_month - 6 AND c.index_month + 6
    GROUP BY ALL
), m AS (
    SELECT rel_month, sum(general_ward) AS general_ward, sum(rehab_ward) AS rehab_ward,
        sum(longterm_ward) AS longterm_ward, sum(home_visit) AS home_visit,
        sum(home_nursing_medical) AS home_nursing_medical, sum(pneumonia) AS pneumonia,
        sum(dementia) AS dementia, sum(liaison) AS liaison, sum(stroke_pathway) AS stroke_pathway
    FROM med GROUP BY rel_month
), k AS (
    SELECT rel_month, sum(care_insurance) AS care_insurance, sum(home_care) AS home_care,
        sum(home_nursing_care) AS home_nursing_care, sum(day_care) AS day_care, sum(tokuyo) AS tokuyo,
        sum(roken) AS roken
    FROM care GROUP BY rel_month
)
SELECT (SELECT count(*) FROM cohort) AS cohort_size, * FROM m FULL JOIN k USING (rel_month) ORDER BY rel_month
"""

SERVICES = (
    "general_ward", "rehab_ward", "longterm_ward", "home_visit", "home_nursing_medical", "pneumonia", "dementia",
    "care_insurance", "home_care", "home_nursing_care", "day_care", "tokuyo", "roken", "liaison", "stroke_pathway",
)  # fmt: skip


def _counts_from_frame(frame: Any) -> tuple[int, dict[str, dict[int, int]]]:
    size = int(frame["cohort_size"].iloc[0]) if len(frame) else 0
    counts = {key: dict.fromkeys(range(-6, 7), 0) for key in SERVICES}
    for row in frame.to_dict("records"):
        for key in SERVICES:
            value = row.get(key)
            if value is not None and value == value:  # not NaN
                counts[key][int(row["rel_month"])] = int(value)
    return size, counts


def measure_sql(linked: Path) -> tuple[int, dict[str, dict[int, int]]]:
    import duckdb

    con = duckdb.connect()
    for name in ("persons", "medical", "care"):
        con.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet('{linked / (name + '.parquet')}')")  # noqa: S608
    return _counts_from_frame(con.execute(HAND_WRITTEN_SQL).df())


def measure_ibis(linked: Path, engine: str) -> tuple[int, dict[str, dict[int, int]]]:
    from datahealth.analytics.linked import engines, trajectory
    from datahealth.analytics.linked.cohort import load_cohort

    if engine == "spark":
        engines.spark_session(cores=2, memory="12g")
    result = trajectory.run_trajectory(engines.open_tables(linked, engine), load_cohort("stroke"))  # type: ignore[arg-type]
    return result.size, result.counts


def measure_pandas(linked: Path) -> tuple[int, dict[str, dict[int, int]]]:
    """The same table, written the way a pandas user would (categoricals to keep strings small)."""
    import pandas as pd
    import pyarrow.parquet as pq

    def read(name: str, columns: list[str], categorical: list[str]) -> pd.DataFrame:
        table = pq.read_table(linked / f"{name}.parquet", columns=columns, read_dictionary=categorical)
        return table.to_pandas()

    persons = read("persons", ["pid", "enrol_start", "enrol_end"], [])
    medical = read(
        "medical", ["pid", "month", "setting", "ward", "icd10", "procedure"], ["setting", "ward", "icd10", "procedure"]
    )
    care = read("care", ["pid", "month", "service"], ["service"])
    stroke = medical[
        (medical.setting == "inpatient") & (medical.ward == "general") & medical.icd10.astype(str).str.startswith("I63")
    ]
    idx = stroke.groupby("pid", as_index=False)["month"].min().rename(columns={"month": "index_month"})
    cohort = idx.merge(persons, on="pid")
    cohort = cohort[(cohort.enrol_start <= cohort.index_month - 12) & (cohort.enrol_end >= cohort.index_month + 6)]
    cohort = cohort[["pid", "index_month"]]
    icd = medical.icd10.astype(str)
    flags = pd.DataFrame(
        {
            "pid": medical.pid,
            "month": medical.month,
            "general_ward": (medical.setting == "inpatient") & (medical.ward == "general"),
            "rehab_ward": (medical.setting == "inpatient") & (medical.ward == "rehab"),
            "longterm_ward": (medical.setting == "inpatient") & (medical.ward == "longterm"),
            "home_visit": medical.setting == "home_visit",
            "home_nursing_medical": medical.setting == "home_nursing",
            "pneumonia": icd.str.match(r"J1[2-8]"),
            "dementia": icd.str.match(r"F0[0-3]|G30"),
            "liaison": medical.procedure == "liaison",
            "stroke_pathway": medical.procedure == "stroke_pathway",
        }
    )
    care_flags = pd.DataFrame(
        {
            "pid": care.pid,
            "month": care.month,
            "care_insurance": True,
            **{
                key: care.service == value
                for key, value in (
                    ("home_care", "home_care"),
                    ("home_nursing_care", "home_nursing"),
                    ("day_care", "day_care"),
                    ("tokuyo", "tokuyo"),
                    ("roken", "roken"),
                )
            },
        }
    )
    out: dict[str, dict[int, int]] = {}
    for frame in (flags, care_flags):
        near = frame.merge(cohort, on="pid")
        near["offset"] = near.month - near.index_month
        near = near[(near.offset >= -6) & (near.offset <= 6)]
        keys = [c for c in frame.columns if c not in ("pid", "month")]
        per_person = near.groupby(["pid", "offset"])[keys].max()
        summed = per_person.groupby(level="offset").sum()
        for key in keys:
            out[key] = {o: int(summed[key].get(o, 0)) for o in range(-6, 7)}
    return len(cohort), out


def _child(method: str, linked: Path) -> None:
    start = time.perf_counter()
    if method == "sql":
        size, counts = measure_sql(linked)
    elif method == "pandas":
        size, counts = measure_pandas(linked)
    else:
        size, counts = measure_ibis(linked, "spark" if method == "spark" else "duckdb")
    wall = time.perf_counter() - start
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "size": size, "counts": counts}))


def run(method: str, linked: Path) -> dict[str, Any]:
    load = os.getloadavg()
    process = subprocess.Popen(  # noqa: S603 - this script, fixed arguments
        [sys.executable, __file__, "--measure", method, "--linked", str(linked)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert process.stdout is not None  # noqa: S101
    output = process.stdout.read()
    _pid, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"{method} failed ({process.returncode})")
    result = json.loads(output.decode().strip().splitlines()[-1])
    result["peak_mb"] = usage.ru_maxrss / 1024
    result["child_cpu"] = usage.ru_utime + usage.ru_stime
    result["load"] = load
    return result


def prepare(data: Path, persons: int) -> None:
    env = {**os.environ, "DATAHEALTH_LINKAGE_KEY": os.environ.get("DATAHEALTH_LINKAGE_KEY", "benchmark-key")}
    cli = [sys.executable, "-c", "from datahealth.cli import app; app()"]
    if not (data / "raw").exists():
        subprocess.run([*cli, "synth", "claims", "--persons", str(persons), "--out", str(data)], check=True, env=env)  # noqa: S603
    if not (data / "linked" / "medical.parquet").exists():
        subprocess.run([*cli, "analyze", "link", "--data", str(data)], check=True, env=env)  # noqa: S603


def replicate(linked: Path, copies: int, target: Path) -> Path:
    """``copies`` copies of the linked tables with disjoint person numbers (a cheap way to 10× the rows).

    Synthesis and linkage of 10 million persons take longer than the trajectory itself on this shared
    machine; the trajectory only sees rows, so copies of a linked 1-million-person set are a fair load.
    """
    import duckdb

    target.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.execute("SET preserve_insertion_order=false")
    span = con.execute(f"SELECT max(pid) + 1 FROM '{linked}/persons.parquet'").fetchall()[0][0]  # noqa: S608
    for name in ("persons", "medical", "care"):
        out = target / f"{name}.parquet"
        if out.exists():
            continue
        copies_sql = " UNION ALL ".join(
            f"SELECT * REPLACE (pid + {k * span} AS pid) FROM '{linked}/{name}.parquet'" for k in range(copies)  # noqa: S608 - our paths
        )
        con.execute(f"COPY ({copies_sql}) TO '{out}' (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 1000000)")
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path)
    parser.add_argument("--persons", type=int, default=1_000_000)
    parser.add_argument("--methods", default="sql,ibis")
    parser.add_argument("--measure")
    parser.add_argument("--linked", type=Path)
    parser.add_argument("--replicate", type=int, default=1, help="analyse this many copies of the linked data")
    args = parser.parse_args()
    if args.measure:
        _child(args.measure, args.linked)
        return
    prepare(args.data, args.persons)
    linked = args.data / "linked"
    if args.replicate > 1:
        linked = replicate(linked, args.replicate, args.data / f"linked_x{args.replicate}")
    import duckdb

    rows = duckdb.sql(f"SELECT count(*) FROM '{linked}/medical.parquet'").fetchall()[0][0]  # noqa: S608
    care_rows = duckdb.sql(f"SELECT count(*) FROM '{linked}/care.parquet'").fetchall()[0][0]  # noqa: S608
    persons = duckdb.sql(f"SELECT count(*) FROM '{linked}/persons.parquet'").fetchall()[0][0]  # noqa: S608
    print(f"data: {linked}: {persons:,} persons, {rows:,} medical + {care_rows:,} care claim rows")
    results = {}
    for method in args.methods.split(","):
        results[method] = run(method, linked)
        r = results[method]
        print(
            f"{method}: wall {r['wall']:.1f} s, cpu {r['child_cpu']:.1f} s, peak {r['peak_mb']:.0f} MB, "
            f"cohort {r['size']:,}, load {r['load'][0]:.1f}/{r['load'][1]:.1f}/{r['load'][2]:.1f}",
            flush=True,
        )
    reference = next(iter(results.values()))
    for method, r in results.items():
        same = r["size"] == reference["size"] and r["counts"] == reference["counts"]
        print(f"{method}: same table as {next(iter(results))}: {same}")
    if "sql" in results and "ibis" in results:
        print(f"ibis / hand-written SQL wall: {results['ibis']['wall'] / results['sql']['wall']:.2f}×")
    if "pandas" in results and "ibis" in results:
        print(f"pandas / ibis wall: {results['pandas']['wall'] / results['ibis']['wall']:.1f}×")


if __name__ == "__main__":
    main()
