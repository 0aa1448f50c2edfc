"""The bundled FY2024 survey matches the ministry's request (seed 000) item by item."""

from __future__ import annotations

from datetime import date

import pytest
import yaml

from datahealth.survey.definitions import BUNDLED, bundled_ids, bundled_path, load_bundled
from datahealth.survey.model import QuestionType, SurveyDefinition

SURVEY_ID = "cyber-fy2024"

# The seed's item table (項目番号), in order. The seed prints "Q2-3" twice; the second one is the
# free-text 「その他」 field, displayed as "Q2-3 その他".
EXPECTED_CODES = [
    "Q1-1",
    "Q1-2",
    "Q2-1",
    "Q2-2",
    "Q2-3",
    "Q2-3 その他",
    "Q3",
    "Q4",
    "Q5",
    "Q6",
    "Q7-1",
    "Q7-2",
    "Q8",
    "Q9",
    "Q10",
    "Q11",
    "Q12",
    "Q13",
    "Q14",
    "Q15",
    "Q16",
    "Q17-1",
    "Q17-2",
    "Q17-3",
    "Q17-4",
    "Q17-5",
    "Q17-6",
]

EXPECTED_NAMES = [
    "q1_1",
    "q1_2",
    "q2_1",
    "q2_2",
    "q2_3",
    "q2_3_other",
    "q3",
    "q4",
    "q5",
    "q6",
    "q7_1",
    "q7_2",
    "q8",
    "q9",
    "q10",
    "q11",
    "q12",
    "q13",
    "q14",
    "q15",
    "q16",
    "q17_1",
    "q17_2",
    "q17_3",
    "q17_4",
    "q17_5",
    "q17_6",
]

EXPECTED_RELEVANT = {
    "q2_2": "${q2_1} = 'yes'",
    "q2_3": "${q2_2} = 'yes'",
    "q2_3_other": "selected(${q2_3}, 'other')",
    "q7_2": "${q7_1} = 'yes'",
    "q17_2": "${q17_1} = 'yes'",
    "q17_3": "${q17_2} = 'yes'",
    "q17_4": "${q17_2} = 'yes'",
    "q17_5": "${q17_2} = 'yes'",
    "q17_6": "${q17_2} = 'yes'",
}

# Questions whose 回答要領 cites a guideline (or the MDS/SDS guide, or the guideline Q&A).
CITING = [
    "q2_1",
    "q6",
    "q7_1",
    "q7_2",
    "q9",
    "q10",
    "q13",
    "q14",
    "q15",
    "q16",
    "q17_2",
    "q17_3",
    "q17_4",
    "q17_5",
    "q17_6",
]

# The seed says 「Qx に対して「はい」を選択した方が対象となる質問です。」 for these.
SEED_CONDITION_HINTS = {
    "q2_2": "Q2-1",
    "q2_3": "Q2-2",
    "q7_2": "Q7-1",
    "q17_2": "Q17-1",
    "q17_3": "Q17-2",
    "q17_4": "Q17-2",
    "q17_5": "Q17-2",
    "q17_6": "Q17-2",
}


@pytest.fixture(scope="module")
def defn() -> SurveyDefinition:
    return load_bundled(SURVEY_ID)


def test_bundled_registry() -> None:
    assert SURVEY_ID in bundled_ids()
    assert BUNDLED[SURVEY_ID] == "cyber_fy2024.yaml"
    path = bundled_path(SURVEY_ID)
    assert path.name == "cyber_fy2024.yaml"
    assert path.is_file()


def test_yaml_file_validates_directly() -> None:
    raw = yaml.safe_load(bundled_path(SURVEY_ID).read_text(encoding="utf-8"))
    defn = SurveyDefinition.model_validate(raw)
    assert defn.id == SURVEY_ID


def test_unknown_id_raises_key_error() -> None:
    with pytest.raises(KeyError):
        load_bundled("no-such-survey")
    with pytest.raises(KeyError):
        bundled_path("no-such-survey")


def test_identity(defn: SurveyDefinition) -> None:
    assert defn.id == SURVEY_ID
    assert defn.version == "2024.1"
    assert defn.format == "datahealth-survey/1"
    assert defn.title.ja == "令和6年度 病院における医療情報システムのサイバーセキュリティ対策に係る調査"
    assert defn.title.en
    assert defn.description is not None
    assert "ランサムウェア" in defn.description.ja
    assert "ransomware" in defn.description.en
    assert defn.source is not None
    assert "令和6年12月27日" in defn.source.ja
    assert "特定医薬品開発支援・医療情報担当参事官室" in defn.source.ja


def test_period(defn: SurveyDefinition) -> None:
    assert defn.period is not None
    assert defn.period.opens == date(2025, 1, 27)
    assert defn.period.closes == date(2025, 3, 7)


def test_contacts(defn: SurveyDefinition) -> None:
    assert [c.phone for c in defn.contacts] == ["050-3355-8230", "03-6812-7837"]
    gmis, content = defn.contacts
    assert gmis.topic.ja == "G-MIS のログインや操作に関すること"
    assert gmis.organisation.ja == "厚生労働省 G-MIS 事務局"
    assert gmis.hours is not None
    assert gmis.hours.ja == "9時～17時（土日祝日を除く）"
    assert gmis.note is not None
    assert "よくあるお問い合わせ" in gmis.note.ja
    assert content.topic.ja == "調査の内容に関すること"
    assert content.organisation.ja == "厚生労働省 医政局 特定医薬品開発支援・医療情報担当参事官室"
    assert content.people is not None
    assert content.people.ja == "橋本、澤井、曾根"
    assert content.hours is not None
    assert content.hours.ja == "10時～17時（土日祝日及び平日 12時15分～13時15分を除く）"
    for contact in defn.contacts:
        assert contact.topic.en
        assert contact.organisation.en


def test_faq(defn: SurveyDefinition) -> None:
    assert defn.faq is not None
    assert "FAQ" in defn.faq.ja
    assert "よくあるお問い合わせ" in defn.faq.ja
    assert defn.faq.en


def test_intro_note_first(defn: SurveyDefinition) -> None:
    first = defn.sections[0].questions[0]
    assert first.name == "intro"
    assert first.type == QuestionType.NOTE
    assert "医療情報システムとは" in first.label.ja
    assert "6.0" in first.label.ja
    assert "チェックリスト" in first.label.ja
    assert "Medical information systems" in first.label.en


def test_codes_in_seed_order(defn: SurveyDefinition) -> None:
    answerable = [q for q in defn.questions() if q.answerable]
    assert [q.code for q in answerable] == EXPECTED_CODES
    assert [q.name for q in answerable] == EXPECTED_NAMES
    assert len(answerable) == 27


def test_section_order(defn: SurveyDefinition) -> None:
    assert [s.name for s in defn.sections] == [
        "respondent",
        "governance",
        "bcp",
        "assets_network",
        "vulnerability",
        "authentication_media",
        "vendor_contracts",
        "backup",
    ]
    for section in defn.sections:
        assert section.label.ja
        assert section.label.en
        assert section.relevant is None


def test_relevant_expressions_exact(defn: SurveyDefinition) -> None:
    actual = {q.name: q.relevant for q in defn.questions() if q.relevant is not None}
    assert actual == EXPECTED_RELEVANT


def test_relevant_expressions_parse_and_point_backwards(defn: SurveyDefinition) -> None:
    from datahealth.survey import expressions

    order = [q.name for q in defn.questions()]
    for q in defn.questions():
        if q.relevant is None:
            continue
        expr = expressions.parse(q.relevant)
        for target, literal, _position in expressions.choice_comparisons(expr):
            assert order.index(target) < order.index(q.name), q.name
            names = [c.name for c in defn.choices_for(defn.question(target))]
            assert literal in names, (q.name, literal)


def test_condition_hints_from_seed(defn: SurveyDefinition) -> None:
    for name, parent in SEED_CONDITION_HINTS.items():
        hint = defn.question(name).hint
        assert hint is not None, name
        assert hint.ja == f"{parent}に対して「はい」を選択した方が対象となる質問です。"
        assert parent in hint.en


def test_every_question_bilingual(defn: SurveyDefinition) -> None:
    for q in defn.questions():
        assert q.label.ja.strip(), q.name
        assert q.label.en.strip(), q.name
        assert "対象となる質問です" not in q.label.ja, q.name
        if q.hint is not None:
            assert q.hint.en.strip(), q.name
        if q.answerable:
            assert q.guidance is not None, q.name
            assert q.guidance.text.ja.strip(), q.name
            assert q.guidance.text.en.strip(), q.name
            for ref in q.guidance.references:
                assert ref.document.ja and ref.document.en, q.name
                if ref.text is not None:
                    assert ref.text.ja and ref.text.en, q.name
    for choices in defn.choice_lists.values():
        for choice in choices:
            assert choice.label.ja and choice.label.en, choice.name


def test_required(defn: SurveyDefinition) -> None:
    for q in defn.questions():
        if not q.answerable:
            continue
        if q.name == "q2_3_other":
            assert not q.required
        else:
            assert q.required, q.name


def test_types(defn: SurveyDefinition) -> None:
    types = {q.name: q.type for q in defn.questions()}
    assert types["q1_1"] == QuestionType.TEXT
    assert types["q1_2"] == QuestionType.TEXT
    assert types["q2_3"] == QuestionType.SELECT_MULTIPLE
    assert types["q2_3_other"] == QuestionType.TEXT
    assert types["q3"] == QuestionType.SELECT_ONE
    assert types["q13"] == QuestionType.INTEGER
    for name in ("q17_3", "q17_4", "q17_5"):
        assert types[name] == QuestionType.SELECT_ONE
    yes_no = {
        "q2_1", "q2_2", "q4", "q5", "q6", "q7_1", "q7_2", "q8", "q9", "q10", "q11", "q12",
        "q14", "q15", "q16", "q17_1", "q17_2", "q17_6",
    }  # fmt: skip
    assert {name for name, t in types.items() if t == QuestionType.YES_NO} == yes_no
    assert defn.question("q2_3").choices == "ipa_exams"
    assert defn.question("q3").choices == "staff_bands"
    assert defn.question("q17_3").choices == "backup_copies"
    assert defn.question("q17_4").choices == "backup_methods"
    assert defn.question("q17_5").choices == "backup_generations"


def test_q13_digits_only_integer(defn: SurveyDefinition) -> None:
    q13 = defn.question("q13")
    assert q13.type == QuestionType.INTEGER
    assert q13.digits_only
    assert q13.minimum == 1
    assert q13.maximum == 99
    assert q13.required
    assert "半角数字" in q13.label.ja


def test_choice_lists(defn: SurveyDefinition) -> None:
    ipa = [c.name for c in defn.choice_lists["ipa_exams"]]
    assert ipa[-1] == "other"
    assert len(ipa) == 15
    staff = [c.name for c in defn.choice_lists["staff_bands"]]
    assert staff == ["s0", "s1", "s2", "s3_4", "s5_9", "s10_plus"]
    for choices in defn.choice_lists.values():
        for choice in choices:
            assert choice.name.isascii()
            assert choice.name == choice.name.lower()
    # "several generations" is scored as 3 or more: a band must start exactly at 3.
    generations = [c.label.ja for c in defn.choice_lists["backup_generations"]]
    assert "3世代" in generations
    assert generations.index("3世代") == 2


def test_every_choice_list_has_assumption(defn: SurveyDefinition) -> None:
    assumed = {a.question for a in defn.assumptions}
    for list_name in defn.choice_lists:
        users = [q.name for q in defn.questions() if q.choices == list_name]
        assert users, f"choice list {list_name} is unused"
        assert any(name in assumed for name in users), list_name
    for name in ("q13", "q2_3_other"):
        assert name in assumed
    question_names = {q.name for q in defn.questions()}
    for assumption in defn.assumptions:
        assert assumption.question in question_names
        assert assumption.text.ja and assumption.text.en


def test_citing_questions_have_references(defn: SurveyDefinition) -> None:
    for name in CITING:
        guidance = defn.question(name).guidance
        assert guidance is not None, name
        assert guidance.references, name


def test_q2_1_cites_management_3_1_2(defn: SurveyDefinition) -> None:
    guidance = defn.question("q2_1").guidance
    assert guidance is not None
    sections = [r.section for r in guidance.references]
    assert any("経営管理編 3.1.2" in s for s in sections)
    ref = guidance.references[0]
    assert ref.text is not None
    assert ref.text.ja.startswith("②")
    assert "第6.0版" in ref.document.ja


def test_reference_sections(defn: SurveyDefinition) -> None:
    def sections(name: str) -> list[str]:
        guidance = defn.question(name).guidance
        assert guidance is not None
        return [r.section for r in guidance.references]

    assert sections("q7_1") == ["経営管理編 3.4.1 事業継続計画（BCP：Business Continuity Plan）の整備と訓練"]
    assert sections("q9") == [
        "システム運用編 2. システム設計・運用に必要な規程類と文書体系",
        "システム運用編 13. ネットワークに関する安全管理措置",
    ]
    assert sections("q10") == ["経営管理編 3.4.2 情報共有・支援、情報収集"]
    ops11 = "システム運用編 11. システム運用管理（通常時・非常時等）"
    ops18 = "システム運用編 18. 外部からの攻撃に対する安全管理措置"
    assert sections("q17_2") == [ops11]
    assert sections("q17_3") == [ops11]
    assert sections("q17_4") == [ops18]
    assert sections("q17_5") == [ops11]
    assert sections("q17_6") == [ops18]


def test_q6_cites_mds_sds_guide(defn: SurveyDefinition) -> None:
    guidance = defn.question("q6").guidance
    assert guidance is not None
    urls = [r.url for r in guidance.references]
    assert "https://www.jahis.jp/standard/detail/id=987" in urls
    assert any("Ver. 4.1" in r.document.ja for r in guidance.references)


def test_q13_cites_password_lengths(defn: SurveyDefinition) -> None:
    guidance = defn.question("q13").guidance
    assert guidance is not None
    quoted = " ".join(r.text.ja for r in guidance.references if r.text is not None)
    assert "13文字以上" in quoted
    assert "8文字以上" in quoted
    assert all("Q&A" in r.document.ja for r in guidance.references)


def test_guidance_verbatim_samples(defn: SurveyDefinition) -> None:
    def text(name: str) -> str:
        guidance = defn.question(name).guidance
        assert guidance is not None
        return guidance.text.ja

    # OCR splits rejoined.
    assert "医療機関で所有する医療情報システムで用いる情報機器等" in text("q8")
    assert "医療情報シ\n" not in text("q8")
    assert "セキュリティマネジメントを実施する医療機関等を支援する" in text("q6")
    assert "提供するシステム全般のこと" in text("q11")
    # Term explanation and supplement kept.
    assert "（用語の解説）" in text("q11")
    assert "（補足）" in text("q11")
    # Paragraphs kept as blank-line separated blocks.
    assert "\n\n" in text("q4")
    assert "必須記載ではありません" in text("q2_3_other")
    assert "NAS (Network Attached Storage)" in text("q17_4")


def test_checks_accept_bundled_survey(defn: SurveyDefinition) -> None:
    from datahealth.survey.checks import check_definition, ensure_valid_definition

    assert check_definition(defn) == []
    ensure_valid_definition(defn)
