"""NDB-style linkage keys: identifiers normalised, then hashed with a secret key (HMAC-SHA256).

Two keys, as in the NDB:

* ``key1`` = insurer number + member symbol + member number + birth date + sex (同一保険者内で同一人物)
* ``key2`` = name in kana + birth date + sex (保険者をまたいで、介護DB との連結)

Normalisation removes differences in how the same identifier is written, and nothing else:

* Unicode NFKC: full-width digits/letters → half-width, half-width katakana → full-width (ｶﾅ → カナ)
* hiragana → katakana (かな → カナ); small kana → large (ッ → ツ, ャ → ヤ) as name-matching practice
  (NDB 氏名カナ are printed in capitals on some forms); dakuten/handakuten are kept (ガ ≠ カ)
* all white space removed (family/given name separators, full-width spaces)
* numbers (insurer, member number): leading zeros removed; member symbol: upper case
* birth date: ``YYYY-MM-DD``, ``YYYYMMDD``, ``YYYY/M/D`` or 和暦 ``S35.4.1`` / ``昭和35年4月1日``
* sex: 1/2, 男/女, M/F

The key is ``HMAC-SHA256(secret, field1 \\x1f field2 …)``, hex; without the secret a key cannot be
recomputed from a guessed identity, and raw identifiers never reach the analysis tables.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from datetime import date

from datahealth.config import Settings

_HIRA_TO_KATA = {code: code + 0x60 for code in range(0x3041, 0x3097)}
_SMALL_TO_LARGE = str.maketrans("ァィゥェォッャュョヮヵヶ", "アイウエオツヤユヨワカケ")
_SPACE = re.compile(r"\s+")
_ERAS = {
    "M": 1867,
    "T": 1911,
    "S": 1925,
    "H": 1988,
    "R": 2018,
    "明治": 1867,
    "大正": 1911,
    "昭和": 1925,
    "平成": 1988,
    "令和": 2018,
}
_WAREKI = re.compile(r"^(明治|大正|昭和|平成|令和|[MTSHR])\s*(\d{1,2}|元)[.年/-](\d{1,2})[.月/-](\d{1,2})日?$")
_ISO = re.compile(r"^(\d{4})[-/.]?(\d{1,2})[-/.]?(\d{1,2})$")
_SEP = "\x1f"


def normalise_text(value: str) -> str:
    text = unicodedata.normalize("NFKC", value)
    return _SPACE.sub("", text)


def normalise_kana(value: str) -> str:
    """Name in kana: NFKC, hiragana → katakana, small → large kana, no spaces."""
    text = normalise_text(value).translate(_HIRA_TO_KATA).translate(_SMALL_TO_LARGE)
    return text.upper()


def normalise_number(value: str) -> str:
    """Insurer and member numbers: half-width digits, no spaces, no leading zeros ("0" stays "0")."""
    text = normalise_text(value)
    stripped = text.lstrip("0")
    return stripped if stripped else ("0" if text else "")


def normalise_symbol(value: str) -> str:
    """Member symbol (記号): numeric symbols lose leading zeros; others are upper-cased."""
    text = normalise_text(value).upper()
    return normalise_number(text) if text.isdigit() else text


def normalise_birth_date(value: str) -> str:
    """ISO ``YYYY-MM-DD``; raises ValueError for text that is no date."""
    text = normalise_text(value)
    match = _ISO.match(text)
    if match:
        year, month, day = (int(part) for part in match.groups())
    else:
        wareki = _WAREKI.match(text)
        if not wareki:
            raise ValueError(f"not a birth date: {value!r}")
        era, year_text, month_text, day_text = wareki.groups()
        year = _ERAS[era] + (1 if year_text == "元" else int(year_text))
        month, day = int(month_text), int(day_text)
    return date(year, month, day).isoformat()


def normalise_sex(value: str) -> str:
    text = normalise_text(value).upper()
    if text in ("1", "男", "M", "男性"):
        return "1"
    if text in ("2", "女", "F", "女性"):
        return "2"
    raise ValueError(f"not a sex code: {value!r}")


def keyed_hash(secret: bytes, *fields: str) -> str:
    return hmac.new(secret, _SEP.join(fields).encode("utf-8"), hashlib.sha256).hexdigest()


def key1(secret: bytes, insurer_no: str, symbol: str, number: str, birth_date: str, sex: str) -> str:
    """insurer number + member symbol/number + birth date + sex."""
    return keyed_hash(
        secret,
        "k1",
        normalise_number(insurer_no),
        normalise_symbol(symbol),
        normalise_number(number),
        normalise_birth_date(birth_date),
        normalise_sex(sex),
    )


def key2(secret: bytes, name_kana: str, birth_date: str, sex: str) -> str:
    """name (kana) + birth date + sex."""
    return keyed_hash(secret, "k2", normalise_kana(name_kana), normalise_birth_date(birth_date), normalise_sex(sex))


def linkage_secret(settings: Settings) -> bytes:
    """``DATAHEALTH_LINKAGE_KEY``, or a key derived from the application secret (never the secret itself)."""
    configured = settings.linkage_key.get_secret_value()
    if configured:
        return configured.encode()
    return hmac.new(settings.effective_secret_key(), b"datahealth linkage key v1", hashlib.sha256).digest()
