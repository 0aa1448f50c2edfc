"""Every input of every section is labelled, and what it points to exists (checked on the served HTML)."""

from __future__ import annotations

from html.parser import HTMLParser

import factories as f
from datahealth.survey.definitions import load_bundled

DEFN = load_bundled("cyber-fy2024")


class _Inputs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.ids: set[str] = set()
        self.label_for: set[str] = set()
        self.inputs: list[tuple[dict[str, str], bool, bool]] = []  # attrs, inside <label>, inside fieldset w/ legend
        self.legends = 0
        self.fieldsets: list[bool] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if "id" in values:
            self.ids.add(values["id"])
        if tag == "label" and "for" in values:
            self.label_for.add(values["for"])
        if tag == "fieldset":
            self.fieldsets.append(False)
        if tag == "legend" and self.fieldsets:
            self.fieldsets[-1] = True
        if tag in ("input", "select", "textarea"):
            self.inputs.append((values, "label" in self.stack, bool(self.fieldsets and self.fieldsets[-1])))
        if tag not in ("input", "meta", "link", "br", "img"):
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag == "fieldset" and self.fieldsets:
            self.fieldsets.pop()
        if tag in self.stack:
            while self.stack and self.stack.pop() != tag:
                pass


def test_every_field_of_every_section_is_labelled(browser, world):
    browser.login("hosp-a")
    browser.get(f"/surveys/{world.survey_id}/s/respondent")
    answers = f.complete_answers()
    for section in DEFN.sections:  # answer everything so that every conditional question is on the page
        shown = [q.name for q in section.questions if q.answerable]
        browser.post(f"/surveys/{world.survey_id}/s/{section.name}",
                     {"_shown": shown, **{k: v for k, v in answers.items() if k in shown}})
    for section in DEFN.sections:
        page = browser.get(f"/surveys/{world.survey_id}/s/{section.name}")
        parser = _Inputs()
        parser.feed(page.text)
        visible = [(a, in_label, in_fs) for a, in_label, in_fs in parser.inputs if a.get("type") != "hidden"]
        assert visible, section.name
        for attrs, in_label, in_fieldset in visible:
            if attrs.get("type") in ("radio", "checkbox"):
                assert in_label and in_fieldset, (section.name, attrs)
            else:
                assert attrs.get("id") in parser.label_for, (section.name, attrs)
            for target in attrs.get("aria-describedby", "").split():
                assert target in parser.ids, (section.name, target)
        expected = {q.name for q in section.questions if q.answerable}
        assert expected <= {a["name"] for a, _, _ in visible if "name" in a}, section.name


def test_pages_have_language_skip_link_and_main_landmark(browser, world):
    browser.login("hosp-a")
    for url in ("/", f"/surveys/{world.survey_id}/s/governance", f"/surveys/{world.survey_id}/review", "/login"):
        page = browser.get(url)
        assert '<html lang="ja">' in page.text
        assert 'href="#main"' in page.text and '<main id="main"' in page.text
