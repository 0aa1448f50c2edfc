"""Surveys bundled with the platform, as data.

Each bundled survey is a YAML file in this package that validates as a
:class:`~datahealth.survey.model.SurveyDefinition`. ``BUNDLED`` maps the survey id to its file name.
"""

from __future__ import annotations

import pathlib
from importlib import resources

import yaml

from datahealth.survey.model import SurveyDefinition

BUNDLED: dict[str, str] = {
    "cyber-fy2024": "cyber_fy2024.yaml",
    "cyber-fy2023": "cyber_fy2023.yaml",  # a model of the previous year's survey, for year-over-year reports
}
"""Survey id → file name inside this package."""


def bundled_ids() -> list[str]:
    """The ids of the bundled surveys, sorted."""
    return sorted(BUNDLED)


def _filename(survey_id: str) -> str:
    try:
        return BUNDLED[survey_id]
    except KeyError:
        known = ", ".join(bundled_ids())
        raise KeyError(f"no bundled survey {survey_id!r} (bundled: {known})") from None


def bundled_path(survey_id: str) -> pathlib.Path:
    """The file system path of a bundled survey's YAML file. Raises ``KeyError`` for unknown ids."""
    filename = _filename(survey_id)
    return pathlib.Path(str(resources.files(__name__).joinpath(filename)))


def load_bundled(survey_id: str) -> SurveyDefinition:
    """Read and validate a bundled survey. Raises ``KeyError`` for unknown ids."""
    filename = _filename(survey_id)
    text = resources.files(__name__).joinpath(filename).read_text(encoding="utf-8")
    return SurveyDefinition.model_validate(yaml.safe_load(text))
