"""Password policy: guideline 6.0 (13+ characters, or 8+ mixed with two factors) and ASVS L2."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from datahealth.auth.policy import check_new_password, is_common, password_problems
from datahealth.config import Settings
from datahealth.errors import UserError

SETTINGS = Settings(secret_key=SecretStr("k"))


def codes(password: str, confirmation: str | None = None, **kwargs: object) -> list[str]:
    problems = password_problems(password, password if confirmation is None else confirmation, SETTINGS, **kwargs)  # type: ignore[arg-type]
    return [p.code for p in problems]


def test_thirteen_characters_are_enough_without_composition_rules():
    assert codes("ひまわり畑で夕焼けを見た日") == []  # 13 Japanese characters, no digits or symbols
    assert codes("twelve chars") == ["DH-A109"]  # 8–12: explains the two-factor alternative
    assert codes("seven c") == ["DH-A105"]


def test_short_mixed_password_only_with_two_factor():
    assert codes("Tk8#vq2!", two_factor=True) == []
    assert codes("Tk8#vq2!", two_factor=False) == ["DH-A109"]
    assert codes("tkvqzwmp", two_factor=True) == ["DH-A109"]  # not mixed
    assert codes("Tk8#vq", two_factor=True) == ["DH-A105"]  # under 8 even with two factors
    strict = SETTINGS.model_copy(update={"password_allow_short_with_2fa": False})
    assert [p.code for p in password_problems("Tk8#vq2!", "Tk8#vq2!", strict, two_factor=True)] == ["DH-A105"]


def test_common_passwords_are_refused():
    assert is_common("password1234")
    assert is_common("Password1234")  # case variants of listed passwords too
    assert codes("qwertyuiop1234567890", two_factor=True) == ["DH-A108"]
    assert not is_common("北の大地で 2025 年の調査")


def test_login_id_and_confirmation():
    assert codes("h1311234567 is my password", login_id="h1311234567") == ["DH-A110"]
    assert codes("a perfectly fine passphrase", "a different one") == ["DH-A107"]


def test_check_raises_every_problem_at_once():
    with pytest.raises(UserError) as caught:
        check_new_password("short", "other", SETTINGS)
    assert [p.code for p in caught.value.problems] == ["DH-A105", "DH-A107"]
