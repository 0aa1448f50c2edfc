"""Inquiries from the form, answered in the platform, publishable (anonymised) as FAQ entries.

A hospital user asks from any question of the survey (or about the survey as a whole), choosing the
desk as the ministry's request does: ① login and operation (G-MIS 事務局) or ② the survey's content
(参事官室). Administrators see the inquiries per desk, answer, and the hospital is notified by a
notice and an e-mail. An answer may be published as a FAQ entry: the question text is stripped of the
hospital's name and institution code before an administrator reviews and publishes it.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from datahealth.auth.service import Principal
from datahealth.auth.tables import Organisation
from datahealth.errors import Conflict, NotFound, Problem, UserError
from datahealth.operations import messages, outbox
from datahealth.operations.notices import add_notices
from datahealth.operations.tables import FaqEntry, Inquiry, InquiryCategory, InquiryStatus
from datahealth.survey.service import definition_of
from datahealth.survey.tables import Survey

MAX_BODY = 4000
MAX_ANSWER = 8000
ANONYMOUS = "（病院名）"


def _text(value: str, field: str, maximum: int) -> str:
    text = unicodedata.normalize("NFC", value).strip()
    if not text or len(text) > maximum:
        raise UserError(Problem("DH-O101", {"maximum": maximum}, field=field))
    return text


def category_of(value: str) -> InquiryCategory:
    try:
        return InquiryCategory(value)
    except ValueError:
        raise UserError(Problem("DH-O102", {"value": value[:40]}, field="category")) from None


def question_label(survey: Survey, question_name: str) -> str:
    """``Q2-1`` style label of a question name (empty for the survey as a whole)."""
    if not question_name:
        return ""
    for question in definition_of(survey).questions():
        if question.name == question_name:
            return f"{question.display_code} {question.label.ja}"[:120].strip()
    return question_name


def create(
    db: Session,
    principal: Principal,
    survey: Survey,
    *,
    question_name: str,
    category: str,
    body: str,
    base_url: str,
    desk_addresses: dict[str, str],
    now: datetime,
) -> Inquiry:
    """Record a hospital's inquiry; the desk is told by e-mail when it has an address in settings."""
    kind = category_of(category)
    question_name = question_name.strip()
    if question_name and question_name not in {q.name for q in definition_of(survey).questions()}:
        raise UserError(Problem("DH-O103", {"value": question_name[:60]}, field="question"))
    inquiry = Inquiry(
        survey_id=survey.id,
        organisation_id=principal.organisation_id,
        user_id=principal.user_id,
        question_name=question_name,
        category=kind.value,
        body=_text(body, "お問い合わせ内容 / question", MAX_BODY),
        status=InquiryStatus.OPEN,
        created_at=now,
        answer="",
    )
    db.add(inquiry)
    db.flush()
    desk = desk_addresses.get(kind.value, "")
    if desk:
        text = messages.inquiry_for_desk(
            definition_of(survey), kind.value, question_label(survey, question_name), inquiry.id, base_url
        )
        outbox.enqueue(
            db, kind="inquiry_desk", to_address=desk, subject=text.subject, body=text.body, now=now, survey_id=survey.id
        )
    return inquiry


def own(db: Session, principal: Principal, inquiry_id: int) -> Inquiry:
    """An inquiry of the principal's hospital (else 404)."""
    inquiry = db.get(Inquiry, inquiry_id)
    if inquiry is None or inquiry.organisation_id != principal.organisation_id:
        raise NotFound()
    return inquiry


def of_hospital(db: Session, organisation_id: int) -> list[Inquiry]:
    return list(
        db.scalars(
            select(Inquiry)
            .where(Inquiry.organisation_id == organisation_id)
            .order_by(Inquiry.created_at.desc(), Inquiry.id.desc())
        )
    )


def listing(
    db: Session, *, category: str | None = None, status: str | None = None, survey_id: int | None = None
) -> list[tuple[Inquiry, str, str]]:
    """The administrators' list (optionally one desk / status / survey) with each hospital's code and name."""
    stmt = select(Inquiry, Organisation.code, Organisation.name).join(
        Organisation, Organisation.id == Inquiry.organisation_id
    )
    if category:
        stmt = stmt.where(Inquiry.category == category_of(category).value)
    if status:
        stmt = stmt.where(Inquiry.status == status)
    if survey_id is not None:
        stmt = stmt.where(Inquiry.survey_id == survey_id)
    rows = db.execute(stmt.order_by(Inquiry.status.desc(), Inquiry.created_at.desc()).limit(500)).all()
    return [(inquiry, code, name) for inquiry, code, name in rows]


def open_counts(db: Session) -> dict[str, int]:
    counts = dict.fromkeys((c.value for c in InquiryCategory), 0)
    stmt = select(Inquiry.category, func.count()).where(Inquiry.status == InquiryStatus.OPEN).group_by(Inquiry.category)
    for category, count in db.execute(stmt):
        counts[category] = count
    return counts


def answer(db: Session, principal: Principal, inquiry: Inquiry, text: str, *, base_url: str, now: datetime) -> None:
    """Answer (or correct the answer); the hospital gets a notice and an e-mail to its address."""
    inquiry.answer = _text(text, "回答 / answer", MAX_ANSWER)
    inquiry.status = InquiryStatus.ANSWERED
    inquiry.answered_at = now
    inquiry.answered_by = principal.user_id
    survey = db.get(Survey, inquiry.survey_id)
    organisation = db.get(Organisation, inquiry.organisation_id)
    if survey is None or organisation is None:
        raise NotFound()
    message = messages.inquiry_answered(
        definition_of(survey), organisation.name, question_label(survey, inquiry.question_name), inquiry.id, base_url
    )
    add_notices(
        db,
        [
            {
                "organisation_id": organisation.id,
                "survey_id": survey.id,
                "notice_key": f"inquiry:{inquiry.id}:answer:{now.isoformat()}",
                "kind": "inquiry_answer",
                "title": message.subject,
                "body": message.body,
                "link": f"/inquiries/{inquiry.id}",
            }
        ],
        now,
    )
    if organisation.email:
        outbox.enqueue(
            db,
            kind="inquiry_answer",
            to_address=organisation.email,
            subject=message.subject,
            body=message.body,
            now=now,
            survey_id=survey.id,
            organisation_id=organisation.id,
        )


def anonymise(db: Session, inquiry: Inquiry) -> str:
    """The inquiry's text without its hospital's name or institution code."""
    organisation = db.get(Organisation, inquiry.organisation_id)
    text = inquiry.body
    if organisation is None:
        return text
    for secret in sorted({organisation.name, organisation.code}, key=len, reverse=True):
        if secret:
            text = re.sub(re.escape(secret), ANONYMOUS, text)
    return text


def publish(
    db: Session,
    principal: Principal,
    inquiry: Inquiry,
    *,
    question_text: str,
    answer_text: str,
    now: datetime,
) -> FaqEntry:
    """Publish an answered inquiry as a FAQ entry (anonymised again, whatever the administrator typed)."""
    if inquiry.status != InquiryStatus.ANSWERED:
        raise Conflict.of("DH-O107")
    if db.scalar(select(FaqEntry.id).where(FaqEntry.inquiry_id == inquiry.id)) is not None:
        raise Conflict.of("DH-O108")
    organisation = db.get(Organisation, inquiry.organisation_id)
    question = _text(question_text, "FAQ の質問 / FAQ question", MAX_BODY)
    answer_body = _text(answer_text, "FAQ の回答 / FAQ answer", MAX_ANSWER)
    if organisation is not None:
        for secret in sorted({organisation.name, organisation.code}, key=len, reverse=True):
            question = question.replace(secret, ANONYMOUS)
            answer_body = answer_body.replace(secret, ANONYMOUS)
    entry = FaqEntry(
        survey_id=inquiry.survey_id,
        inquiry_id=inquiry.id,
        category=inquiry.category,
        question_name=inquiry.question_name,
        question_text=question,
        answer_text=answer_body,
        published_at=now,
        published_by=principal.user_id,
    )
    db.add(entry)
    db.flush()
    return entry


def faq(db: Session, survey_id: int) -> list[FaqEntry]:
    return list(
        db.scalars(
            select(FaqEntry)
            .where(FaqEntry.survey_id == survey_id)
            .order_by(FaqEntry.category, FaqEntry.published_at.desc(), FaqEntry.id.desc())
        )
    )


def faq_of_inquiry(db: Session, inquiry_id: int) -> FaqEntry | None:
    return db.scalar(select(FaqEntry).where(FaqEntry.inquiry_id == inquiry_id))
