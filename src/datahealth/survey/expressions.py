"""A safe evaluator for XLSForm expressions (the ``relevant`` and ``constraint`` columns).

The source is tokenized and parsed by hand into a small immutable tree, then evaluated by walking
that tree. Nothing is ever handed to Python's ``eval``/``exec``/``compile``: an expression can only
read answers and call the handful of functions listed in ``FUNCTIONS``.

Semantics follow ODK's XPath 1.0 as XLSForm authors expect it:

* ``${name}`` is the answer of question ``name`` as a string; unanswered is ``""`` and a
  select_multiple answer is its chosen names joined by spaces. ``.`` is the answer being checked.
* ``or`` < ``and`` < ``=`` ``!=`` < ``<`` ``<=`` ``>`` ``>=`` < ``+`` ``-`` < ``*`` ``div`` ``mod``
  < unary ``-``; every binary operator is left-associative.
* ``=``/``!=`` compare as booleans when either side is a boolean, else as numbers when either side
  is a number, else as strings. ``<`` ``<=`` ``>`` ``>=`` always compare numbers. A string that is
  not a plain half-width number (``"13"``, ``"-1.5"``) is NaN, and NaN compares false except ``!=``.
* Division by zero gives Infinity or NaN, as in XPath; evaluation never raises anything but
  ``ExpressionError``.

Limits keep hostile input cheap: at most ``MAX_LENGTH`` characters, ``MAX_DEPTH`` levels of nesting,
and no regular-expression function.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Context, Decimal
from functools import lru_cache

MAX_LENGTH = 2000
MAX_DEPTH = 50

Value = bool | float | str
"""What an expression evaluates to: XPath's boolean, number and string."""

AnswerLike = str | list[str] | None


class ExpressionError(Exception):
    """An expression that cannot be parsed or evaluated; ``position`` is a 0-based offset into the source."""

    def __init__(self, detail: str, position: int = 0) -> None:
        self.detail = detail
        self.position = position
        super().__init__(f"{detail} (at position {position})")


# --- the tree -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NumberLiteral:
    value: float
    position: int


@dataclass(frozen=True, slots=True)
class StringLiteral:
    value: str
    position: int


@dataclass(frozen=True, slots=True)
class Reference:
    """``${name}``."""

    name: str
    position: int


@dataclass(frozen=True, slots=True)
class Current:
    """``.``, the answer being checked by a constraint."""

    position: int


@dataclass(frozen=True, slots=True)
class Negate:
    operand: Node
    position: int


@dataclass(frozen=True, slots=True)
class Chain:
    """Operators of one precedence level applied left to right: ``first op1 x1 op2 x2 …``.

    Keeping a run such as ``a or b or c …`` flat keeps the tree shallow, so long lists of
    alternatives do not count against the nesting limit.
    """

    first: Node
    rest: tuple[tuple[str, Node], ...]
    position: int


@dataclass(frozen=True, slots=True)
class Call:
    name: str
    args: tuple[Node, ...]
    position: int


Node = NumberLiteral | StringLiteral | Reference | Current | Negate | Chain | Call


@dataclass(frozen=True)
class Expression:
    """A parsed expression: its source, the question names it reads and whether it uses ``.``."""

    source: str
    references: frozenset[str]
    uses_current: bool
    root: Node = field(repr=False, compare=False)


# --- tokens ---------------------------------------------------------------------------------------

_WHITESPACE = " \t\r\n"
_KEYWORD_OPERATORS = frozenset({"and", "or", "div", "mod"})
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:-[A-Za-z][A-Za-z0-9_]*)*")
_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_NUMBER_LITERAL = re.compile(r"[0-9]+(?:\.[0-9]*)?|\.[0-9]+")
_EXPONENT = re.compile(r"[eE][+-]?[0-9]")
_NUMBER_TEXT = re.compile(r"[ \t\r\n]*(-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))[ \t\r\n]*")


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # number, string, ref, dot, name, op, "(", ")", ",", end
    text: str
    position: int


def _tokenize(source: str) -> list[_Token]:
    tokens: list[_Token] = []
    i = 0
    n = len(source)
    while i < n:
        ch = source[i]
        if ch in _WHITESPACE:
            i += 1
            continue
        if "0" <= ch <= "9" or (ch == "." and i + 1 < n and "0" <= source[i + 1] <= "9"):
            match = _NUMBER_LITERAL.match(source, i)
            if match is None:  # unreachable: the branch condition guarantees a digit
                raise ExpressionError("malformed number", i)
            if _EXPONENT.match(source, match.end()):
                raise ExpressionError("exponent notation (1e3) is not supported; write the digits", i)
            tokens.append(_Token("number", match.group(), i))
            i = match.end()
        elif ch in "'\"":
            end = source.find(ch, i + 1)
            if end < 0:
                raise ExpressionError(f"unterminated string starting with {ch}", i)
            tokens.append(_Token("string", source[i + 1 : end], i))
            i = end + 1
        elif ch == "$":
            match = _REFERENCE.match(source, i)
            if match is None:
                raise ExpressionError("malformed question reference; write ${name}", i)
            tokens.append(_Token("ref", match.group(1), i))
            i = match.end()
        elif ch == ".":
            tokens.append(_Token("dot", ".", i))
            i += 1
        elif ch.isascii() and (ch.isalpha() or ch == "_"):
            match = _NAME.match(source, i)
            if match is None:  # unreachable: starts with an ASCII letter or underscore
                raise ExpressionError(f"unexpected character {ch!r}", i)
            tokens.append(_Token("name", match.group(), i))
            i = match.end()
        elif source.startswith(("!=", "<=", ">="), i):
            tokens.append(_Token("op", source[i : i + 2], i))
            i += 2
        elif ch in "=<>+-*":
            tokens.append(_Token("op", ch, i))
            i += 1
        elif ch in "(),":
            tokens.append(_Token(ch, ch, i))
            i += 1
        elif ch == "/":
            raise ExpressionError("'/' is not supported; use 'div' for division", i)
        elif ch == "\u3000" or "\uff01" <= ch <= "\uff5e":
            raise ExpressionError(f"full-width character {ch!r}; use half-width characters", i)
        else:
            raise ExpressionError(f"unexpected character {ch!r}", i)
    tokens.append(_Token("end", "", n))
    return tokens


# --- functions ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Function:
    """A callable function: how many arguments it takes (``None`` = any number above the minimum)."""

    min_args: int
    max_args: int | None
    apply: Callable[[list[Value]], Value] | None
    """``None`` for the lazy ones (``if``, ``coalesce``) that the evaluator handles itself."""


def _selected(args: list[Value]) -> Value:
    return to_string(args[1]).strip() in to_string(args[0]).split()


def _count_selected(args: list[Value]) -> Value:
    return float(len(to_string(args[0]).split()))


def _int(args: list[Value]) -> Value:
    number = to_number(args[0])
    if not math.isfinite(number):
        return number
    return float(math.trunc(number))


def _round(args: list[Value]) -> Value:
    number = to_number(args[0])
    if not math.isfinite(number):
        return number
    if len(args) == 1:
        # XPath round(): the nearest integer, halves towards positive infinity (round(-2.5) = -2).
        floor = math.floor(number)
        return float(floor + 1 if number - floor >= 0.5 else floor)
    places = to_number(args[1])
    if math.isnan(places):
        return math.nan
    if places > 350:  # every float is exact at this many decimals
        return number
    if places < -350:  # rounding to 10**351 or coarser: every float rounds to zero
        return 0.0
    # round(x, n) as ODK: half away from zero, on the decimal the person sees (2.675 → 2.68).
    context = Context(prec=1000, rounding=ROUND_HALF_UP)
    exponent = Decimal(1).scaleb(-math.trunc(places), context)
    return float(Decimal(repr(number)).quantize(exponent, context=context))


FUNCTIONS: dict[str, Function] = {
    "selected": Function(2, 2, _selected),
    "count-selected": Function(1, 1, _count_selected),
    "not": Function(1, 1, lambda args: not to_boolean(args[0])),
    "true": Function(0, 0, lambda args: True),
    "false": Function(0, 0, lambda args: False),
    "boolean": Function(1, 1, lambda args: to_boolean(args[0])),
    "number": Function(1, 1, lambda args: to_number(args[0])),
    "int": Function(1, 1, _int),
    "string": Function(1, 1, lambda args: to_string(args[0])),
    "string-length": Function(1, 1, lambda args: float(len(to_string(args[0])))),
    "concat": Function(1, None, lambda args: "".join(to_string(arg) for arg in args)),
    "if": Function(3, 3, None),
    "coalesce": Function(2, 2, None),
    "contains": Function(2, 2, lambda args: to_string(args[1]) in to_string(args[0])),
    "starts-with": Function(2, 2, lambda args: to_string(args[0]).startswith(to_string(args[1]))),
    "round": Function(1, 2, _round),
}


# --- parser ---------------------------------------------------------------------------------------

_LEVELS: tuple[frozenset[str], ...] = (
    frozenset({"or"}),
    frozenset({"and"}),
    frozenset({"=", "!="}),
    frozenset({"<", "<=", ">", ">="}),
    frozenset({"+", "-"}),
    frozenset({"*", "div", "mod"}),
)


class _Parser:
    def __init__(self, source: str) -> None:
        self.tokens = _tokenize(source)
        self.index = 0
        self.depth = 0

    def parse(self) -> Node:
        if self.tokens[0].kind == "end":
            raise ExpressionError("the expression is empty", 0)
        root = self._level(0)
        token = self._peek()
        if token.kind != "end":
            raise ExpressionError(f"unexpected {_describe(token)}", token.position)
        return root

    def _peek(self) -> _Token:
        return self.tokens[self.index]

    def _next(self) -> _Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def _operator(self) -> str | None:
        token = self._peek()
        if token.kind == "op" or (token.kind == "name" and token.text in _KEYWORD_OPERATORS):
            return token.text
        return None

    def _enter(self, position: int) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExpressionError(f"the expression is nested more than {MAX_DEPTH} levels deep", position)

    def _level(self, level: int) -> Node:
        if level == len(_LEVELS):
            return self._unary()
        first = self._level(level + 1)
        rest: list[tuple[str, Node]] = []
        while (op := self._operator()) is not None and op in _LEVELS[level]:
            self._next()
            rest.append((op, self._level(level + 1)))
        if not rest:
            return first
        return Chain(first, tuple(rest), _position(first))

    def _unary(self) -> Node:
        token = self._peek()
        if token.kind == "op" and token.text == "-":
            self._next()
            self._enter(token.position)
            operand = self._unary()
            self.depth -= 1
            return Negate(operand, token.position)
        return self._primary()

    def _primary(self) -> Node:
        token = self._next()
        if token.kind == "number":
            return NumberLiteral(float(token.text), token.position)
        if token.kind == "string":
            return StringLiteral(token.text, token.position)
        if token.kind == "ref":
            return Reference(token.text, token.position)
        if token.kind == "dot":
            return Current(token.position)
        if token.kind == "(":
            self._enter(token.position)
            inner = self._level(0)
            self._expect(")", token)
            self.depth -= 1
            return inner
        if token.kind == "name" and self._peek().kind == "(":
            return self._call(token)
        if token.kind == "name" and token.text not in _KEYWORD_OPERATORS:
            raise ExpressionError(
                f"unknown name '{token.text}'; refer to a question as ${{{token.text}}}", token.position
            )
        if token.kind == "end":
            raise ExpressionError("the expression ends too early", token.position)
        raise ExpressionError(f"unexpected {_describe(token)}", token.position)

    def _call(self, name: _Token) -> Node:
        function = FUNCTIONS.get(name.text)
        if function is None:
            raise ExpressionError(f"unknown function '{name.text}()'", name.position)
        paren = self._next()
        self._enter(name.position)
        args: list[Node] = []
        if self._peek().kind != ")":
            args.append(self._level(0))
            while self._peek().kind == ",":
                self._next()
                args.append(self._level(0))
        self._expect(")", paren)
        self.depth -= 1
        count = len(args)
        if count < function.min_args or (function.max_args is not None and count > function.max_args):
            raise ExpressionError(f"{name.text}() takes {_arity(function)} argument(s), not {count}", name.position)
        return Call(name.text, tuple(args), name.position)

    def _expect(self, kind: str, opened: _Token) -> None:
        token = self._peek()
        if token.kind != kind:
            where = f"to match the '{opened.text}' at position {opened.position}"
            raise ExpressionError(f"expected '{kind}' {where}, found {_describe(token)}", token.position)
        self._next()


def _describe(token: _Token) -> str:
    if token.kind == "end":
        return "end of expression"
    if token.kind == "string":
        return f"string '{token.text}'"
    if token.kind == "ref":
        return f"${{{token.text}}}"
    return f"'{token.text}'"


def _arity(function: Function) -> str:
    if function.max_args is None:
        return f"at least {function.min_args}"
    if function.min_args == function.max_args:
        return str(function.min_args)
    return f"{function.min_args} to {function.max_args}"


def _position(node: Node) -> int:
    return node.position


def children(node: Node) -> Iterator[Node]:
    """The direct sub-expressions of ``node``."""
    if isinstance(node, Negate):
        yield node.operand
    elif isinstance(node, Chain):
        yield node.first
        for _, operand in node.rest:
            yield operand
    elif isinstance(node, Call):
        yield from node.args


def walk(node: Node) -> Iterator[Node]:
    """Every node of the tree, parents before children (iterative, so any depth is safe)."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(list(children(current))))


def _tree_depth(root: Node) -> int:
    deepest = 0
    stack: list[tuple[Node, int]] = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in children(node))
    return deepest


def parse(source: str) -> Expression:
    """Parse an XLSForm expression; raises ``ExpressionError`` with the offending position."""
    if not isinstance(source, str):
        raise ExpressionError("an expression must be text", 0)
    return _parse(source)


@lru_cache(maxsize=2048)
def _parse(source: str) -> Expression:
    if len(source) > MAX_LENGTH:
        raise ExpressionError(f"the expression is longer than {MAX_LENGTH} characters", MAX_LENGTH)
    root = _Parser(source).parse()
    if _tree_depth(root) > MAX_DEPTH:
        raise ExpressionError(f"the expression is nested more than {MAX_DEPTH} levels deep", 0)
    references: set[str] = set()
    uses_current = False
    for node in walk(root):
        if isinstance(node, Reference):
            references.add(node.name)
        elif isinstance(node, Current):
            uses_current = True
    return Expression(source, frozenset(references), uses_current, root)


def to_sexpr(expr: Expression) -> str:
    """The tree as a fully parenthesised prefix form, e.g. ``(+ 1 (* 2 3))`` (for tests and debugging)."""
    return _sexpr(expr.root)


def _sexpr(node: Node) -> str:
    if isinstance(node, NumberLiteral):
        return format_number(node.value)
    if isinstance(node, StringLiteral):
        return repr(node.value)
    if isinstance(node, Reference):
        return f"${{{node.name}}}"
    if isinstance(node, Current):
        return "."
    if isinstance(node, Negate):
        return f"(- {_sexpr(node.operand)})"
    if isinstance(node, Chain):
        text = _sexpr(node.first)
        for op, operand in node.rest:
            text = f"({op} {text} {_sexpr(operand)})"
        return text
    return "(" + " ".join([node.name, *(_sexpr(arg) for arg in node.args)]) + ")"


def choice_comparisons(expr: Expression) -> list[tuple[str, str, bool]]:
    """``(question, literal, is_equality)`` for each ``selected(${q}, 'x')`` and ``${q} = 'x'`` / ``!=``.

    Lets a definition check spot a choice name that does not exist (a typo makes a condition
    silently never hold). Comparisons with ``''`` (the "unanswered" idiom) are left out.
    """
    found: list[tuple[str, str, bool]] = []
    for node in walk(expr.root):
        if isinstance(node, Call) and node.name == "selected":
            target, literal = node.args
            if isinstance(target, Reference) and isinstance(literal, StringLiteral):
                found.append((target.name, literal.value.strip(), False))
        elif isinstance(node, Chain):
            left = node.first
            for op, right in node.rest:
                if op in ("=", "!="):
                    pair = _reference_and_string(left, right)
                    if pair is not None and pair[1] != "":
                        found.append((*pair, True))
                left = right
    return found


def _reference_and_string(left: Node, right: Node) -> tuple[str, str] | None:
    if isinstance(left, Reference) and isinstance(right, StringLiteral):
        return left.name, right.value
    if isinstance(right, Reference) and isinstance(left, StringLiteral):
        return right.name, left.value
    return None


# --- conversions ----------------------------------------------------------------------------------


def to_number(value: Value) -> float:
    """XPath number(): half-width digits only, so ``'１３'`` (full-width) is NaN."""
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, float):
        return value
    match = _NUMBER_TEXT.fullmatch(value)
    if match is None:
        return math.nan
    return float(match.group(1))


def to_string(value: Value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return format_number(value)
    return value


def to_boolean(value: Value) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, float):
        return value != 0 and not math.isnan(value)
    return value != ""


def format_number(number: float) -> str:
    """A number as XPath's string(): ``13`` not ``13.0``, no exponent, ``NaN``, ``Infinity``."""
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "Infinity" if number > 0 else "-Infinity"
    if number == math.floor(number):
        return str(int(number))
    return format(Decimal(repr(number)), "f")


# --- evaluation -----------------------------------------------------------------------------------


def _answer_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list | tuple):
        return " ".join(str(item) for item in value)
    if isinstance(value, float | int) and not isinstance(value, bool):
        return format_number(float(value))
    return str(value)


class _Evaluator:
    def __init__(self, values: Mapping[str, AnswerLike], current: AnswerLike) -> None:
        self.values = values
        self.current = _answer_text(current)

    def eval(self, node: Node) -> Value:
        if isinstance(node, NumberLiteral | StringLiteral):
            return node.value
        if isinstance(node, Reference):
            return _answer_text(self.values.get(node.name))
        if isinstance(node, Current):
            return self.current
        if isinstance(node, Negate):
            return -to_number(self.eval(node.operand))
        if isinstance(node, Chain):
            return self._chain(node)
        return self._call(node)

    def _chain(self, node: Chain) -> Value:
        result = self.eval(node.first)
        for op, operand in node.rest:
            if op == "or":
                result = to_boolean(result) or to_boolean(self.eval(operand))
            elif op == "and":
                result = to_boolean(result) and to_boolean(self.eval(operand))
            else:
                result = _binary(op, result, self.eval(operand))
        return result

    def _call(self, node: Call) -> Value:
        if node.name == "if":
            condition, then, otherwise = node.args
            return self.eval(then if to_boolean(self.eval(condition)) else otherwise)
        if node.name == "coalesce":
            first = self.eval(node.args[0])
            return first if to_string(first) != "" else self.eval(node.args[1])
        apply = FUNCTIONS[node.name].apply
        if apply is None:  # unreachable: only if/coalesce lack one, handled above
            raise ExpressionError(f"{node.name}() cannot be evaluated", node.position)
        return apply([self.eval(arg) for arg in node.args])


def _binary(op: str, left: Value, right: Value) -> Value:
    if op in ("=", "!="):
        equal = _equal(left, right)
        return equal if op == "=" else not equal
    if op in ("<", "<=", ">", ">="):
        a, b = to_number(left), to_number(right)
        if op == "<":
            return a < b
        if op == "<=":
            return a <= b
        if op == ">":
            return a > b
        return a >= b
    a, b = to_number(left), to_number(right)
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if op == "div":
        return _divide(a, b)
    return _modulo(a, b)


def _equal(left: Value, right: Value) -> bool:
    if isinstance(left, bool) or isinstance(right, bool):
        return to_boolean(left) == to_boolean(right)
    if isinstance(left, float) or isinstance(right, float):
        return to_number(left) == to_number(right)
    return left == right


def _divide(a: float, b: float) -> float:
    if b == 0:
        if a == 0 or math.isnan(a):
            return math.nan
        return math.copysign(math.inf, a) * math.copysign(1.0, b)
    return a / b


def _modulo(a: float, b: float) -> float:
    # XPath mod truncates like C's fmod: the result takes the sign of the dividend.
    if b == 0 or math.isnan(a) or math.isnan(b) or math.isinf(a):
        return math.nan
    if math.isinf(b):
        return a
    return math.fmod(a, b)


def evaluate(expr: Expression, values: Mapping[str, AnswerLike], current: AnswerLike = None) -> Value:
    """Evaluate against answers (``values``) and the answer being checked (``current``, for ``.``)."""
    try:
        return _Evaluator(values, current).eval(expr.root)
    except ExpressionError:
        raise
    except Exception as exc:  # any other failure must surface as an expression problem, never a crash
        raise ExpressionError(f"the expression cannot be evaluated: {exc}", 0) from exc


def evaluate_bool(expr: Expression, values: Mapping[str, AnswerLike], current: AnswerLike = None) -> bool:
    """XPath boolean() of the result: what ``relevant`` and ``constraint`` need."""
    return to_boolean(evaluate(expr, values, current))
