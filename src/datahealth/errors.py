"""Errors: one small tree and one catalogue of user-facing messages.

::

    DatahealthError (status 500)
     ├── UserError (400)              a person can fix it; carries catalogued Problems
     │    ├── ValidationFailed (422)  answers/records that break rules (one Problem per question/row)
     │    ├── DefinitionError (422)   a survey definition or XLSForm that cannot be used
     │    ├── ImportFailed (422)      a CSV/file import with bad rows; nothing was written
     │    └── Conflict (409)          state forbids the action (closed period, already submitted)
     ├── NotAuthenticated (401)
     ├── Forbidden (403)              CSRF failure and similar
     └── NotFound (404)               also what another tenant's object looks like

Every user-facing message has a stable code (``DH-S101``) and a template in Japanese and English
naming the row, field or question. Tests assert codes, never prose.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Self


@dataclass(frozen=True)
class Message:
    ja: str
    en: str


# code -> message template; ``{question}``, ``{row}``, ``{field}``, ``{value}`` … are filled by ``Problem``.
CATALOGUE: dict[str, Message] = {
    # --- survey answers (S1xx) ---
    "DH-S101": Message(
        "{question}：回答が必要です。選択または入力してください。",
        "{question}: an answer is required. Please choose or enter one.",
    ),
    "DH-S102": Message(
        "{question}：{message_ja}",
        "{question}: {message_en}",
    ),
    "DH-S103": Message(
        "{question}：整数を半角数字で入力してください（例：13）。入力値「{value}」",
        '{question}: enter a whole number in half-width digits (e.g. 13). You entered "{value}".',
    ),
    "DH-S104": Message(
        "{question}：数値を半角で入力してください（例：1.5）。入力値「{value}」",
        '{question}: enter a number in half-width characters (e.g. 1.5). You entered "{value}".',
    ),
    "DH-S105": Message(
        "{question}：{minimum} 以上 {maximum} 以下の値を入力してください。入力値「{value}」",
        '{question}: enter a value from {minimum} to {maximum}. You entered "{value}".',
    ),
    "DH-S106": Message(
        "{question}：選択肢にない値「{value}」です。一覧から選択してください。",
        '{question}: "{value}" is not one of the choices. Please choose from the list.',
    ),
    "DH-S107": Message(
        "{question}：全角数字は使えません。半角数字で入力してください。入力値「{value}」",
        '{question}: full-width digits are not accepted. Use half-width digits. You entered "{value}".',
    ),
    "DH-S108": Message(
        "{question}：入力が長すぎます（{maximum} 文字以内）。",
        "{question}: the text is too long (at most {maximum} characters).",
    ),
    "DH-S109": Message(
        "「{question}」という設問はこの調査にありません。",
        'The survey has no question "{question}".',
    ),
    "DH-S110": Message(
        "{question}：{minimum} 以上の値を入力してください。入力値「{value}」",
        '{question}: enter a value of at least {minimum}. You entered "{value}".',
    ),
    "DH-S111": Message(
        "{question}：{maximum} 以下の値を入力してください。入力値「{value}」",
        '{question}: enter a value of at most {maximum}. You entered "{value}".',
    ),
    # --- response lifecycle (S2xx) ---
    "DH-S201": Message(
        "回答期間外のため提出できません（回答期間：{opens}～{closes}）。",
        "The survey is not open for submission (period: {opens} to {closes}).",
    ),
    "DH-S202": Message(
        "この回答は提出済みのため変更できません。変更が必要な場合は調査事務局にご連絡ください。",
        "This response has been submitted and can no longer be changed. Contact the survey office to reopen it.",
    ),
    "DH-S203": Message(
        "この調査は現在回答を受け付けていません（状態：{status}）。",
        "This survey is not accepting answers (status: {status}).",
    ),
    "DH-S204": Message(
        "未回答または誤りのある設問が {count} 件あります。確認画面の一覧から修正してください。",
        "{count} question(s) are unanswered or invalid. Fix them from the list on the review page.",
    ),
    "DH-S205": Message(
        "この回答は提出されていないため、再開できません。",
        "This response has not been submitted, so it cannot be reopened.",
    ),
    "DH-S206": Message(
        "貴院はこの調査の対象ではありません。",
        "Your hospital is not a target of this survey.",
    ),
    "DH-S207": Message(
        "回答期間の終了日（{closes}）が開始日（{opens}）より前です。",
        "The period ends ({closes}) before it starts ({opens}).",
    ),
    "DH-S208": Message(
        "同じ調査ID・版（{survey_id} {version}）が既に登録されています。",
        "A survey with the same id and version ({survey_id} {version}) already exists.",
    ),
    "DH-S209": Message(
        "回答済みの病院があるため、調査定義を差し替えられません。",
        "The definition cannot be replaced because hospitals have already answered.",
    ),
    "DH-S210": Message(
        "不正な絞り込み条件です（{field}：「{value}」）。",
        'Invalid filter ({field}: "{value}").',
    ),
    # --- survey definitions and XLSForm (D1xx) ---
    "DH-D101": Message(
        "調査定義を読み込めません：{detail}",
        "The survey definition cannot be read: {detail}",
    ),
    "DH-D102": Message(
        "{sheet}シート {row} 行目（{field}）：{detail}",
        "Sheet {sheet}, row {row} ({field}): {detail}",
    ),
    "DH-D103": Message(
        "設問 {question} の式「{expression}」が不正です：{detail}",
        'Question {question}: expression "{expression}" is invalid: {detail}',
    ),
    "DH-D104": Message(
        "設問 {question} の式が存在しない設問 {reference} を参照しています。",
        "Question {question}: the expression refers to an unknown question {reference}.",
    ),
    "DH-D105": Message(
        "{sheet}シート {row} 行目：未対応の設問タイプ「{value}」です。",
        'Sheet {sheet}, row {row}: unsupported question type "{value}".',
    ),
    "DH-D106": Message(
        "設問 {question} の式が後ろの設問 {reference} を参照しています（前の設問のみ参照できます）。",
        "Question {question}: the expression refers to a later question {reference} (only earlier ones may be used).",
    ),
    "DH-D107": Message(
        "設問 {question} の式が、設問 {reference} の選択肢にない「{value}」を使っています（条件が成り立ちません）。",
        'Question {question}: the expression uses "{value}", which is not a choice of question {reference} '
        "(the condition can never hold).",
    ),
    # --- imports (I1xx) ---
    "DH-I101": Message(
        "{row} 行目：必須項目「{field}」が空です。",
        'Row {row}: required field "{field}" is empty.',
    ),
    "DH-I102": Message(
        "{row} 行目：「{field}」の値「{value}」が不正です。{detail}",
        'Row {row}: "{field}" has an invalid value "{value}". {detail}',
    ),
    "DH-I103": Message(
        "{row} 行目：医療機関コード「{value}」が {other_row} 行目と重複しています。",
        'Row {row}: institution code "{value}" repeats row {other_row}.',
    ),
    "DH-I104": Message(
        "ファイルに必要な列がありません：{field}",
        "The file lacks required column(s): {field}",
    ),
    "DH-I105": Message(
        "ファイルを UTF-8 として読めません（Shift_JIS 等の場合は UTF-8 で保存し直してください）。",
        "The file is not valid UTF-8 (if it is Shift_JIS, save it again as UTF-8).",
    ),
    "DH-I106": Message(
        "ファイルが空です。",
        "The file is empty.",
    ),
    # --- accounts and access (A1xx) ---
    "DH-A101": Message(
        "ログインIDまたはパスワードが正しくありません。",
        "The login ID or password is incorrect.",
    ),
    "DH-A102": Message(
        "ログインが必要です。",
        "Please log in.",
    ),
    "DH-A103": Message(
        "この操作を行う権限がありません。",
        "You are not allowed to do this.",
    ),
    "DH-A104": Message(
        "画面の有効期限が切れました。もう一度操作してください。",
        "The page has expired. Please try again.",
    ),
    "DH-A105": Message(
        "パスワードは {minimum} 文字以上にしてください。",
        "The password must have at least {minimum} characters.",
    ),
    "DH-A106": Message(
        "ログインIDまたは初回登録コードが正しくないか、既に使用されています。",
        "The login ID or activation code is wrong or has already been used.",
    ),
    "DH-A107": Message(
        "確認用パスワードが一致しません。",
        "The two passwords do not match.",
    ),
    # --- generic (Gxxx) ---
    "DH-G400": Message(
        "リクエストの内容が不正です（{field}）。",
        "The request is malformed ({field}).",
    ),
    "DH-G404": Message(
        "お探しのページは見つかりません。",
        "The page you are looking for does not exist.",
    ),
    "DH-G409": Message(
        "デモデータは空のデータベースにのみ読み込めます（既にデータがあります）。",
        "Demo data can only be loaded into an empty database (this one already holds data).",
    ),
    "DH-G500": Message(
        "システムエラーが発生しました。時間をおいて再度お試しください。",
        "An internal error occurred. Please try again later.",
    ),
}


class _Defaults(dict[str, Any]):
    """Leaves unknown placeholders visible rather than failing to render a message."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


@dataclass(frozen=True)
class Problem:
    """One catalogued problem: a code, where it is (question/row/field) and the values for its message."""

    code: str
    params: dict[str, Any] = field(default_factory=dict)
    question: str | None = None
    row: int | None = None
    field: str | None = None

    def message(self, lang: str = "ja") -> str:
        template = CATALOGUE[self.code]
        text = template.en if lang == "en" else template.ja
        values = _Defaults(self.params)
        if self.question is not None:
            values.setdefault("question", self.question)
        if self.row is not None:
            values.setdefault("row", self.row)
        if self.field is not None:
            values.setdefault("field", self.field)
        return text.format_map(values)

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"code": self.code, "message_ja": self.message("ja"), "message_en": self.message("en")}
        if self.question is not None:
            data["question"] = self.question
        if self.row is not None:
            data["row"] = self.row
        if self.field is not None:
            data["field"] = self.field
        return data


class DatahealthError(Exception):
    status: ClassVar[int] = 500
    default_code: ClassVar[str] = "DH-G500"

    def __init__(self, *problems: Problem) -> None:
        self.problems: list[Problem] = list(problems) or [Problem(self.default_code)]
        super().__init__("; ".join(problem.message("en") for problem in self.problems))

    @classmethod
    def of(cls, code: str, **params: Any) -> Self:
        if code not in CATALOGUE:
            raise KeyError(f"uncatalogued error code {code}")
        return cls(Problem(code, params))

    @property
    def code(self) -> str:
        return self.problems[0].code

    def messages(self, lang: str = "ja") -> list[str]:
        return [problem.message(lang) for problem in self.problems]


class UserError(DatahealthError):
    status = 400


class ValidationFailed(UserError):
    status = 422


class DefinitionError(UserError):
    status = 422
    default_code = "DH-D101"


class ImportFailed(UserError):
    status = 422


class Conflict(UserError):
    status = 409


class NotAuthenticated(DatahealthError):
    status = 401
    default_code = "DH-A102"


class Forbidden(DatahealthError):
    status = 403
    default_code = "DH-A103"


class NotFound(DatahealthError):
    status = 404
    default_code = "DH-G404"
