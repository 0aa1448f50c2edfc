"""The feedback batch's subset font: it covers what the batch prints, and whatever it lacks falls back to Noto."""

from __future__ import annotations

import itertools
import os
import shutil
from pathlib import Path

import pytest
from fontTools.ttLib import TTFont
from PIL import Image
from report_world import make_report_world
from sqlalchemy.orm import Session
from test_report_pdf import NOW, fonts, ink, pages, text_of

from datahealth.analytics.dataset import load_survey_data
from datahealth.analytics.feedback import PeerContext
from datahealth.analytics.history import load_previous
from datahealth.auth.tables import Organisation
from datahealth.reports import fonts as fonts_module
from datahealth.reports.batch import file_name, render_all
from datahealth.reports.fonts import SubsetFont, batch_characters, subset_font
from datahealth.reports.pdf import html_to_pdf
from datahealth.survey.tables import Survey

pytestmark = pytest.mark.skipif(
    shutil.which("pdftoppm") is None, reason="needs poppler-utils (scripts/test.sh installs it)"
)
RARE_NAME = "医療法人髙﨑会𠮷田記念病院"  # 髙 U+9AD9, 﨑 U+FA11 (compatibility ideograph), 𠮷 U+20BB7 (outside the BMP)
RARE = "髙﨑𠮷"


@pytest.fixture(scope="module")
def font_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fonts")


def glyphs(text: str, font: SubsetFont | None, tmp_path: Path) -> Image.Image:
    """The drawn text, cropped to its ink (40 pt, rendered at 150 dpi)."""
    pdf = html_to_pdf(f'<html lang="ja"><body><p style="font-size: 40pt">{text}</p></body></html>', font=font)
    directory = tmp_path / f"glyphs-{len(list(tmp_path.iterdir()))}"
    directory.mkdir()
    page = pages(pdf, directory, dpi=150)[0]
    image = page.crop((0, 0, page.width, page.height // 4))
    box = image.point(lambda v: 255 if v < 128 else 0).getbbox()
    assert box is not None, f"nothing drawn for {text!r}"
    return image.crop(box)


def test_subset_covers_a_hospital_name_with_rare_kanji(db: Session, tmp_path: Path, font_cache: Path) -> None:
    world = make_report_world(db)
    organisation = db.get(Organisation, world.hospitals[0])
    assert organisation is not None
    organisation.name = RARE_NAME
    db.flush()
    survey = db.get(Survey, world.survey_id)
    assert survey is not None
    data = load_survey_data(db, survey)
    previous = load_previous(db, survey, data.scoring)
    characters = batch_characters(data, previous)
    assert set(RARE) <= set(characters)
    font = subset_font(characters, font_cache)
    for path in (font.regular, font.bold):
        cmap = TTFont(path).getBestCmap()
        missing = [c for c in RARE_NAME if ord(c) not in cmap]
        assert not missing, f"{path.name} lacks {missing}"
    assert subset_font(characters, font_cache) == font  # the second batch finds the faces on disk

    # The batch's PDF of that hospital prints the name from the subset alone: no fallback was needed.
    out = tmp_path / "batch"
    render_all(PeerContext(data, previous, NOW), out, stamp="s", version="v", workers=1, font_cache=font_cache)
    pdf = (out / file_name(world.codes[0])).read_bytes()
    assert RARE_NAME in text_of(pdf, tmp_path)
    listing = fonts(pdf, tmp_path)
    assert "DH-Report-Sans" in listing
    assert "Noto-Sans-CJK-JP" not in listing
    for image in pages(pdf, tmp_path):
        assert ink(image) > 0.002, "blank page"


def test_characters_missing_from_the_subset_fall_back_to_noto(tmp_path: Path, font_cache: Path) -> None:
    font = subset_font("病院報告", font_cache)  # a deliberately tiny subset: the rare kanji are not in it
    assert not {ord(c) for c in RARE} & set(TTFont(font.regular).getBestCmap())
    pdf = html_to_pdf(f'<html lang="ja"><body><p>病院 {RARE}</p></body></html>', font=font)
    listing = fonts(pdf, tmp_path)
    assert "DH-Report-Sans" in listing and "Noto-Sans-CJK-JP" in listing  # subset first, Noto for the rest
    assert RARE in text_of(pdf, tmp_path)
    # Drawn as real, different glyphs, not as tofu boxes (which all look alike).
    rare, other, tofu = (glyphs(t, font, tmp_path) for t in (RARE, "情報安全", "\U000f0001" * 3))
    assert abs(ink(rare) - ink(tofu)) > 0.02
    assert abs(ink(rare) - ink(other)) > 0.005 or rare.size != other.size
    assert glyphs(RARE, None, tmp_path).size == rare.size  # same shapes as with the full font alone


def test_cache_keeps_only_recent_faces(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def fake_build(source: Path, index: int, characters: str, target: Path) -> None:
        target.write_text(characters)  # the pruning is under test, not fontTools
        os.utime(target, ns=(next(clock), next(clock)))

    clock = itertools.count(10**18, 10**9)
    monkeypatch.setattr(fonts_module, "_build", fake_build)
    made = [subset_font(f"病院{c}", tmp_path) for c in "一二三四五"]
    assert len({face.regular for face in made}) == 5  # different characters, different faces
    left = sorted(p.name for p in tmp_path.glob("*.otf"))
    assert len(left) == 8  # the four newest pairs
    assert made[-1].regular.name in left and made[-1].bold.name in left
    assert made[0].regular.name not in left
