"""Every hospital's PDF in one resumable run: manifest with hashes, skip what is up to date."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from report_world import make_report_world
from sqlalchemy import delete
from sqlalchemy.orm import Session

from datahealth.errors import UserError
from datahealth.reports import service
from datahealth.reports.batch import MANIFEST, render_all, sha256
from datahealth.survey.tables import Response, Survey

NOW = datetime(2025, 2, 11, 3, tzinfo=UTC)


def small_context(db: Session) -> tuple[service.PeerContext, str, str]:
    world = make_report_world(db, previous=False)
    # keep three submitted hospitals so that the test renders few PDFs
    db.execute(delete(Response).where(Response.organisation_id.in_(world.hospitals[3:])))
    db.flush()
    survey = db.get(Survey, world.survey_id)
    assert survey is not None
    cache = service.ReportCache()
    context = service.peer_context(db, survey, NOW, cache)
    return context, service.fingerprint(context.data, context.previous), survey.version


def test_render_all_then_resume(db: Session, tmp_path: Path) -> None:
    context, stamp, version = small_context(db)
    seen: list[tuple[int, int]] = []
    first = render_all(
        context, tmp_path, stamp=stamp, version=version, workers=2, progress=lambda d, t: seen.append((d, t))
    )
    assert (first.total, first.rendered, first.skipped) == (3, 3, 0)
    assert seen[-1] == (3, 3)
    manifest = json.loads((tmp_path / MANIFEST).read_text(encoding="utf-8"))
    assert manifest["survey"] == "cyber-fy2024" and len(manifest["files"]) == 3
    for code, entry in manifest["files"].items():
        path = tmp_path / entry["file"]
        assert path.name == f"feedback-{code}.pdf"
        assert sha256(path) == entry["sha256"] and path.read_bytes().startswith(b"%PDF")
    assert not list(tmp_path.glob(".tmp-*"))

    again = render_all(context, tmp_path, stamp=stamp, version=version, workers=2)
    assert (again.rendered, again.skipped) == (0, 3)

    damaged = tmp_path / next(iter(manifest["files"].values()))["file"]
    damaged.write_bytes(b"%PDF-broken")
    (tmp_path / manifest["files"][sorted(manifest["files"])[1]]["file"]).unlink()
    repaired = render_all(context, tmp_path, stamp=stamp, version=version, workers=1)
    assert (repaired.rendered, repaired.skipped) == (2, 1)

    changed = render_all(context, tmp_path, stamp="other-data", version=version, workers=1)
    assert changed.rendered == 3  # the data changed: every report compares against new figures
    forced = render_all(context, tmp_path, stamp="other-data", version=version, workers=1, force=True)
    assert forced.rendered == 3


def test_directory_of_another_survey_is_refused(db: Session, tmp_path: Path) -> None:
    context, stamp, version = small_context(db)
    (tmp_path / MANIFEST).write_text(json.dumps({"survey": "cyber-fy2023", "version": "2023.1", "files": {}}))
    with pytest.raises(UserError) as caught:
        render_all(context, tmp_path, stamp=stamp, version=version, workers=1)
    assert caught.value.code == "DH-R302"
