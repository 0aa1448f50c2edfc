"""The properties fuzzed by the atheris harnesses (fuzz/fuzz_*.py) and the hypothesis tests (tests/security/).

Each ``run_*`` function takes arbitrary bytes (or text), feeds them to one entry point of the platform
and checks the contract for hostile input:

- the exchange readers (CSV, JSON message, FHIR NDJSON) and the checker behind them never raise: every
  problem comes back as an ``Issue`` whose code is in ``errors.CATALOGUE`` and whose message renders;
- the survey expression evaluator raises nothing but ``ExpressionError`` (which the definition loader
  reports as DH-D103), with a position inside the source;
- the survey definition importers (YAML, JSON, XLSForm) return a definition or raise a
  ``DatahealthError`` whose codes are all catalogued.

Anything else (another exception, an uncatalogued code) raises ``AssertionError`` with the cause
chained, which both atheris and hypothesis report as a crash with the input that caused it. Inputs are
bounded by the callers (``MAX_BYTES``); hangs are caught by atheris' ``-timeout`` and by
``time_limit`` in the tests.

The seed corpus comes from the project's own synthetic generator (``exchange.synth``) and the bundled
survey definitions: ``python fuzz/harness.py seeds fuzz/corpus`` writes it.
"""

from __future__ import annotations

import io
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path
from types import FrameType

from datahealth.errors import CATALOGUE, DatahealthError
from datahealth.exchange import spec, synth
from datahealth.exchange.check import check
from datahealth.exchange.fhir_export import line, observation_resources
from datahealth.exchange.fhir_import import read_fhir_ndjson
from datahealth.exchange.pipeline import CheckedBatch, RawBatch
from datahealth.exchange.read_csv import iter_csv_file, read_csv_files
from datahealth.exchange.read_json import read_json_message
from datahealth.exchange.registry import RegistrySnapshot, merge_registry
from datahealth.survey import expressions
from datahealth.survey.io import load_definition_bytes

MAX_BYTES = 64 * 1024
"""Largest input the harnesses feed (atheris: ``-max_len``); the API refuses bodies over its own limit."""
NOW = datetime(2025, 3, 1, 3, tzinfo=UTC)
START = date(2025, 1, 6)
CONSORTIUM = "SYN01"
RECORD_FILES = tuple(record.name for record in spec.RECORDS)
CSV_NAMES = tuple(f"{record.name}.csv" for record in (*spec.REGISTRIES, *spec.RECORDS)) + (
    "unknown.csv",
    "activity.CSV",
)
DEFINITION_NAMES = ("survey.yaml", "survey.json", "survey.xlsx")
ANSWERS: dict[str, expressions.AnswerLike] = {"a": "13", "b": ["x", "y"], "c": None, "d": "１３", "e": "-1.5"}


class ContractBroken(AssertionError):
    """The input made the code under test break the hostile-input contract."""


# --- the synthetic world ---------------------------------------------------------------------------------


@cache
def synthetic() -> synth.SynthData:
    """Two participants over three weeks, with the generator's planted errors (seed corpus and registry)."""
    return synth.generate(participants=2, days=21, consortia=(CONSORTIUM,), start=START, seed=7, errors=True)


@cache
def registry() -> RegistrySnapshot:
    """The registries of ``synthetic()`` as the checker sees them after the secretariat registered them."""
    raw = read_csv_files(synth.csv_files(synthetic(), records=False))
    return merge_registry(RegistrySnapshot.empty(), check(raw, RegistrySnapshot.empty(), sender=None, now=NOW))


# --- the contracts ---------------------------------------------------------------------------------------


def assert_catalogued(raw: RawBatch, checked: CheckedBatch | None = None) -> None:
    for issue in [*raw.issues, *(checked.issues if checked else [])]:
        if issue.code not in CATALOGUE:
            raise ContractBroken(f"uncatalogued issue code {issue.code!r}")
        issue.message("ja")
        issue.message("en")


def _checked(raw: RawBatch, sender: str | None) -> None:
    assert_catalogued(raw, check(raw, registry(), sender=sender, now=NOW))


def run_csv(name: str, data: bytes, *, sender: str | None = CONSORTIUM) -> None:
    """One CSV file read whole and streamed in small chunks, each through the checker."""
    try:
        _checked(read_csv_files([(name, data)]), sender)
        for chunk in iter_csv_file(name, io.BytesIO(data), chunk_rows=3):
            _checked(chunk, sender)
    except ContractBroken:
        raise
    except Exception as exc:
        raise ContractBroken(f"CSV reader/checker raised {type(exc).__name__}: {exc}") from exc


def run_json(data: bytes, *, sender: str | None = CONSORTIUM) -> None:
    try:
        _checked(read_json_message(data, source="message.json"), sender)
    except ContractBroken:
        raise
    except Exception as exc:
        raise ContractBroken(f"JSON reader/checker raised {type(exc).__name__}: {exc}") from exc


def run_ndjson(data: bytes, *, sender: str | None = CONSORTIUM) -> None:
    try:
        _checked(read_fhir_ndjson(data, source="fhir.ndjson"), sender)
    except ContractBroken:
        raise
    except Exception as exc:
        raise ContractBroken(f"FHIR reader/checker raised {type(exc).__name__}: {exc}") from exc


def run_expression(source: str, current: str = "") -> None:
    """Parse, then evaluate against a few answers: only ``ExpressionError`` may escape."""
    try:
        parsed = expressions.parse(source)
    except expressions.ExpressionError as error:
        _check_position(error, source)
        return
    except Exception as exc:
        raise ContractBroken(f"parse raised {type(exc).__name__}: {exc}") from exc
    try:
        value = expressions.evaluate(parsed, ANSWERS, current)
        expressions.to_string(value)
        expressions.evaluate_bool(parsed, {}, None)
    except expressions.ExpressionError as error:
        _check_position(error, source)
    except Exception as exc:
        raise ContractBroken(f"evaluate raised {type(exc).__name__}: {exc}") from exc


def _check_position(error: expressions.ExpressionError, source: str) -> None:
    if not 0 <= error.position <= max(len(source), expressions.MAX_LENGTH):
        raise ContractBroken(f"ExpressionError position {error.position} outside the source")


def run_definition(filename: str, data: bytes) -> None:
    """A survey definition upload: a definition, or a ``DatahealthError`` with catalogued codes only."""
    try:
        load_definition_bytes(data, filename)
    except DatahealthError as error:
        for problem in error.problems:
            if problem.code not in CATALOGUE:
                raise ContractBroken(f"uncatalogued code {problem.code!r}") from error
            problem.message("ja")
            problem.message("en")
    except Exception as exc:
        raise ContractBroken(f"definition import raised {type(exc).__name__}: {exc}") from exc


# --- time limits -------------------------------------------------------------------------------------------


class TookTooLong(AssertionError):
    """An input kept the code busy longer than the limit: a hang or a super-linear blow-up."""


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise ``TookTooLong`` in the main thread after ``seconds`` of wall time (POSIX ``SIGALRM``)."""

    def expired(_signum: int, _frame: FrameType | None) -> None:
        raise TookTooLong(f"took more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# --- seeds --------------------------------------------------------------------------------------------------


def seed_csv() -> list[tuple[str, bytes]]:
    return synth.csv_files(synthetic())


def seed_json() -> list[bytes]:
    return [content for _name, content in synth.json_messages(synthetic(), datetime(2025, 1, 28, 1))][:4]


def seed_ndjson() -> list[bytes]:
    """Observations made by the platform's own FHIR export from the synthetic records, one file per type."""
    raw = read_csv_files(synth.csv_files(synthetic(), registries=False))
    checked = check(raw, registry(), sender=CONSORTIUM, now=NOW)
    files = []
    for name in RECORD_FILES:
        frame = checked.frames.get(name)
        if frame is None:
            continue
        lines = [
            line(resource)
            for row in frame.head(5).iter_rows(named=True)
            for resource in observation_resources(name, row)
        ]
        files.append(("\n".join(lines) + "\n").encode())
    return files


def seed_expressions() -> list[str]:
    """Every relevant/constraint expression of the bundled survey definitions."""
    from datahealth.survey.model import SurveyDefinition

    found: set[str] = set()
    folder = Path(__file__).resolve().parents[1] / "src" / "datahealth" / "survey" / "definitions"
    for path in sorted(folder.glob("cyber_fy*.yaml")):
        if "scoring" in path.name:
            continue
        definition: SurveyDefinition = load_definition_bytes(path.read_bytes(), path.name)
        for section in definition.sections:
            found |= {section.relevant} if section.relevant else set()
            for question in section.questions:
                found |= {text for text in (question.relevant, question.constraint) if text}
    extra = [  # every function and operator of the evaluator at least once
        "if(${a} > 1, 'yes', coalesce(${c}, 'none'))",
        "selected(${b}, 'x') and count-selected(${b}) >= 2 or not(string-length(.) = 0)",
        "round(number(${e}) * 3 div 2, 1) mod 7 != -int(${a})",
        "concat(${a}, '-', substr(., 1, 2)) = '13-ab' or contains(., 'ab') or starts-with(., 'a')",
        ". >= 0 and . <= 100 and regex-free = 1",
    ]
    return sorted(found) + extra


def seed_definitions() -> list[tuple[str, bytes]]:
    from datahealth.survey.io import dump_json
    from datahealth.survey.xlsform import write_xlsform

    folder = Path(__file__).resolve().parents[1] / "src" / "datahealth" / "survey" / "definitions"
    path = folder / "cyber_fy2024.yaml"
    definition = load_definition_bytes(path.read_bytes(), path.name)
    return [
        ("survey.yaml", path.read_bytes()),
        ("survey.json", dump_json(definition).encode()),
        ("survey.xlsx", write_xlsform(definition)),
    ]


def write_seeds(outdir: Path) -> None:
    """The seed corpora, one directory per harness (atheris reads a directory of files)."""
    corpora: dict[str, list[bytes]] = {
        "csv": [bytes([CSV_NAMES.index(name)]) + content for name, content in seed_csv()],
        "json": seed_json(),
        "ndjson": seed_ndjson(),
        "expressions": [text.encode() for text in seed_expressions()],
        "definitions": [bytes([DEFINITION_NAMES.index(name)]) + content for name, content in seed_definitions()],
    }
    for kind, items in corpora.items():
        folder = outdir / kind
        folder.mkdir(parents=True, exist_ok=True)
        for number, content in enumerate(items):
            (folder / f"seed-{number:03d}").write_bytes(content[: MAX_BYTES * (4 if kind == "definitions" else 1)])


def fuzz_main(target: Callable[[bytes], None]) -> None:
    """Run ``target`` under atheris (call from a harness after importing this module instrumented)."""
    import atheris

    atheris.Setup(sys.argv, target)
    atheris.Fuzz()


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "seeds":
        raise SystemExit("usage: python fuzz/harness.py seeds OUTDIR")
    write_seeds(Path(sys.argv[2]))
