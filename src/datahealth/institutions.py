"""Reference data about Japanese institutions: prefectures, bed-size bands, founder types."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

PREFECTURES: tuple[tuple[str, str], ...] = (
    ("北海道", "Hokkaido"),
    ("青森県", "Aomori"),
    ("岩手県", "Iwate"),
    ("宮城県", "Miyagi"),
    ("秋田県", "Akita"),
    ("山形県", "Yamagata"),
    ("福島県", "Fukushima"),
    ("茨城県", "Ibaraki"),
    ("栃木県", "Tochigi"),
    ("群馬県", "Gunma"),
    ("埼玉県", "Saitama"),
    ("千葉県", "Chiba"),
    ("東京都", "Tokyo"),
    ("神奈川県", "Kanagawa"),
    ("新潟県", "Niigata"),
    ("富山県", "Toyama"),
    ("石川県", "Ishikawa"),
    ("福井県", "Fukui"),
    ("山梨県", "Yamanashi"),
    ("長野県", "Nagano"),
    ("岐阜県", "Gifu"),
    ("静岡県", "Shizuoka"),
    ("愛知県", "Aichi"),
    ("三重県", "Mie"),
    ("滋賀県", "Shiga"),
    ("京都府", "Kyoto"),
    ("大阪府", "Osaka"),
    ("兵庫県", "Hyogo"),
    ("奈良県", "Nara"),
    ("和歌山県", "Wakayama"),
    ("鳥取県", "Tottori"),
    ("島根県", "Shimane"),
    ("岡山県", "Okayama"),
    ("広島県", "Hiroshima"),
    ("山口県", "Yamaguchi"),
    ("徳島県", "Tokushima"),
    ("香川県", "Kagawa"),
    ("愛媛県", "Ehime"),
    ("高知県", "Kochi"),
    ("福岡県", "Fukuoka"),
    ("佐賀県", "Saga"),
    ("長崎県", "Nagasaki"),
    ("熊本県", "Kumamoto"),
    ("大分県", "Oita"),
    ("宮崎県", "Miyazaki"),
    ("鹿児島県", "Kagoshima"),
    ("沖縄県", "Okinawa"),
)
"""Index + 1 is the JIS X 0401 prefecture code."""


def prefecture_name(code: int | None, lang: str = "ja") -> str:
    if code is None or not 1 <= code <= len(PREFECTURES):
        return "—"
    ja, en = PREFECTURES[code - 1]
    return en if lang == "en" else ja


def parse_prefecture(value: str) -> int | None:
    """A JIS code (``13``, ``"01"``) or a name (``東京都``, ``東京``, ``Tokyo``) → code, else ``None``."""
    text = unicodedata.normalize("NFKC", value).strip()
    if text.isdigit():
        code = int(text)
        return code if 1 <= code <= len(PREFECTURES) else None
    for index, (ja, en) in enumerate(PREFECTURES, start=1):
        if (
            text in (ja, en)
            or text.lower() == en.lower()
            or (len(text) >= 2 and ja.startswith(text) and ja[len(text) :] in ("都", "道", "府", "県"))
        ):
            return index
    return None


@dataclass(frozen=True)
class BedBand:
    key: str
    low: int
    high: int | None

    def label(self, lang: str = "ja") -> str:
        if self.high is None:
            return f"{self.low}+ beds" if lang == "en" else f"{self.low}床以上"
        return f"{self.low}–{self.high} beds" if lang == "en" else f"{self.low}～{self.high}床"


BED_BANDS: tuple[BedBand, ...] = (
    BedBand("20-99", 20, 99),
    BedBand("100-199", 100, 199),
    BedBand("200-299", 200, 299),
    BedBand("300-399", 300, 399),
    BedBand("400-499", 400, 499),
    BedBand("500+", 500, None),
)
"""The ministry's reporting bands. A hospital has at least 20 beds by law (医療法)."""


def bed_band(beds: int | None) -> BedBand | None:
    if beds is None:
        return None
    for band in BED_BANDS:
        if beds >= band.low and (band.high is None or beds <= band.high):
            return band
    return None


FOUNDER_TYPES: dict[str, tuple[str, str]] = {
    "national": ("国", "National government"),
    "public": ("公的医療機関", "Public medical institution"),
    "social_insurance": ("社会保険関係団体", "Social insurance organisation"),
    "medical_corporation": ("医療法人", "Medical corporation"),
    "individual": ("個人", "Individual"),
    "other": ("その他", "Other"),
}
"""開設者区分 as grouped in the ministry's 医療施設調査."""


def parse_founder_type(value: str) -> str | None:
    text = unicodedata.normalize("NFKC", value).strip()
    for key, (ja, en) in FOUNDER_TYPES.items():
        if text in (key, ja) or text.lower() == en.lower():
            return key
    return None


def founder_type_label(key: str | None, lang: str = "ja") -> str:
    if key is None or key not in FOUNDER_TYPES:
        return "—"
    ja, en = FOUNDER_TYPES[key]
    return en if lang == "en" else ja
