"""The XLSForm expression evaluator: parsing, XPath semantics, limits and safety."""

from __future__ import annotations

import builtins
import math
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from datahealth.survey.expressions import (
    MAX_DEPTH,
    MAX_LENGTH,
    Expression,
    ExpressionError,
    choice_comparisons,
    evaluate,
    evaluate_bool,
    format_number,
    parse,
    to_sexpr,
)


def ev(source: str, values: dict[str, Any] | None = None, current: Any = None) -> bool | float | str:
    return evaluate(parse(source), values or {}, current)


def same(a: bool | float | str, b: bool | float | str) -> bool:
    """Equality where NaN equals NaN and the types must agree (True is not 1.0)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        return math.isnan(b)
    return a == b


# --- parsing --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "tree"),
    [
        ("1 + 2 * 3", "(+ 1 (* 2 3))"),
        ("(1 + 2) * 3", "(* (+ 1 2) 3)"),
        ("2 - 1 - 1", "(- (- 2 1) 1)"),
        ("8 div 4 div 2", "(div (div 8 4) 2)"),
        ("7 mod 4 * 2", "(* (mod 7 4) 2)"),
        ("-2 * 3", "(* (- 2) 3)"),
        ("- - 2", "(- (- 2))"),
        ("1 - -2", "(- 1 (- 2))"),
        ("1 + 2 < 4", "(< (+ 1 2) 4)"),
        ("1 < 2 = true()", "(= (< 1 2) (true))"),
        ("${a} = 'x' and ${b} != 'y'", "(and (= ${a} 'x') (!= ${b} 'y'))"),
        ("true() or false() and false()", "(or (true) (and (false) (false)))"),
        ("true() or false() or true()", "(or (or (true) (false)) (true))"),
        (". >= 0 and . <= 100", "(and (>= . 0) (<= . 100))"),
        ("1.5 + .5", "(+ 1.5 0.5)"),
        ("\"double\" = 'single'", "(= 'double' 'single')"),
        ("selected(${q}, 'a')", "(selected ${q} 'a')"),
        ("count-selected(${q}) >= 2", "(>= (count-selected ${q}) 2)"),
        ("if(${a} = 'yes', 1, 2)", "(if (= ${a} 'yes') 1 2)"),
        ("1 div-1", "(div 1 (- 1))"),
        ("  ${a}\n=\t'x'  ", "(= ${a} 'x')"),
    ],
)
def test_precedence_and_associativity(source: str, tree: str) -> None:
    assert to_sexpr(parse(source)) == tree


def test_expression_records_references_and_current() -> None:
    expr = parse("${a} = 'x' or selected(${b}, 'y') or ${a} = .")
    assert isinstance(expr, Expression)
    assert expr.references == frozenset({"a", "b"})
    assert expr.uses_current
    assert not parse("${a} = 'x'").uses_current
    assert parse("'.' = '.'").references == frozenset()
    assert not parse("'.' = '.'").uses_current


def test_parse_is_cached() -> None:
    assert parse("${cached} = 'x'") is parse("${cached} = 'x'")


@pytest.mark.parametrize(
    ("source", "position"),
    [
        ("", 0),
        ("   ", 0),
        ("1 +", 3),
        ("(1 + 2", 6),
        ("1 + 2)", 5),
        ("1 2", 2),
        ("'abc", 0),
        ('${a} = "abc', 7),
        ("${a", 0),
        ("${1a} = 1", 0),
        ("$a = 1", 0),
        ("a = 1", 0),
        ("${a} = yes", 7),
        ("1 / 2", 2),
        ("1 | 2", 2),
        ("1e3", 0),
        ("${a} ＝ 'x'", 5),
        ("１３ = 13", 0),
        ("${a} = 'x' and", 14),
        ("and 1", 0),
        ("foo(1)", 0),
        ("not()", 0),
        ("not(1, 2)", 0),
        ("true(1)", 0),
        ("selected(${a})", 0),
        ("if(1, 2)", 0),
        ("round(1, 2, 3)", 0),
        ("concat()", 0),
        ("selected(${a}, 'x'", 18),
        ("f(", 0),
        ("1 !! 2", 2),
        ("..", 1),
        ("1 + (2 * )", 9),
        ("regex(., '^a+$')", 0),
    ],
)
def test_syntax_errors_report_position(source: str, position: int) -> None:
    with pytest.raises(ExpressionError) as caught:
        parse(source)
    assert caught.value.position == position
    assert caught.value.detail
    assert str(position) in str(caught.value)


@pytest.mark.parametrize(
    "source",
    [
        "__import__('os')",
        "__import__('os').system('true')",
        "eval('1')",
        "exec('x = 1')",
        "open('/etc/passwd')",
        "${a}.__class__",
        "1; import os",
        "lambda: 1",
        "[1, 2]",
        "{'a': 1}",
        "'a'.upper()",
        "${a} = 'x' # comment",
        "1 if 1 else 2",
    ],
)
def test_python_is_not_an_expression(source: str) -> None:
    with pytest.raises(ExpressionError):
        parse(source)


def test_never_uses_python_eval(monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("eval/exec/compile must not be used")

    monkeypatch.setattr(builtins, "eval", forbidden)
    monkeypatch.setattr(builtins, "exec", forbidden)
    monkeypatch.setattr(builtins, "compile", forbidden)
    expr = parse("if(selected(${never_seen_before}, 'b'), concat(., '!'), round(2.675, 2) * 2)")
    assert evaluate(expr, {"never_seen_before": ["a", "b"]}, "x") == "x!"
    assert evaluate(expr, {}, "x") == 5.36


# --- limits ---------------------------------------------------------------------------------------


def test_length_limit() -> None:
    longest = "1" + " " * (MAX_LENGTH - 1)
    assert ev(longest) == 1.0
    with pytest.raises(ExpressionError) as caught:
        parse(longest + " ")
    assert caught.value.position == MAX_LENGTH


def test_nesting_limit() -> None:
    assert ev("(" * MAX_DEPTH + "1" + ")" * MAX_DEPTH) == 1.0
    with pytest.raises(ExpressionError):
        parse("(" * (MAX_DEPTH + 1) + "1" + ")" * (MAX_DEPTH + 1))
    with pytest.raises(ExpressionError):
        parse("not(" * (MAX_DEPTH + 1) + "1" + ")" * (MAX_DEPTH + 1))
    with pytest.raises(ExpressionError):
        parse("- " * (MAX_DEPTH + 1) + "1")
    # Deep trees without parentheses are caught too: 1 = (1 = (… is built by if() here.
    with pytest.raises(ExpressionError):
        parse("if(1, " * (MAX_DEPTH + 1) + "1" + ", 0)" * (MAX_DEPTH + 1))


def test_parenthesis_bomb_within_length_is_rejected_cheaply() -> None:
    with pytest.raises(ExpressionError):
        parse("(" * 999 + "1" + ")" * 999)


def test_long_flat_chains_are_not_deep() -> None:
    source = " or ".join(f"selected(${{q}}, 'c{i}')" for i in range(80))
    assert len(source) <= MAX_LENGTH
    assert evaluate_bool(parse(source), {"q": ["c79"]})
    assert ev("+".join(["1"] * 900)) == 900.0


# --- values ---------------------------------------------------------------------------------------


def test_references_read_answers_as_strings() -> None:
    assert ev("${a}", {"a": "13"}) == "13"
    assert ev("${a}", {}) == ""
    assert ev("${a}", {"a": None}) == ""
    assert ev("${a}", {"a": ["x", "y"]}) == "x y"
    assert ev("${a}", {"a": []}) == ""
    assert ev(".", {}, "5") == "5"
    assert ev(".", {}, None) == ""
    assert ev(".", {}, ["a", "b"]) == "a b"


def test_literals() -> None:
    assert ev('"it\'s"') == "it's"
    assert ev("'say \"hi\"'") == 'say "hi"'
    assert ev("0013") == 13.0
    assert ev("1.") == 1.0
    assert ev(".25") == 0.25


def test_adjacent_strings_are_an_error() -> None:
    with pytest.raises(ExpressionError):
        parse("'it''s'")


# --- XPath comparisons ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "values", "expected"),
    [
        # string = string compares text
        ("${a} = 'yes'", {"a": "yes"}, True),
        ("${a} = 'yes'", {"a": "Yes"}, False),
        ("${a} = '13'", {"a": "13.0"}, False),
        ("${a} != 'yes'", {}, True),
        ("${a} = ''", {}, True),
        ("${a} = ${b}", {"a": "x", "b": "x"}, True),
        # a number on either side compares numbers
        ("${a} = 13", {"a": "13.0"}, True),
        ("13 = ${a}", {"a": " 13 "}, True),
        ("${a} = 13", {"a": "１３"}, False),
        ("${a} != 13", {"a": "１３"}, True),
        ("${a} = 0", {}, False),
        ("${a} != 0", {}, True),
        ("${a} + 0 = ${b}", {"a": "2", "b": "2.0"}, True),
        # relational operators always compare numbers
        ("${a} > 5", {"a": "13"}, True),
        ("${a} > ${b}", {"a": "13", "b": "5"}, True),  # not text order ("13" < "5")
        ("'10' < '9'", {}, False),
        ("${a} < 5", {}, False),
        ("${a} >= 5", {}, False),
        ("${a} < 5", {"a": "abc"}, False),
        ("${a} > -1", {"a": "-0.5"}, True),
        ("${a} <= 1", {"a": "1."}, True),
        ("${a} > 1", {"a": "1e3"}, False),
        ("${a} > 1", {"a": "1,000"}, False),
        # a boolean on either side compares booleans
        ("${a} = true()", {"a": "no"}, True),
        ("${a} = true()", {}, False),
        ("0 = false()", {}, True),
        ("'0' = true()", {}, True),
        ("1 = true()", {}, True),
        ("true() > false()", {}, True),
        ("true() = 'false'", {}, True),
        # NaN compares false except !=
        ("number('x') = number('x')", {}, False),
        ("number('x') != number('x')", {}, True),
        ("number('x') <= 0 or number('x') >= 0", {}, False),
    ],
)
def test_xpath_comparisons(source: str, values: dict[str, Any], expected: bool) -> None:
    assert ev(source, values) is expected


def test_select_multiple_compares_as_joined_string() -> None:
    assert ev("${m} = 'a b'", {"m": ["a", "b"]}) is True
    assert ev("${m} = 'a'", {"m": ["a", "b"]}) is False


# --- arithmetic -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("1 + 2 * 3", 7.0),
        ("10 - 4 - 3", 3.0),
        ("7 div 2", 3.5),
        ("7 mod 3", 1.0),
        ("-7 mod 3", -1.0),
        ("7 mod -3", 1.0),
        ("5.5 mod 2", 1.5),
        ("1 div 0", math.inf),
        ("-1 div 0", -math.inf),
        ("0 div 0", math.nan),
        ("1 mod 0", math.nan),
        ("'' + 1", math.nan),
        ("'abc' * 2", math.nan),
        ("true() + true()", 2.0),
        ("-'3'", -3.0),
        ("- ${missing}", math.nan),
        ("1 div 0 - 1 div 0", math.nan),
    ],
)
def test_arithmetic(source: str, expected: float) -> None:
    assert same(ev(source), expected)


def test_arithmetic_on_answers() -> None:
    assert ev("${a} + ${b}", {"a": "2", "b": "3"}) == 5.0
    assert ev("${a} * 2", {"a": "1.5"}) == 3.0
    assert same(ev("${a} + 1", {"a": "１"}), math.nan)


# --- functions ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "values", "expected"),
    [
        ("selected(${m}, 'b')", {"m": ["a", "b"]}, True),
        ("selected(${m}, 'c')", {"m": ["a", "b"]}, False),
        ("selected(${m}, 'a')", {"m": "a b"}, True),
        ("selected(${m}, 'a b')", {"m": ["a", "b"]}, False),
        ("selected(${m}, 'a')", {}, False),
        ("selected(${m}, 'ab')", {"m": ["a", "b"]}, False),
        ("selected(${s}, 'yes')", {"s": "yes"}, True),
        ("count-selected(${m})", {"m": ["a", "b", "c"]}, 3.0),
        ("count-selected(${m})", {"m": []}, 0.0),
        ("count-selected(${m})", {}, 0.0),
        ("count-selected(${m})", {"m": "a  b"}, 2.0),
        ("not(${a} = 'x')", {"a": "x"}, False),
        ("not('')", {}, True),
        ("not(0)", {}, True),
        ("true()", {}, True),
        ("false()", {}, False),
        ("boolean('')", {}, False),
        ("boolean('false')", {}, True),
        ("boolean(0)", {}, False),
        ("boolean(0 div 0)", {}, False),
        ("boolean(-1)", {}, True),
        ("boolean(${a})", {}, False),
        ("boolean(${a})", {"a": "0"}, True),
        ("number('13')", {}, 13.0),
        ("number(' -1.5 ')", {}, -1.5),
        ("number('.5')", {}, 0.5),
        ("number(true())", {}, 1.0),
        ("number(false())", {}, 0.0),
        ("int(3.7)", {}, 3.0),
        ("int(-3.7)", {}, -3.0),
        ("int('12abc')", {}, math.nan),
        ("int(1 div 0)", {}, math.inf),
        ("string(13)", {}, "13"),
        ("string(1.5)", {}, "1.5"),
        ("string(-0.25)", {}, "-0.25"),
        ("string(0.0000001)", {}, "0.0000001"),
        ("string(1 div 0)", {}, "Infinity"),
        ("string(-1 div 0)", {}, "-Infinity"),
        ("string(0 div 0)", {}, "NaN"),
        ("string(true())", {}, "true"),
        ("string(1 = 2)", {}, "false"),
        ("string(${a})", {"a": ["x", "y"]}, "x y"),
        ("string-length('病院')", {}, 2.0),
        ("string-length(${a})", {}, 0.0),
        ("string-length(.)", {}, 0.0),
        ("string-length(123)", {}, 3.0),
        ("concat('a')", {}, "a"),
        ("concat('a', ${b}, 1, true())", {"b": "B"}, "aB1true"),
        ("if(${a} = 'yes', 'on', 'off')", {"a": "yes"}, "on"),
        ("if(${a} = 'yes', 'on', 'off')", {}, "off"),
        ("if('', 1, 2)", {}, 2.0),
        ("coalesce(${a}, 'none')", {}, "none"),
        ("coalesce(${a}, 'none')", {"a": "x"}, "x"),
        ("coalesce('', ${b})", {}, ""),
        ("contains(${a}, 'VPN')", {"a": "SSL-VPN装置"}, True),
        ("contains(${a}, 'vpn')", {"a": "SSL-VPN装置"}, False),
        ("contains('abc', '')", {}, True),
        ("starts-with(${a}, 'Q2')", {"a": "Q2-1"}, True),
        ("starts-with(${a}, '2')", {"a": "Q2-1"}, False),
        ("round(2.5)", {}, 3.0),
        ("round(-2.5)", {}, -2.0),
        ("round(2.4999)", {}, 2.0),
        ("round(0.49999999999999994)", {}, 0.0),
        ("round(1 div 0)", {}, math.inf),
        ("round('x')", {}, math.nan),
        ("round(2.675, 2)", {}, 2.68),
        ("round(-2.675, 2)", {}, -2.68),
        ("round(1234.5, 0)", {}, 1235.0),
        ("round(1234, -2)", {}, 1200.0),
        ("round(1.23456, 400)", {}, 1.23456),
        ("round(1234, -400)", {}, 0.0),
        ("round(1.5, 'x')", {}, math.nan),
        ("round(${a}, 1)", {"a": "3.14159"}, 3.1),
    ],
)
def test_functions(source: str, values: dict[str, Any], expected: bool | float | str) -> None:
    assert same(ev(source, values), expected)


def test_if_and_coalesce_are_lazy() -> None:
    # The branch not taken is never evaluated: a deliberately broken function would show it.
    assert ev("if(true(), 1, round(1, 1 div 0))") == 1.0
    assert ev("coalesce('x', round(1, 1 div 0))") == "x"


class ExplodingAnswers(dict[str, str]):
    def get(self, key: str, default: object = None) -> str:
        raise RuntimeError("storage went away")


def test_foreign_failures_surface_as_expression_errors() -> None:
    with pytest.raises(ExpressionError) as caught:
        evaluate(parse("${a} = 'x'"), ExplodingAnswers())
    assert isinstance(caught.value.__cause__, RuntimeError)


def test_evaluate_bool_is_xpath_boolean() -> None:
    assert evaluate_bool(parse("${a}"), {"a": "no"}) is True
    assert evaluate_bool(parse("${a}"), {}) is False
    assert evaluate_bool(parse("0 div 0"), {}) is False
    assert evaluate_bool(parse("2"), {}) is True
    assert evaluate_bool(parse(". <= 100"), {}, "99") is True
    assert evaluate_bool(parse(". <= 100"), {}, "１００") is False


def test_full_width_digits_are_not_numbers() -> None:
    assert same(ev("number('１３')"), math.nan)
    assert same(ev("number(.)", current="１３"), math.nan)
    assert same(ev("number('١٣')"), math.nan)  # Arabic-Indic digits neither
    assert ev(". > 0", current="１") is False


@pytest.mark.parametrize(
    ("number", "text"),
    [
        (0.0, "0"),
        (-0.0, "0"),
        (13.0, "13"),
        (1e21, "1000000000000000000000"),
        (0.1, "0.1"),
        (1e-7, "0.0000001"),
    ],
)
def test_format_number(number: float, text: str) -> None:
    assert format_number(number) == text


def test_choice_comparisons() -> None:
    expr = parse("selected(${m}, ' a ') or ${s} = 'yes' or 'no' != ${t} or ${u} = '' or ${v} = ${w}")
    assert choice_comparisons(expr) == [("m", "a", False), ("s", "yes", True), ("t", "no", True)]


# --- properties -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Num:
    value: int


@dataclass(frozen=True)
class Neg:
    operand: Tree


@dataclass(frozen=True)
class Op:
    op: str
    left: Tree
    right: Tree


Tree = Num | Neg | Op

PRECEDENCE = {"+": 1, "-": 1, "*": 2, "div": 2, "mod": 2}


def reference(tree: Tree) -> float:
    """What XPath says the arithmetic is worth, computed without the code under test."""
    if isinstance(tree, Num):
        return float(tree.value)
    if isinstance(tree, Neg):
        return -reference(tree.operand)
    a, b = reference(tree.left), reference(tree.right)
    if tree.op == "+":
        return a + b
    if tree.op == "-":
        return a - b
    if tree.op == "*":
        return a * b
    if tree.op == "div":
        try:
            return a / b
        except ZeroDivisionError:
            return math.nan if a == 0 or math.isnan(a) else math.copysign(math.inf, a) * math.copysign(1, b)
    if b == 0 or math.isnan(a) or math.isnan(b) or math.isinf(a):
        return math.nan
    return a if math.isinf(b) else math.fmod(a, b)


def render(tree: Tree, minimal: bool) -> str:
    """Source text; ``minimal`` leaves out every parenthesis precedence makes unnecessary."""
    if isinstance(tree, Num):
        return str(tree.value)
    if isinstance(tree, Neg):
        inner = render(tree.operand, minimal)
        return f"-{inner}" if isinstance(tree.operand, Num | Neg) else f"-({inner})"
    level = PRECEDENCE[tree.op]
    left, right = render(tree.left, minimal), render(tree.right, minimal)
    if not minimal or (isinstance(tree.left, Op) and PRECEDENCE[tree.left.op] < level):
        left = f"({left})"
    if not minimal or (isinstance(tree.right, Op) and PRECEDENCE[tree.right.op] <= level):
        right = f"({right})"
    return f"{left} {tree.op} {right}"


trees: st.SearchStrategy[Tree] = st.recursive(
    st.builds(Num, st.integers(min_value=0, max_value=10**6) | st.sampled_from([0, 1, 2, 3])),
    lambda inner: st.builds(Neg, inner) | st.builds(Op, st.sampled_from(sorted(PRECEDENCE)), inner, inner),
    max_leaves=12,
)


@given(trees, st.booleans())
@settings(max_examples=400)
def test_arithmetic_matches_reference(tree: Tree, minimal: bool) -> None:
    source = render(tree, minimal)
    result = ev(source)
    assert isinstance(result, float)
    assert same(result, reference(tree)), source


@given(trees, trees, st.sampled_from(["=", "!=", "<", "<=", ">", ">="]))
def test_comparisons_match_reference(left: Tree, right: Tree, op: str) -> None:
    a, b = reference(left), reference(right)
    expected = {
        "=": a == b,
        "!=": a != b,
        "<": a < b,
        "<=": a <= b,
        ">": a > b,
        ">=": a >= b,
    }[op]
    assert ev(f"{render(left, True)} {op} {render(right, True)}") is expected


@given(st.integers(min_value=-(10**9), max_value=10**9))
def test_integer_text_round_trips(number: int) -> None:
    assert ev("number(${a}) = ${a}", {"a": str(number)}) is True
    assert ev("string(number(${a}))", {"a": str(number)}) == str(number)


FRAGMENTS = [
    "${a}",
    "${b}",
    ".",
    "1",
    "0",
    "-",
    "+",
    "*",
    " div ",
    " mod ",
    " and ",
    " or ",
    "=",
    "!=",
    "<",
    ">=",
    "(",
    ")",
    ",",
    "'x'",
    "'1'",
    "selected(",
    "count-selected(",
    "round(",
    "if(",
    "not(",
    "concat(",
    "number(",
    "string-length(",
    "coalesce(",
    "1 div 0",
    "true()",
    "１",
    "$",
    "{",
    "'",
    '"',
    "..",
    " ",
]


@given(st.text(max_size=300) | st.lists(st.sampled_from(FRAGMENTS), max_size=40).map("".join))
@settings(max_examples=600)
def test_only_expression_errors_escape(source: str) -> None:
    values: dict[str, str | list[str] | None] = {"a": ["x", "1"], "b": "１３"}
    try:
        result = evaluate(parse(source), values, current="2")
    except ExpressionError as exc:
        assert isinstance(exc.position, int)
        assert 0 <= exc.position <= len(source) or exc.position == MAX_LENGTH
        return
    assert isinstance(result, bool | float | str)


@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=50), st.text(max_size=50))
def test_evaluate_any_answer_text(answer: str, current: str) -> None:
    expr = parse("${a} > 1 or selected(${a}, 'x') or string-length(.) + number(.) = count-selected(${a})")
    assert isinstance(evaluate(expr, {"a": answer}, current), bool)
