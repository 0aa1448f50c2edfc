"""Normalisation links what it should (variants of one person) and nothing else (different people)."""

from __future__ import annotations

import pytest

from datahealth.analytics.linked import identity
from datahealth.analytics.linked.synth import date_variant, half_width_kana, name_variant, number_variant

SECRET = b"k"


@pytest.mark.parametrize(
    "variant",
    ["ヤマダ　タロウ", "ﾔﾏﾀﾞ ﾀﾛｳ", "やまだたろう", " ヤマダ  タロウ ", "ヤマダタロウ", "ﾔﾏﾀﾞ　ﾀﾛｳ"],
)
def test_name_variants_share_key2(variant: str) -> None:
    assert identity.key2(SECRET, variant, "1960-04-01", "1") == identity.key2(
        SECRET, "ヤマダ　タロウ", "1960-04-01", "1"
    )


@pytest.mark.parametrize(
    "birth", ["1960-04-01", "19600401", "1960/4/1", "S35.4.1", "昭和35年4月1日", "１９６０－０４－０１"]
)
def test_birth_date_variants(birth: str) -> None:
    assert identity.normalise_birth_date(birth) == "1960-04-01"


@pytest.mark.parametrize(
    ("insurer", "symbol", "number", "sex"),
    [
        ("06130012", "0123", "00004567", "1"),
        ("０６１３００１２", "１２３", "4567", "男"),
        (" 06130012 ", " 123 ", " 4567 ", "M"),
    ],
)
def test_member_variants_share_key1(insurer: str, symbol: str, number: str, sex: str) -> None:
    canonical = identity.key1(SECRET, "06130012", "0123", "00004567", "1960-04-01", "1")
    assert identity.key1(SECRET, insurer, symbol, number, "S35.4.1", sex) == canonical


@pytest.mark.parametrize(
    ("name", "birth", "sex"),
    [
        ("ヤマダ　ジロウ", "1960-04-01", "1"),  # another given name
        ("ヤマタ　タロウ", "1960-04-01", "1"),  # dakuten matters: ダ ≠ タ
        ("ヤマダ　タロウ", "1960-04-02", "1"),  # another day
        ("ヤマダ　タロウ", "1960-04-01", "2"),  # another sex
        ("ヤマダ　タロ", "1960-04-01", "1"),  # shorter
    ],
)
def test_different_people_do_not_share_key2(name: str, birth: str, sex: str) -> None:
    assert identity.key2(SECRET, name, birth, sex) != identity.key2(SECRET, "ヤマダ　タロウ", "1960-04-01", "1")


def test_numbers_that_differ_beyond_padding_do_not_link() -> None:
    base = identity.key1(SECRET, "06130012", "12", "4567", "1960-04-01", "1")
    assert identity.key1(SECRET, "06130012", "12", "45670", "1960-04-01", "1") != base
    assert identity.key1(SECRET, "06130012", "1", "24567", "1960-04-01", "1") != base  # no field bleeding
    assert identity.key1(SECRET, "06130013", "12", "4567", "1960-04-01", "1") != base


def test_key_depends_on_the_secret() -> None:
    assert identity.key2(b"a", "ヤマダ", "1960-04-01", "1") != identity.key2(b"b", "ヤマダ", "1960-04-01", "1")


def test_unreadable_values_raise() -> None:
    with pytest.raises(ValueError, match="birth"):
        identity.normalise_birth_date("someday")
    with pytest.raises(ValueError, match="sex"):
        identity.normalise_sex("3")


def test_generator_variants_normalise_back() -> None:
    for style in range(5):
        assert identity.normalise_kana(name_variant("ガッコウ", "ジュン", style)) == identity.normalise_kana(
            "ガツコウジユン"
        )
        assert identity.normalise_birth_date(date_variant(1960, 4, 1, style)) == "1960-04-01"
        assert identity.normalise_number(number_variant(4567, 8, style % 4)) == "4567"
    assert identity.normalise_kana(half_width_kana("パピプ")) == "パピプ"
