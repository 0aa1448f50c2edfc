"""Survey operations in the demo: a draft survey to open, a reminder schedule, an inquiry to answer.

With the demo loaded, an administrator can open 「令和7年度 …（デモ）」 and watch the notices and
e-mails go out (the demo's local SMTP sink receives them; see ``/admin/mail/sink``), set reminders,
extend a deadline for one hospital and answer the waiting inquiry, then publish it as a FAQ entry.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from datahealth.auth.tables import Organisation, User
from datahealth.demo import FIXED_HOSPITALS, SURVEY_ID
from datahealth.operations import reminders
from datahealth.operations.tables import Inquiry, InquiryCategory, InquiryStatus
from datahealth.survey.definitions import load_bundled
from datahealth.survey.model import SurveyDefinition
from datahealth.survey.service import create_survey
from datahealth.survey.tables import Survey, SurveyStatus

DEMO_SURVEY_ID = "cyber-fy2025-demo"
SIX_WEEKS = timedelta(days=41)
"""The request's period 令和7年1月27日（月）～3月7日（金）: six weeks, Monday to Friday."""


def demo_address(code: str) -> str:
    return f"info-{code}@example.jp"


def load_operations_demo(db: Session, today: date, now: datetime) -> Survey:
    """Add the operations demo to a freshly loaded demo database (the caller commits)."""
    for hospital in FIXED_HOSPITALS:  # the documented accounts get an address, so their mail shows in the sink
        org = db.scalar(select(Organisation).where(Organisation.code == hospital.code))
        if org is not None and not org.email:
            org.email = demo_address(hospital.code)
    data = load_bundled(SURVEY_ID).model_dump(mode="json", exclude_none=True)
    data["id"], data["version"] = DEMO_SURVEY_ID, "2025.demo"
    data["title"] = {
        "ja": "令和7年度 病院における医療情報システムのサイバーセキュリティ対策に係る調査（デモ）",
        "en": "FY2025 survey on cybersecurity of hospital medical information systems (demo)",
    }
    draft = create_survey(db, SurveyDefinition.model_validate(data), today, today + SIX_WEEKS)
    draft.status = SurveyStatus.DRAFT
    current = db.scalar(select(Survey).where(Survey.survey_key == SURVEY_ID, Survey.status == SurveyStatus.OPEN))
    if current is not None:
        reminders.set_offsets(db, current, [14, 7, 3, 1])
        reminders.set_offsets(db, draft, [14, 7, 3, 1])
        asker = db.scalar(select(User).where(User.login_id == FIXED_HOSPITALS[0].login))
        if asker is not None:
            db.add(
                Inquiry(
                    survey_id=current.id,
                    organisation_id=asker.organisation_id,
                    user_id=asker.id,
                    question_name="q13",
                    category=InquiryCategory.CONTENT,
                    body=(
                        f"{FIXED_HOSPITALS[0].name}です。電子カルテと部門システムでパスワードの最低桁数が異なる場合、"
                        "Q13 にはどの桁数を回答すればよいでしょうか。"
                    ),
                    status=InquiryStatus.OPEN,
                    created_at=now,
                    answer="",
                )
            )
    db.flush()
    return draft
