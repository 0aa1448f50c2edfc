"""The wording of notices and e-mails (Japanese first, English after), after the ministry's request.

The survey request (seed 000) announces the survey through G-MIS with its period, the answer method,
the documents to read first and the two inquiry desks with the FAQ tab; the texts below follow it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from datahealth.survey.model import Contact, SurveyDefinition

WEEKDAYS_JA = "月火水木金土日"


@dataclass(frozen=True)
class Text:
    """A notice or e-mail: subject (title) and body."""

    subject: str
    body: str


def day_ja(day: date) -> str:
    """``令和``-free ISO-like date with the weekday, as in the request: 2025年3月7日（金）."""
    return f"{day.year}年{day.month}月{day.day}日（{WEEKDAYS_JA[day.weekday()]}）"


def desk_for(defn: SurveyDefinition, category: str) -> Contact | None:
    """The inquiry desk of a category: ``operation`` → login/operation desk, ``content`` → survey content."""
    words = ("ログイン", "操作") if category == "operation" else ("内容",)
    for contact in defn.contacts:
        if any(word in contact.topic.ja for word in words):
            return contact
    index = 0 if category == "operation" else 1
    return defn.contacts[index] if len(defn.contacts) > index else None


def _contacts_block(defn: SurveyDefinition, faq_url: str) -> str:
    lines = ["【照会先】"]
    for number, contact in zip("①②③④⑤", defn.contacts, strict=False):
        lines.append(f"{number} {contact.topic.ja}")
        people = f"（担当者：{contact.people.ja}）" if contact.people else ""
        lines.append(f"   {contact.organisation.ja}{people}")
        if contact.phone:
            lines.append(f"   TEL：{contact.phone}")
        if contact.hours:
            lines.append(f"   応対可能時間：{contact.hours.ja}")
    lines.append("お問い合わせの前に「FAQ」（よくあるお問い合わせ）をご確認ください。")
    lines.append(f"   {faq_url}")
    lines.append("各設問の画面から、本システム上でお問い合わせいただくこともできます。")
    return "\n".join(lines)


PREPARE = (
    "・回答要領（各設問の画面に表示される説明）。回答にあたっては、必ず回答要領をご確認ください。",
    "・「医療情報システムの安全管理に関するガイドライン（第6.0版）」",
    "・「医療機関におけるサイバーセキュリティ対策チェックリスト」",
    "・技術的な質問・用語等については、院内担当者だけでなくシステム設置事業者や保守ベンダーへの照会等",
)


def survey_opened(
    defn: SurveyDefinition, hospital: str, opens: date, closes: date, base_url: str, survey_id: int
) -> Text:
    title = defn.title.ja
    body = "\n".join(
        [
            f"{hospital} ご担当者様",
            "",
            f"「{title}」への回答をお願いいたします。",
            "",
            f"【調査期間】{day_ja(opens)}～{day_ja(closes)}",
            "【回答方法】本システムにログインし、画面の案内に沿って回答してください。回答は自動で一時保存されます。",
            f"   ログイン：{base_url}/login",
            f"   調査の画面：{base_url}/surveys/{survey_id}",
            "【ご準備いただくもの】",
            *PREPARE,
            "",
            _contacts_block(defn, f"{base_url}/surveys/{survey_id}/faq"),
            "",
            "-- ",
            f'Please answer the survey "{defn.title.get("en")}" between {opens.isoformat()} and '
            f"{closes.isoformat()}. Log in at {base_url}/login .",
            "このメールは送信専用です。 This address does not receive replies.",
        ]
    )
    return Text(f"【調査依頼】{title}（回答期限：{day_ja(closes)}）", body)


def reminder(
    defn: SurveyDefinition, hospital: str, closes: date, days_left: int, status: str, base_url: str, survey_id: int
) -> Text:
    title = defn.title.ja
    state = "回答を一時保存中で、まだ提出されていません" if status == "draft" else "まだ回答が始まっていません"
    when = "本日が回答期限です" if days_left <= 0 else f"回答期限まであと {days_left} 日です"
    body = "\n".join(
        [
            f"{hospital} ご担当者様",
            "",
            f"「{title}」は{when}（回答期限：{day_ja(closes)}）。",
            f"貴院の回答は{state}。期限までに提出をお願いいたします。",
            "（本メールと行き違いで提出済みの場合はご容赦ください。）",
            "",
            f"   ログイン：{base_url}/login",
            f"   調査の画面：{base_url}/surveys/{survey_id}",
            "",
            _contacts_block(defn, f"{base_url}/surveys/{survey_id}/faq"),
            "",
            "-- ",
            f'Reminder: please submit "{defn.title.get("en")}" by {closes.isoformat()}.',
            "このメールは送信専用です。 This address does not receive replies.",
        ]
    )
    return Text(f"【リマインド】{title}（回答期限：{day_ja(closes)}）", body)


def extended(defn: SurveyDefinition, hospital: str, closes: date, reason: str, base_url: str, survey_id: int) -> Text:
    title = defn.title.ja
    lines = [
        f"{hospital} ご担当者様",
        "",
        f"「{title}」の貴院の回答期限を {day_ja(closes)} まで延長しました。",
    ]
    if reason:
        lines += [f"理由：{reason}"]
    lines += [
        "",
        f"   調査の画面：{base_url}/surveys/{survey_id}",
        "",
        "-- ",
        f'The deadline of "{defn.title.get("en")}" for your hospital is extended to {closes.isoformat()}.',
        "このメールは送信専用です。 This address does not receive replies.",
    ]
    return Text(f"【回答期限の延長】{title}（新しい期限：{day_ja(closes)}）", "\n".join(lines))


CATEGORY_LABELS = {"operation": ("操作・ログイン", "Operation / login"), "content": ("調査内容", "Survey content")}


def inquiry_answered(defn: SurveyDefinition, hospital: str, question: str, inquiry_id: int, base_url: str) -> Text:
    about = f"（{question}）" if question else ""
    body = "\n".join(
        [
            f"{hospital} ご担当者様",
            "",
            f"「{defn.title.ja}」についてのお問い合わせ{about}に回答しました。",
            "回答は本システムにログインしてご確認ください。",
            f"   {base_url}/inquiries/{inquiry_id}",
            "",
            "-- ",
            "Your inquiry has been answered; log in to read the answer.",
            "このメールは送信専用です。 This address does not receive replies.",
        ]
    )
    return Text(f"【お問い合わせへの回答】{defn.title.ja}", body)


def inquiry_for_desk(defn: SurveyDefinition, category: str, question: str, inquiry_id: int, base_url: str) -> Text:
    label = CATEGORY_LABELS.get(category, (category, category))[0]
    about = f"設問：{question}\n" if question else ""
    body = (
        f"「{defn.title.ja}」に新しいお問い合わせ（{label}）が届きました。\n{about}"
        f"本システムの管理画面で確認し、回答してください。\n   {base_url}/admin/inquiries/{inquiry_id}\n"
    )
    return Text(f"【新しいお問い合わせ・{label}】{defn.title.ja}", body)
