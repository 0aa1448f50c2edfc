"""Every hospital's feedback PDF in one run: parallel, resumable, verifiable.

The survey-wide work (scores, suppressed peer tables, statistics) is done once in the parent; worker
processes (forked, so they share it without copying) render one hospital each and write
``feedback-<institution code>.pdf`` atomically (temporary file, then rename). ``manifest.json`` records
for each file its SHA-256 and the *input key* it was made from (the data fingerprint of the whole
survey and the hospital's response revision). A run that is interrupted — or run again later — skips
every hospital whose file exists with the recorded hash and an unchanged input key, and renders the
rest. No database table is involved: the output directory is the state.
"""

from __future__ import annotations

import gc
import hashlib
import json
import multiprocessing
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from datahealth.analytics.feedback import PeerContext, feedback_report
from datahealth.errors import Problem, UserError
from datahealth.reports.fonts import SubsetFont, batch_characters, default_cache, subset_font
from datahealth.reports.html import renderer
from datahealth.reports.pdf import html_to_pdf, require_japanese_font

MANIFEST = "manifest.json"
FORMAT = "datahealth-feedback-batch/1"
_SAVE_EVERY = 50

_WORKER_CONTEXT: PeerContext | None = None
_WORKER_LANG = "ja"
_WORKER_FONT: SubsetFont | None = None


@dataclass(frozen=True)
class BatchResult:
    total: int
    rendered: int
    skipped: int
    seconds: float
    directory: Path


def file_name(code: str) -> str:
    return f"feedback-{code}.pdf"


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_atomic(path: Path, content: bytes) -> None:
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _load_manifest(directory: Path, survey_key: str, version: str) -> dict[str, Any]:
    path = directory / MANIFEST
    if not path.exists():
        return {"format": FORMAT, "survey": survey_key, "version": version, "files": {}}
    manifest: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    if manifest.get("survey") != survey_key or manifest.get("version") != version:
        detail = f"{manifest.get('survey')} {manifest.get('version')}"
        raise UserError(Problem("DH-R302", {"path": str(directory), "detail": detail}))
    return manifest


def _save_manifest(directory: Path, manifest: dict[str, Any]) -> None:
    text = json.dumps(manifest, ensure_ascii=False, indent=1, sort_keys=True)
    write_atomic(directory / MANIFEST, text.encode("utf-8"))


_GC_THRESHOLDS = (50_000, 20, 100)
"""WeasyPrint makes ~10^5 short-lived objects per PDF: collecting them in large generations saves ~10 % CPU."""


def _worker_start() -> None:
    """In a fresh worker: leave the inherited survey data out of garbage collection, collect less often."""
    gc.freeze()
    gc.set_threshold(*_GC_THRESHOLDS)


def _render_one(job: tuple[int, str, str]) -> tuple[str, str, int, str]:
    """In a worker: render one hospital's PDF into the directory; returns (code, sha256, bytes, input key)."""
    organisation_id, directory, key = job
    assert _WORKER_CONTEXT is not None  # noqa: S101 - set before the pool forks  # nosec B101
    report = feedback_report(_WORKER_CONTEXT, organisation_id)
    assert report is not None  # noqa: S101 - only submitted hospitals are queued  # nosec B101
    pages = renderer(_WORKER_LANG)
    content = html_to_pdf(pages.feedback(report), appendix=pages.feedback_appendix(report), font=_WORKER_FONT)
    path = Path(directory) / file_name(report.hospital.code)
    write_atomic(path, content)
    return report.hospital.code, hashlib.sha256(content).hexdigest(), len(content), key


def render_all(
    context: PeerContext,
    directory: Path,
    *,
    stamp: str,
    version: str,
    workers: int = 2,
    force: bool = False,
    lang: str = "ja",
    progress: Callable[[int, int], None] | None = None,
    font_cache: Path | None = None,
) -> BatchResult:
    """Render the PDF of every submitted hospital of ``context`` into ``directory`` (see module doc)."""
    global _WORKER_CONTEXT, _WORKER_LANG, _WORKER_FONT  # handed to the forked workers, see the module docstring
    require_japanese_font()
    started = time.perf_counter()
    directory.mkdir(parents=True, exist_ok=True)
    manifest = _load_manifest(directory, context.data.survey_key, version)
    files: dict[str, Any] = manifest["files"]
    report = progress or (lambda _done, _total: None)
    jobs: list[tuple[int, str, str]] = []
    submitted = context.data.submitted()
    for record in submitted:
        key = f"{stamp}:{record.response_id}:{record.revision}:{lang}"
        entry = files.get(record.code)
        path = directory / file_name(record.code)
        if not force and entry and entry.get("input") == key and path.exists() and sha256(path) == entry.get("sha256"):
            continue
        jobs.append((record.organisation_id, str(directory), key))
    total, skipped = len(submitted), len(submitted) - len(jobs)
    report(skipped, total)
    _WORKER_CONTEXT, _WORKER_LANG = context, lang
    if jobs:  # built (or found in the cache) once, before the workers fork
        characters = batch_characters(context.data, context.previous)
        _WORKER_FONT = subset_font(characters, font_cache or default_cache())
    done = 0
    thresholds = gc.get_threshold()
    try:
        if workers <= 1 or len(jobs) < 2:
            gc.set_threshold(*_GC_THRESHOLDS)
            results = map(_render_one, jobs)
            for code, digest, size, key in results:
                done += 1
                files[code] = {"file": file_name(code), "sha256": digest, "bytes": size, "input": key}
                _checkpoint(directory, manifest, done, skipped, total, report)
        else:
            pool_context = multiprocessing.get_context("fork")
            with pool_context.Pool(processes=workers, initializer=_worker_start) as pool:
                for code, digest, size, key in pool.imap_unordered(_render_one, jobs, chunksize=4):
                    done += 1
                    files[code] = {"file": file_name(code), "sha256": digest, "bytes": size, "input": key}
                    _checkpoint(directory, manifest, done, skipped, total, report)
    finally:
        gc.set_threshold(*thresholds)
        _WORKER_CONTEXT, _WORKER_FONT = None, None
        manifest["stamp"] = stamp
        _save_manifest(directory, manifest)
    return BatchResult(total, done, skipped, time.perf_counter() - started, directory)


def _checkpoint(
    directory: Path, manifest: dict[str, Any], done: int, skipped: int, total: int, report: Callable[[int, int], None]
) -> None:
    report(skipped + done, total)
    if done % _SAVE_EVERY == 0:
        _save_manifest(directory, manifest)
