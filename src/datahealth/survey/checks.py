"""Static checks of a survey definition's expressions, run before a definition is accepted.

* every ``relevant`` and ``constraint`` (of questions and sections) parses → else DH-D103;
* ``.`` appears only in constraints → else DH-D103;
* every ``${name}`` names a question of the survey → else DH-D104;
* a ``relevant`` reads only earlier questions (not itself, not later ones) → else DH-D106, because
  relevance is evaluated once, in document order;
* ``selected(${q}, 'x')`` and ``${q} = 'x'`` use a choice that ``q`` has → else DH-D107 (a typo
  would make the condition silently never hold).
"""

from __future__ import annotations

from datahealth.errors import DefinitionError, Problem
from datahealth.survey.expressions import Expression, ExpressionError, choice_comparisons, parse
from datahealth.survey.model import QuestionType, SurveyDefinition

_SINGLE_CHOICE = (QuestionType.YES_NO, QuestionType.SELECT_ONE)
_CHOICE_TYPES = (*_SINGLE_CHOICE, QuestionType.SELECT_MULTIPLE)


def check_definition(defn: SurveyDefinition) -> list[Problem]:
    """Every expression problem of ``defn``, in document order."""
    problems: list[Problem] = []
    everything = {question.name for question in defn.questions()}
    earlier: set[str] = set()
    context = _Context(defn, everything, problems)
    for section in defn.sections:
        context.relevant(section.relevant, section.name, earlier)
        for question in section.questions:
            context.relevant(question.relevant, question.display_code, earlier)
            context.constraint(question.constraint, question.display_code)
            earlier.add(question.name)
    return problems


def ensure_valid_definition(defn: SurveyDefinition) -> None:
    """Raise ``DefinitionError`` carrying every problem ``check_definition`` finds."""
    problems = check_definition(defn)
    if problems:
        raise DefinitionError(*problems)


class _Context:
    def __init__(self, defn: SurveyDefinition, everything: set[str], problems: list[Problem]) -> None:
        self.defn = defn
        self.everything = everything
        self.problems = problems

    def relevant(self, source: str | None, owner: str, earlier: set[str]) -> None:
        expr = self._parse(source, owner, "relevant")
        if expr is None:
            return
        if expr.uses_current:
            detail = "'.' can only be used in a constraint (「.」は制約条件でのみ使えます)"
            self._add("DH-D103", owner, "relevant", expression=expr.source, detail=detail)
            return
        for name in sorted(expr.references):
            if name not in self.everything:
                self._add("DH-D104", owner, "relevant", expression=expr.source, reference=name)
            elif name not in earlier:
                self._add("DH-D106", owner, "relevant", expression=expr.source, reference=name)
        self._choices(expr, owner, "relevant")

    def constraint(self, source: str | None, owner: str) -> None:
        expr = self._parse(source, owner, "constraint")
        if expr is None:
            return
        for name in sorted(expr.references):
            if name not in self.everything:
                self._add("DH-D104", owner, "constraint", expression=expr.source, reference=name)
        self._choices(expr, owner, "constraint")

    def _choices(self, expr: Expression, owner: str, column: str) -> None:
        for name, literal, is_equality in choice_comparisons(expr):
            if name not in self.everything:
                continue
            question = self.defn.question(name)
            # ``${q} = 'a b'`` is a legitimate test of a select_multiple's whole answer.
            if question.type not in (_SINGLE_CHOICE if is_equality else _CHOICE_TYPES):
                continue
            names = {choice.name for choice in self.defn.choices_for(question)}
            if literal not in names:
                self._add("DH-D107", owner, column, expression=expr.source, reference=name, value=literal)

    def _parse(self, source: str | None, owner: str, column: str) -> Expression | None:
        if source is None or not source.strip():
            return None
        try:
            return parse(source)
        except ExpressionError as exc:
            self._add("DH-D103", owner, column, expression=source, detail=str(exc))
            return None

    def _add(self, code: str, owner: str, column: str, **params: str) -> None:
        self.problems.append(Problem(code, dict(params), question=owner, field=column))
