"""PDFs: Japanese font embedded, pages that are not blank and not tofu (checked as PNG images)."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from PIL import Image
from report_world import make_report_world
from sqlalchemy.orm import Session

from datahealth.analytics.dataset import load_survey_data
from datahealth.analytics.feedback import PeerContext, feedback_report
from datahealth.analytics.history import load_previous
from datahealth.analytics.national import national_report
from datahealth.reports.pdf import html_to_pdf
from datahealth.reports.service import feedback_pdf, national_pdf
from datahealth.survey.tables import Survey

NOW = datetime(2025, 2, 11, 3, tzinfo=UTC)
pytestmark = pytest.mark.skipif(
    shutil.which("pdftoppm") is None, reason="needs poppler-utils (scripts/test.sh installs it)"
)


def pages(pdf: bytes, tmp_path: Path, dpi: int = 50) -> list[Image.Image]:
    source = tmp_path / "report.pdf"
    source.write_bytes(pdf)
    subprocess.run(["pdftoppm", "-r", str(dpi), "-gray", "-png", str(source), str(tmp_path / "page")], check=True)  # noqa: S603, S607 - fixed arguments
    return [Image.open(path).convert("L") for path in sorted(tmp_path.glob("page-*.png"))]


def ink(image: Image.Image) -> float:
    """Share of pixels darker than mid-grey."""
    histogram = image.histogram()
    return sum(histogram[:128]) / (image.width * image.height)


def fonts(pdf: bytes, tmp_path: Path) -> str:
    source = tmp_path / "fonts.pdf"
    source.write_bytes(pdf)
    return subprocess.run(["pdffonts", str(source)], capture_output=True, text=True, check=True).stdout  # noqa: S603, S607


def text_of(pdf: bytes, tmp_path: Path) -> str:
    source = tmp_path / "text.pdf"
    source.write_bytes(pdf)
    return subprocess.run(["pdftotext", str(source), "-"], capture_output=True, text=True, check=True).stdout  # noqa: S603, S607


def glyph_image(text: str, tmp_path: Path) -> Image.Image:
    pdf = html_to_pdf(f'<html lang="ja"><body><p style="font-size: 40pt">{text}</p></body></html>')
    directory = tmp_path / f"probe-{abs(hash(text))}"
    directory.mkdir()
    page = pages(pdf, directory, dpi=150)[0]
    image = page.crop((0, 0, page.width, page.height // 4))  # the text, not the page number at the foot
    box = image.point(lambda v: 255 if v < 128 else 0).getbbox()
    assert box is not None, f"nothing drawn for {text!r}"
    return image.crop(box)


def test_japanese_glyphs_are_real_not_tofu(tmp_path: Path) -> None:
    # Tofu draws every missing character as the same box: two different words would look alike, and
    # like a string of characters no font has. Real glyphs differ from each other and from the boxes.
    hospital, report, missing = (glyph_image(t, tmp_path) for t in ("病院報告", "情報安全", "\U000f0001" * 4))
    assert abs(ink(hospital) - ink(report)) > 0.005 or hospital.size != report.size
    assert abs(ink(hospital) - ink(missing)) > 0.02
    assert abs(ink(report) - ink(missing)) > 0.02


def test_feedback_pdf(db: Session, tmp_path: Path) -> None:
    world = make_report_world(db)
    survey = db.get(Survey, world.survey_id)
    assert survey is not None
    data = load_survey_data(db, survey)
    report = feedback_report(PeerContext(data, load_previous(db, survey, data.scoring), NOW), world.hospitals[0])
    assert report is not None
    pdf = feedback_pdf(report)
    assert pdf.startswith(b"%PDF")
    listing = fonts(pdf, tmp_path)
    assert "Noto-Sans-CJK-JP" in listing
    for line in listing.splitlines()[2:]:
        assert " yes " in line, f"font not embedded: {line}"  # emb column
    text = text_of(pdf, tmp_path)
    assert "サイバーセキュリティ対策 フィードバック" in text and report.hospital.name in text
    assert "優先して取り組むこと" in text and "経営管理編 3.4.1" in text
    images = pages(pdf, tmp_path)
    assert len(images) >= 2
    assert ink(images[0]) > 0.01
    for image in images:
        assert ink(image) > 0.002, "blank page"  # a page with only its page number has far less


def test_national_pdf(db: Session, tmp_path: Path) -> None:
    world = make_report_world(db)
    survey = db.get(Survey, world.survey_id)
    assert survey is not None
    data = load_survey_data(db, survey)
    pdf = national_pdf(national_report(data, "public", NOW, load_previous(db, survey, data.scoring)))
    text = text_of(pdf, tmp_path)
    assert "全国集計（公表用（小さな数を秘匿））" in text
    assert "テスト病院" not in text  # no hospital is named in the public report
    for image in pages(pdf, tmp_path):
        assert ink(image) > 0.002, "blank page"
