"""A small Japanese font for a batch of PDFs: Noto Sans CJK JP cut down to the characters the batch uses.

Noto Sans CJK JP is a 20 MB collection of 65,535 glyphs. WeasyPrint subsets the font it embeds in every
PDF, and with a face that large the subsetting (twice per face per PDF, glyph ids kept) costs a fifth of
a feedback PDF's time and makes every file ~300 kB heavier. A batch therefore builds once, with
fontTools, a subset face (regular and bold) holding every character that can appear in its PDFs: the
report templates and stylesheets, every UI string in both languages, the survey definitions and scoring
maps (this year's and the previous year's), every hospital's name, code and free-text answers, the
prefecture, band and founder labels, ASCII, kana, CJK and full-width punctuation. The faces are kept on
disk (``default_cache()``) under a name derived from a SHA-256 of their inputs (characters, source font
files, fontTools version), so a resumed or repeated batch reuses them.

Nothing can turn into tofu: the face is registered with ``@font-face`` as ``DH Report Sans`` and every
font list names the full Noto Sans CJK JP right after it (``FALLBACK``), so a character missing from
the subset — one the collection above did not foresee — is drawn from the full font (Pango's font
fallback works per character). Glyph shapes and metrics are Noto's own: the subset keeps the outlines,
metrics and layout features of the characters it holds.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess  # fc-match with an argument list, never a shell  # nosec B404
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from datahealth.analytics.dataset import SurveyData
from datahealth.errors import Problem, UserError
from datahealth.institutions import BED_BANDS, FOUNDER_TYPES, PREFECTURES

FAMILY = "DH Report Sans"
SOURCE_FAMILY = "Noto Sans CJK JP"
FALLBACK = f'"{FAMILY}", "{SOURCE_FAMILY}", sans-serif'
"""The PDF font list: the batch subset first, then the full font, then whatever fontconfig offers."""
_FORMAT = "datahealth-font-subset/2"
_KEEP = 8
"""Faces kept in the cache (four batches' regular and bold)."""

# Kept whatever the data says: ASCII, Latin-1 punctuation, general punctuation, CJK symbols and
# punctuation, hiragana, katakana, full-width and half-width forms, and a few arrows, operators and shapes.
_BLOCKS = (
    (0x20, 0x7E),
    (0xA0, 0xFF),
    (0x2010, 0x205E),
    (0x2190, 0x2193),
    (0x3000, 0x30FF),
    (0xFF01, 0xFF9F),
)
_SYMBOLS = "≒≠≦≧≤≥∞∴∵√∑±×÷■□▲△▼▽◆◇○◎●★☆※〒"


def default_cache() -> Path:
    """``$XDG_CACHE_HOME/datahealth/fonts`` (``~/.cache/...``), shared by batches and keyed by content;
    the system's temporary directory when that cannot be created (a service account without a home)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    path = Path(base) / "datahealth" / "fonts"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        path = Path(tempfile.gettempdir()) / f"datahealth-fonts-{os.getuid()}"
    return path


@dataclass(frozen=True)
class SubsetFont:
    """The two faces of a batch's subset font, as files."""

    regular: Path
    bold: Path
    characters: int

    def css(self) -> str:
        """``@font-face`` rules for the faces and the font list that puts them first."""
        return (
            f'@font-face {{ font-family: "{FAMILY}"; src: url("{self.regular.as_uri()}"); font-weight: normal; }}\n'
            f'@font-face {{ font-family: "{FAMILY}"; src: url("{self.bold.as_uri()}"); font-weight: bold; }}\n'
            f"html {{ font-family: {FALLBACK}; }}\n"
        )


def source_face(style: str) -> tuple[Path, int]:
    """File and collection index of the installed Noto Sans CJK JP face (``Regular`` or ``Bold``)."""
    fc_match = shutil.which("fc-match")
    found = ""
    if fc_match is not None:
        found = subprocess.run(  # noqa: S603 - fixed arguments, no shell  # nosec B603
            [fc_match, "-f", "%{family}\n%{file}\n%{index}\n", f"{SOURCE_FAMILY}:style={style}"],
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        ).stdout
    lines = found.splitlines()
    if len(lines) < 3 or SOURCE_FAMILY not in lines[0].split(","):
        detail = f"{SOURCE_FAMILY} {style} is not installed (apt-get install fonts-noto-cjk) / 日本語フォントなし"
        raise UserError(Problem("DH-R301", {"detail": detail}))
    return Path(lines[1]), int(lines[2] or 0)


def batch_characters(data: SurveyData, previous: SurveyData | None, extra: Iterable[str] = ()) -> str:
    """Every character a feedback PDF of ``data`` can contain (see the module docstring), sorted."""
    from datahealth.reports.html import STATIC, TEMPLATES
    from datahealth.web.i18n import STRINGS

    chars: set[str] = set()
    for first, last in _BLOCKS:
        chars.update(chr(code) for code in range(first, last + 1))
    chars.update(_SYMBOLS)
    for path in sorted((TEMPLATES / "reports").glob("*.html")):
        chars.update(path.read_text(encoding="utf-8"))
    for name in ("reports.css", "reports-pdf.css"):
        chars.update((STATIC / name).read_text(encoding="utf-8"))
    for ja, en in STRINGS.values():
        chars.update(ja)
        chars.update(en)
    for ja, en in PREFECTURES:
        chars.update(ja + en)
    for ja, en in FOUNDER_TYPES.values():
        chars.update(ja + en)
    for band in BED_BANDS:
        chars.update(band.label("ja") + band.label("en"))
    for survey in (data, previous):
        if survey is None:
            continue
        chars.update(json.dumps(survey.defn.model_dump(mode="json"), ensure_ascii=False))
        chars.update(json.dumps(survey.scoring.model_dump(mode="json"), ensure_ascii=False))
        for record in survey.records:
            chars.update(record.name)
            chars.update(record.code)
            if record.answers:
                chars.update(json.dumps(record.answers, ensure_ascii=False, default=str))
    for text in extra:
        chars.update(text)
    return "".join(sorted(c for c in chars if c.isprintable() or c == " "))


def subset_font(characters: str, cache_dir: Path) -> SubsetFont:
    """The subset faces for ``characters``, built (fontTools, a few seconds) or found in ``cache_dir``."""
    sources = {style: source_face(style) for style in ("Regular", "Bold")}
    import fontTools  # type: ignore[import-untyped]

    key = hashlib.sha256()
    key.update(f"{_FORMAT}\n{fontTools.version}\n".encode())
    for style, (path, index) in sources.items():
        stat = path.stat()
        key.update(f"{style}\n{path}\n{index}\n{stat.st_size}\n{stat.st_mtime_ns}\n".encode())
    key.update(characters.encode("utf-8"))
    digest = key.hexdigest()[:24]
    cache_dir.mkdir(parents=True, exist_ok=True)
    files = {style: cache_dir / f"{FAMILY.replace(' ', '')}-{style}-{digest}.otf" for style in sources}
    built = False
    for style, target in files.items():
        if not target.exists():
            _build(*sources[style], characters, target)
            built = True
    if built:
        _prune(cache_dir, keep=set(files.values()))
    return SubsetFont(files["Regular"], files["Bold"], len(characters))


def _prune(cache_dir: Path, keep: set[Path], kept: int = _KEEP) -> None:
    """Delete all but the ``kept`` most recently made faces (each data change makes a new pair)."""
    faces = sorted(cache_dir.glob(f"{FAMILY.replace(' ', '')}-*.otf"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in [p for p in faces if p not in keep][max(kept - len(keep), 0) :]:
        old.unlink(missing_ok=True)


def _build(source: Path, index: int, characters: str, target: Path) -> None:
    from fontTools import subset
    from fontTools.ttLib import TTFont  # type: ignore[import-untyped]

    from datahealth.reports.batch import write_atomic

    options = subset.Options()
    options.layout_features = ["*"]  # keep Noto's shaping (locl, vertical forms, ...) for these characters
    options.name_IDs = ["*"]
    options.notdef_outline = True
    options.glyph_names = False
    options.desubroutinize = True  # WeasyPrint desubroutinizes every PDF's subset: do it once here
    font = TTFont(source, fontNumber=index, lazy=True)
    subsetter = subset.Subsetter(options)
    subsetter.populate(text=characters)
    subsetter.subset(font)
    buffer = io.BytesIO()
    font.save(buffer)
    font.close()
    write_atomic(target, buffer.getvalue())
