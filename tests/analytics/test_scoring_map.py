"""The scoring maps: data that fits its survey, guideline sections exactly as the 回答要領 cites them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from datahealth.analytics.mapping import check_map, load_scoring, parse_scoring
from datahealth.errors import DefinitionError
from datahealth.survey.definitions import bundled_ids, load_bundled

SEED = Path(__file__).resolve().parents[3] / "shared" / "seeds" / "000_35356a6affb2fb2d.txt"


@pytest.mark.parametrize("survey_id", ["cyber-fy2024", "cyber-fy2023"])
def test_bundled_maps_fit_their_surveys(survey_id: str) -> None:
    scoring = load_scoring(survey_id)
    assert scoring is not None
    assert check_map(load_bundled(survey_id), scoring) == []


def test_every_bundled_survey_with_a_map_is_listed() -> None:
    assert {s for s in bundled_ids() if load_scoring(s) is not None} == {"cyber-fy2024", "cyber-fy2023"}


def test_domains_as_the_issue_lists_them() -> None:
    scoring = load_scoring("cyber-fy2024")
    assert scoring is not None
    questions = {d.key: sorted({q for i in scoring.items_of(d.key) for q in i.questions}) for d in scoring.domains}
    assert questions == {
        "governance": ["q2_1", "q2_2", "q4", "q5", "q6"],
        "incident_response": ["q7_1", "q7_2"],
        "assets_network": ["q8", "q9"],
        "vulnerability": ["q10", "q11", "q12"],
        "authentication": ["q13", "q14", "q15"],
        "contracts": ["q16"],
        "backup": ["q17_1", "q17_2", "q17_4", "q17_5", "q17_6"],
    }


def test_guideline_sections_are_those_the_answer_guidance_cites() -> None:
    """Each section is cited by the item's questions (with the quoted paragraph); none are invented."""
    defn = load_bundled("cyber-fy2024")
    scoring = load_scoring("cyber-fy2024")
    assert scoring is not None
    for item in scoring.items:
        cited = {}
        for name in item.questions:
            guidance = defn.question(name).guidance
            for reference in guidance.references if guidance else []:
                if reference.section:
                    cited.setdefault(reference.section, []).append(reference)
        own = defn.question(item.questions[-1]).guidance
        own_sections = [r.section for r in (own.references if own else []) if r.section]
        if not item.guideline:
            assert own_sections == [], f"{item.key}: the 回答要領 cites {own_sections}"
            assert item.guideline_note is not None
            continue
        for ref in item.guideline:
            assert ref.section in cited, f"{item.key}: {ref.section} is not cited by {item.questions}"
            quoted = [r.text.ja for r in cited[ref.section] if r.text is not None]
            assert any(text.startswith(ref.paragraph) for text in quoted), f"{item.key}: paragraph {ref.paragraph}"


@pytest.mark.skipif(not SEED.exists(), reason="the seed document is beside the repository only in the workspace")
def test_sections_appear_verbatim_in_the_seed() -> None:
    seed = re.sub(r"\s+", "", SEED.read_text(encoding="utf-8"))
    scoring = load_scoring("cyber-fy2024")
    assert scoring is not None
    for item in scoring.items:
        for ref in item.guideline:
            assert re.sub(r"\s+", "", ref.section) in seed, ref.section


def test_expected_guideline_sections() -> None:
    scoring = load_scoring("cyber-fy2024")
    assert scoring is not None
    sections = {i.key: [f"{g.section} {g.paragraph}" for g in i.guideline] for i in scoring.items if i.guideline}
    assert sections == {
        "ciso": ["経営管理編 3.1.2 医療情報システムにおける統制上の留意点 ②"],
        "bcp": ["経営管理編 3.4.1 事業継続計画（BCP：Business Continuity Plan）の整備と訓練 ①"],
        "bcp_drill": ["経営管理編 3.4.1 事業継続計画（BCP：Business Continuity Plan）の整備と訓練 ③"],
        "network_map": [
            "システム運用編 2. システム設計・運用に必要な規程類と文書体系 ②",
            "システム運用編 13. ネットワークに関する安全管理措置 ⑪",
        ],
        "vulnerability_information": ["経営管理編 3.4.2 情報共有・支援、情報収集 ②"],
        "backup_made": ["システム運用編 11. システム運用管理（通常時・非常時等） ①"],
        "offline_backup": ["システム運用編 18. 外部からの攻撃に対する安全管理措置 ①"],
        "backup_generations": ["システム運用編 11. システム運用管理（通常時・非常時等） ①"],
        "backup_methods": ["システム運用編 18. 外部からの攻撃に対する安全管理措置 ①"],
    }


def _broken(text: str, old: str, new: str) -> str:
    assert old in text
    return text.replace(old, new, 1)


@pytest.fixture(scope="module")
def source() -> str:
    path = Path(__file__).resolve().parents[2] / "src/datahealth/survey/definitions/cyber_fy2024_scoring.yaml"
    return path.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("old", "new", "code"),
    [
        ("meets: \"${q2_1} = 'yes'\"", 'meets: "${q2_1} = \'yes"', "DH-R102"),
        ("meets: \"${q4} = 'yes'\"", "meets: \"${q44} = 'yes'\"", "DH-R103"),
        ("meets: \"${q5} = 'yes'\"", "meets: \"${q5} = 'maybe'\"", "DH-R104"),
        ("  - key: csirt\n", "  - key: ciso\n", "DH-R105"),
        ("    domain: governance\n    questions: [q4]", "    domain: nowhere\n    questions: [q4]", "DH-R105"),
        ("  - question: q3\n", "  - question: q33\n", "DH-R103"),
    ],
)
def test_map_problems_are_catalogued(source: str, old: str, new: str, code: str) -> None:
    scoring = parse_scoring(_broken(source, old, new))
    codes = [p.code for p in check_map(load_bundled("cyber-fy2024"), scoring)]
    assert code in codes


def test_unmapped_question_is_reported(source: str) -> None:
    scoring = parse_scoring(_broken(source, "  - question: q3\n    reason:", "  - question: q1_1\n    reason:"))
    problems = check_map(load_bundled("cyber-fy2024"), scoring)
    assert [(p.code, p.question) for p in problems] == [("DH-R106", "q3")]


def test_unreadable_map_is_r101() -> None:
    with pytest.raises(DefinitionError) as caught:
        parse_scoring("items: [unclosed")
    assert caught.value.code == "DH-R101"
    with pytest.raises(DefinitionError) as caught:
        parse_scoring("survey: x\n")
    assert caught.value.code == "DH-R101"
