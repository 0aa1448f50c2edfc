"""Scoring rules with hand-computed expectations (cyber-fy2024 map)."""

from __future__ import annotations

import pytest

import factories as f
from datahealth.analytics.mapping import load_scoring
from datahealth.analytics.scoring import Scorer
from datahealth.survey.definitions import load_bundled


@pytest.fixture(scope="module")
def scorer() -> Scorer:
    scoring = load_scoring("cyber-fy2024")
    assert scoring is not None
    return Scorer(load_bundled("cyber-fy2024"), scoring)


def answers(**changes: str | None) -> dict[str, str | list[str]]:
    base = f.complete_answers()
    for name, value in changes.items():
        if value is None:
            base.pop(name, None)
        else:
            base[name] = value
    return base


def test_complete_answers_hand_computed(scorer: Scorer) -> None:
    # complete_answers: Q6 no, Q7-2 no, Q11 no, Q14 no, Q13 = 13; everything else the "good" side.
    score = scorer.score(answers())
    not_met = {key for key, result in score.items.items() if result.status == "not_met"}
    assert not_met == {"mds_sds", "bcp_drill", "network_patches", "two_factor"}
    assert (score.met, score.applicable) == (16, 20)
    assert score.overall == pytest.approx(0.8)
    domains = {key: (d.met, d.applicable) for key, d in score.domains.items()}
    assert domains == {
        "governance": (4, 5),
        "incident_response": (1, 2),
        "assets_network": (2, 2),
        "vulnerability": (2, 3),
        "authentication": (2, 3),
        "contracts": (1, 1),
        "backup": (4, 4),
    }
    assert score.domains["governance"].score == pytest.approx(0.8)
    assert score.critical_gaps == ("bcp_drill", "network_patches", "two_factor")  # priority order
    assert score.risk_tier is None  # offline backup and a BCP
    assert score.indicators == {
        "offline_backup": "yes",
        "bcp_drill": "plan_only",
        "ciso": "yes",
        "csirt": "yes",
        "password_class": "ge13",
        "two_factor": "no",
    }
    assert score.numbers == {"q13": 13.0}


@pytest.mark.parametrize(
    ("length", "two_factor", "status", "explain"),
    [
        ("13", "no", "met", "13 桁以上"),
        ("20", "no", "met", "13 桁以上"),
        ("12", "yes", "met", "8～12 桁で二要素認証あり"),
        ("8", "yes", "met", "8～12 桁で二要素認証あり"),
        ("12", "no", "not_met", "8～12 桁で二要素認証なし"),
        ("8", "no", "not_met", "8～12 桁で二要素認証なし"),
        ("7", "yes", "not_met", "8 桁未満"),
        ("4", "no", "not_met", "8 桁未満"),
    ],
)
def test_password_rule(scorer: Scorer, length: str, two_factor: str, status: str, explain: str) -> None:
    result = scorer.score(answers(q13=length, q14=two_factor)).items["password_length"]
    assert result.status == status
    assert result.explain is not None and result.explain.ja == explain


def test_backup_rule(scorer: Scorer) -> None:
    offline_two_generations = scorer.score(answers(q17_6="yes", q17_5="g2")).items
    assert offline_two_generations["offline_backup"].status == "met"
    assert offline_two_generations["backup_generations"].status == "not_met"
    for generations in ("g3", "g4_6", "g7_plus"):
        assert scorer.score(answers(q17_5=generations)).items["backup_generations"].status == "met"
    assert scorer.score(answers(q17_4="m1")).items["backup_methods"].status == "not_met"

    no_backup = scorer.score(answers(q17_2="no"))  # Q17-3…6 are then not asked: nothing to meet with
    assert {k: no_backup.items[k].status for k in ("backup_made", "offline_backup", "backup_generations")} == {
        "backup_made": "not_met",
        "offline_backup": "not_met",
        "backup_generations": "not_met",
    }
    assert (no_backup.domains["backup"].met, no_backup.domains["backup"].applicable) == (0, 4)
    assert no_backup.indicators["offline_backup"] == "no_backup"


def test_backup_does_not_apply_without_an_emr(scorer: Scorer) -> None:
    score = scorer.score(answers(q17_1="no"))
    assert {
        score.items[k].status for k in ("backup_made", "offline_backup", "backup_generations", "backup_methods")
    } == {"not_applicable"}
    assert score.domains["backup"].score is None
    assert (score.met, score.applicable) == (12, 16)
    assert score.risk_tier is None  # no EMR: the ransomware tiers concern EMR users
    assert score.indicators["offline_backup"] == "no_emr"


def test_risk_tiers(scorer: Scorer) -> None:
    assert scorer.score(answers(q17_6="no", q7_1="no")).risk_tier == "highest"
    assert scorer.score(answers(q17_2="no", q7_1="no")).risk_tier == "highest"
    assert scorer.score(answers(q17_6="no")).risk_tier == "high"
    assert scorer.score(answers(q7_1="no")).risk_tier == "high"


def test_bcp_drill_needs_a_bcp(scorer: Scorer) -> None:
    score = scorer.score(answers(q7_1="no"))  # Q7-2 is then not asked
    assert (score.items["bcp"].status, score.items["bcp_drill"].status) == ("not_met", "not_met")
    assert score.indicators["bcp_drill"] == "none"
    assert scorer.score(answers(q7_2="yes")).items["bcp_drill"].status == "met"


def test_no_ciso_means_no_qualified_ciso(scorer: Scorer) -> None:
    score = scorer.score(answers(q2_1="no"))
    assert (score.items["ciso"].status, score.items["ciso_qualified"].status) == ("not_met", "not_met")


def test_unanswered_item_is_left_out(scorer: Scorer) -> None:
    score = scorer.score(answers(q5=None))
    assert score.items["csirt"].status == "unanswered"
    assert (score.met, score.applicable) == (15, 19)


def test_action_order_is_critical_first(scorer: Scorer) -> None:
    order = [item.key for item in scorer.prioritised()]
    assert order[:8] == [
        "backup_made",
        "offline_backup",
        "backup_generations",
        "bcp",
        "bcp_drill",
        "network_patches",
        "server_patches",
        "two_factor",
    ]
