"""Where the Ibis expressions run: DuckDB (embedded, the default) or Apache Spark (PySpark local mode).

The analyses build one Ibis expression each over the tables of ``linked/``; ``open_tables`` binds them
to a backend. Results come back as pandas DataFrames sorted by their keys, so the two engines can be
compared cell by cell.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import ibis
from ibis.expr.types import Table

from datahealth.errors import Problem, UserError

Engine = Literal["duckdb", "spark"]
TABLES = ("persons", "checkups", "medical", "care")


@dataclass
class LinkedTables:
    engine: Engine
    backend: Any
    tables: dict[str, Table]

    def materialise(self, expr: Table) -> Table:
        """Compute ``expr`` once and reuse it (a small intermediate such as a cohort).

        DuckDB: a uniquely named temporary table that lives as long as the connection (Ibis's ``cache()``
        cannot drop its tables on DuckDB 2.0). Spark: ``cache()`` (a persisted DataFrame).
        """
        if self.engine == "spark":
            return expr.cache()
        return self.backend.create_table(f"tmp_{uuid.uuid4().hex[:16]}", expr, temp=True)

    def __getitem__(self, name: str) -> Table:
        if name not in self.tables:
            raise UserError(Problem("DH-L104", {"field": name}))
        return self.tables[name]


@lru_cache(maxsize=1)
def spark_session(cores: int = 2, memory: str = "2g", partitions: int = 0) -> Any:
    """One local-mode SparkSession per process: loopback only, no UI, few shuffle partitions."""
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:  # pragma: no cover - pyspark is a dependency
        raise UserError(Problem("DH-L105", {"value": "spark", "detail": "pyspark is not installed"})) from exc
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYSPARK_PYTHON", "python3")
    try:
        session = (
            SparkSession.builder.master(f"local[{cores}]")
            .appName("datahealth-linked")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.driver.host", "127.0.0.1")
            .config("spark.driver.bindAddress", "127.0.0.1")
            .config("spark.sql.shuffle.partitions", str(partitions or 2 * cores))
            .config("spark.default.parallelism", str(2 * cores))
            .config("spark.driver.memory", memory)
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.sql.ansi.enabled", "false")
            .getOrCreate()
        )
    except Exception as exc:  # Java missing or unusable
        raise UserError(Problem("DH-L105", {"value": "spark", "detail": str(exc).splitlines()[0][:200]})) from exc
    session.sparkContext.setLogLevel("ERROR")
    return session


def open_tables(linked_dir: Path, engine: Engine = "duckdb", *, threads: int | None = None) -> LinkedTables:
    """The analysis tables of ``linked_dir`` on the chosen engine (missing files raise DH-L104 when used)."""
    if engine == "duckdb":
        config = {"threads": threads} if threads else {}
        backend = ibis.duckdb.connect(**config)
    elif engine == "spark":
        backend = ibis.pyspark.connect(spark_session())
    else:
        raise UserError(Problem("DH-L105", {"value": engine, "detail": "use duckdb or spark"}))
    tables: dict[str, Table] = {}
    suffix = hashlib.sha256(str(linked_dir.resolve()).encode()).hexdigest()[:10]
    for name in TABLES:
        path = linked_dir / f"{name}.parquet"
        if path.exists():
            tables[name] = backend.read_parquet(str(path), table_name=f"linked_{name}_{suffix}")
    return LinkedTables(engine, backend, tables)
