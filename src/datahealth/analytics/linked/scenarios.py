"""Planted scenarios: monthly service-use shares around an index event, with known ground truth.

``STROKE`` is the table of seed 004 (保健医療データプラットフォーム, 松田晋哉教授の分析):
ある自治体における脳梗塞のために急性期病院で入院治療を受けた患者の入院前後6ヶ月サービスの利用状況.
Transcribed exactly: column labels as printed (including "連携" and "脳卒中 連携バス"), shares in percent.
"""

from __future__ import annotations

from dataclasses import dataclass

OFFSETS: tuple[int, ...] = tuple(range(-6, 7))

STROKE_TITLE = "ある自治体における脳梗塞のために急性期病院で入院治療を受けた患者の入院前後6ヶ月サービスの利用状況"

# service key, label as printed in the seed
STROKE_SERVICES: tuple[tuple[str, str], ...] = (
    ("general_ward", "一般病棟入院"),
    ("rehab_ward", "回復期入院"),
    ("longterm_ward", "療養入院"),
    ("home_visit", "訪問診療"),
    ("home_nursing_medical", "訪問看護 医療"),
    ("pneumonia", "肺炎"),
    ("dementia", "認知症"),
    ("care_insurance", "介護保険"),
    ("home_care", "訪問介護"),
    ("home_nursing_care", "訪問看護"),
    ("day_care", "通所介護"),
    ("tokuyo", "特養"),
    ("roken", "老健施設"),
    ("liaison", "連携"),
    ("stroke_pathway", "脳卒中 連携バス"),
)

# rows: 経過月 -6 … 6; columns in the order of STROKE_SERVICES; percent as printed
_STROKE_ROWS: tuple[tuple[float, ...], ...] = (
    (13.8, 0.0, 5.0, 8.8, 2.5, 10.0, 18.8, 40.0, 12.5, 2.5, 8.8, 2.5, 2.5, 1.3, 0.0),
    (7.5, 0.0, 5.0, 13.8, 1.3, 5.0, 20.0, 45.0, 11.3, 1.3, 11.3, 5.0, 3.8, 1.3, 0.0),
    (13.8, 1.3, 6.3, 13.8, 1.3, 8.8, 20.0, 46.3, 11.3, 1.3, 12.5, 5.0, 3.8, 0.0, 0.0),
    (12.5, 5.0, 6.3, 15.0, 2.5, 11.3, 21.3, 47.5, 11.3, 0.0, 13.8, 6.3, 3.8, 1.3, 0.0),
    (17.5, 7.5, 6.3, 15.0, 1.3, 15.0, 25.0, 51.3, 13.8, 0.0, 17.5, 6.3, 5.0, 1.3, 0.0),
    (20.0, 7.5, 5.0, 16.3, 1.3, 11.3, 27.5, 53.8, 11.3, 1.3, 15.0, 7.5, 5.0, 0.0, 0.0),
    (100.0, 40.0, 7.5, 11.3, 2.5, 26.3, 35.0, 48.8, 10.0, 0.0, 16.3, 7.5, 5.0, 1.3, 1.3),
    (48.8, 65.0, 12.5, 7.5, 3.8, 33.8, 21.3, 21.3, 3.8, 0.0, 8.8, 1.3, 2.5, 3.8, 1.3),
    (43.8, 68.8, 17.5, 7.5, 2.5, 37.5, 25.0, 37.5, 8.8, 2.5, 12.5, 3.8, 3.8, 0.0, 5.0),
    (27.5, 51.3, 18.8, 11.3, 2.5, 28.8, 21.3, 43.8, 8.8, 2.5, 15.0, 5.0, 3.8, 5.0, 1.3),
    (30.0, 33.8, 20.0, 13.8, 2.5, 31.3, 26.3, 60.0, 15.0, 2.5, 18.8, 6.3, 7.5, 1.3, 2.5),
    (25.0, 17.5, 17.5, 15.0, 3.8, 22.5, 22.5, 71.3, 15.0, 1.3, 23.8, 6.3, 13.8, 0.0, 0.0),
    (31.3, 6.3, 21.3, 13.8, 3.8, 27.5, 21.3, 72.5, 17.5, 1.3, 23.8, 5.0, 15.0, 0.0, 0.0),
)


@dataclass(frozen=True)
class Scenario:
    """Shares (0–1) of an index-event cohort using each service in each month around the event."""

    name: str
    title: str
    services: tuple[tuple[str, str], ...]
    shares: dict[str, dict[int, float]]  # service key -> offset -> share
    index_icd10: str
    cohort_fraction: float
    """Fraction of generated persons (aged 65+) who get the index event."""

    def share(self, service: str, offset: int) -> float:
        return self.shares[service][offset]


def _stroke() -> Scenario:
    shares: dict[str, dict[int, float]] = {key: {} for key, _ in STROKE_SERVICES}
    for offset, row in zip(OFFSETS, _STROKE_ROWS, strict=True):
        for (key, _label), percent in zip(STROKE_SERVICES, row, strict=True):
            shares[key][offset] = percent / 100
    return Scenario("stroke", STROKE_TITLE, STROKE_SERVICES, shares, "I63", 0.02)


SCENARIOS: dict[str, Scenario] = {"stroke": _stroke()}
