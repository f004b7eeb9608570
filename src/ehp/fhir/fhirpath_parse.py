"""A FHIRPath parser, for search parameter expressions and the invariants of the definitions.

Produces a small AST of frozen dataclasses. Operator precedence follows the table of the FHIRPath
specification (N1, section 6.7): ``is``/``as`` bind tighter than ``|``, so the R4 expression
``Observation.value as Quantity | Observation.value as SampledData`` means the union of the two
casts, which is what its authors intended (the ANTLR grammar would read it differently).
Date/time literals (``@2020-01``), quantity literals with a UCUM unit (``4 'mg'``), the empty
collection ``{}`` and unary ``+``/``-`` are read; calendar-duration units (``4 days``) are not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any


class FhirPathSyntaxError(ValueError):
    """The expression is not (supported) FHIRPath."""


@dataclass(frozen=True, slots=True)
class Ident:
    """An identifier at the start of a path: a type name (``Patient``) or an element of ``$this``."""

    name: str


@dataclass(frozen=True, slots=True)
class Literal:
    """A literal; ``type`` is the FHIR type of ``value``: boolean, string, integer, decimal, date,
    dateTime or time (``value`` the text after ``@``), Quantity (``value`` a ``{"value", "code"}``
    dict), or ``empty`` for ``{}`` (``value`` None)."""

    value: Any
    type: str


@dataclass(frozen=True, slots=True)
class Var:
    """An environment variable or ``$this``, without its ``%`` prefix (``resource``, ``$this``)."""

    name: str


@dataclass(frozen=True, slots=True)
class Member:
    """``target.name``."""

    target: Expr
    name: str


@dataclass(frozen=True, slots=True)
class Call:
    """``target.name(args)``; ``target`` is None for a call on ``$this`` (``exists()``)."""

    target: Expr | None
    name: str
    args: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Index:
    """``target[index]``."""

    target: Expr
    index: Expr


@dataclass(frozen=True, slots=True)
class Binary:
    """A binary operator: ``|``, ``=``, ``!=``, ``and``, ``or``..."""

    op: str
    left: Expr
    right: Expr


@dataclass(frozen=True, slots=True)
class TypeOp:
    """``target is Type`` or ``target as Type``."""

    op: str
    target: Expr
    type_name: str


Expr = Ident | Literal | Var | Member | Call | Index | Binary | TypeOp

# An environment variable may hold hyphens, as FHIR's own do (``%vs-observation-status``,
# ``%ext-...``) and as HL7's validator reads them (``%p-inactive``, a ValueSet parameter).
_TOKEN = re.compile(
    r"""\s*(?:
      (?P<num>\d+(?:\.\d+)?)
    | (?P<str>'(?:[^'\\]|\\.)*')
    | (?P<delim>`(?:[^`\\]|\\.)*`)
    | (?P<date>@[0-9T][0-9:.+\-TZ]*)
    | (?P<var>%(?:[A-Za-z_][A-Za-z0-9_\-]*|`(?:[^`\\]|\\.)*`|'(?:[^'\\]|\\.)*')|\$[A-Za-z_][A-Za-z0-9_]*)
    | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
    | (?P<op><=|>=|!=|!~|[.\[\](){},|=<>~&*/+-])
    )""",
    re.VERBOSE,
)
_ESCAPES = {"'": "'", '"': '"', "`": "`", "\\": "\\", "/": "/", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_ESCAPE = re.compile(r"\\(u[0-9a-fA-F]{4}|.)")

# Binding power of the infix operators (higher binds tighter); ``.`` and ``[`` are postfix.
_INFIX = {
    "implies": 1,
    "or": 2,
    "xor": 2,
    "and": 3,
    "in": 4,
    "contains": 4,
    "=": 5,
    "~": 5,
    "!=": 5,
    "!~": 5,
    "<": 6,
    ">": 6,
    "<=": 6,
    ">=": 6,
    "|": 7,
    "is": 8,
    "as": 8,
    "+": 9,
    "-": 9,
    "&": 9,
    "*": 10,
    "/": 10,
    "div": 10,
    "mod": 10,
}
_KEYWORD_LITERALS = {"true": True, "false": False}


def _unescape(body: str) -> str:
    def replace(match: re.Match[str]) -> str:
        escaped = match.group(1)
        if len(escaped) == 5:
            return chr(int(escaped[1:], 16))
        if escaped not in _ESCAPES:
            raise FhirPathSyntaxError(f"unknown escape \\{escaped}")
        return _ESCAPES[escaped]

    return _ESCAPE.sub(replace, body)


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    position = 0
    end = len(text.rstrip())
    while position < end:
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise FhirPathSyntaxError(
                f"unexpected character at {position}: {text[position : position + 10]!r}"
            )
        kind = match.lastgroup
        assert kind is not None
        tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.position = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise FhirPathSyntaxError(f"unexpected end of {self.text!r}")
        self.position += 1
        return token

    def expect(self, value: str) -> None:
        kind, text = self.take()
        if text != value or kind not in ("op", "ident"):
            raise FhirPathSyntaxError(f"expected {value!r}, found {text!r} in {self.text!r}")

    def expression(self, min_power: int = 0) -> Expr:
        left = self.postfix(self.term())
        while True:
            token = self.peek()
            if token is None or token[0] not in ("op", "ident"):
                return left
            power = _INFIX.get(token[1])
            if power is None or power <= min_power:
                return left
            self.take()
            if token[1] in ("is", "as"):
                left = TypeOp(token[1], left, self.type_specifier())
            else:
                left = Binary(token[1], left, self.expression(power))

    def type_specifier(self) -> str:
        kind, name = self.take()
        if kind not in ("ident", "delim"):
            raise FhirPathSyntaxError(f"expected a type name, found {name!r} in {self.text!r}")
        name = name.strip("`")
        if name in ("FHIR", "System") and self.peek() == ("op", "."):
            self.take()
            name += "." + self.take()[1].strip("`")
        return name

    def term(self) -> Expr:
        kind, text = self.take()
        if kind == "num":
            number: int | float = float(text) if "." in text else int(text)
            following = self.peek()
            if following is not None and following[0] == "str":
                self.take()
                return Literal({"value": number, "code": _unescape(following[1][1:-1])}, "Quantity")
            return Literal(number, "decimal") if "." in text else Literal(int(text), "integer")
        if kind == "date":
            body = text[1:]
            if body.startswith("T"):
                return Literal(body[1:], "time")
            return Literal(body.rstrip("T"), "dateTime" if "T" in body else "date")
        if kind == "str":
            return Literal(_unescape(text[1:-1]), "string")
        if kind == "var":
            name = text[1:]
            return Var("$" + name if text[0] == "$" else _unescape(name.strip("`'")))
        if kind == "delim":
            return Ident(_unescape(text[1:-1]))
        if kind == "ident":
            if text in _KEYWORD_LITERALS:
                return Literal(_KEYWORD_LITERALS[text], "boolean")
            if self.peek() == ("op", "("):
                return Call(None, text, self.arguments())
            return Ident(text)
        if text == "{":
            self.expect("}")
            return Literal(None, "empty")
        if text in ("-", "+"):
            operand = self.postfix(self.term())
            if text == "+":
                return operand
            if isinstance(operand, Literal) and operand.type in ("integer", "decimal"):
                return Literal(-operand.value, operand.type)
            return Binary("*", Literal(-1, "integer"), operand)
        if text == "(":
            inner = self.expression()
            self.expect(")")
            return inner
        raise FhirPathSyntaxError(f"unexpected {text!r} in {self.text!r}")

    def arguments(self) -> tuple[Expr, ...]:
        self.expect("(")
        args: list[Expr] = []
        if self.peek() == ("op", ")"):
            self.take()
            return ()
        while True:
            args.append(self.expression())
            text = self.take()[1]
            if text == ")":
                return tuple(args)
            if text != ",":
                raise FhirPathSyntaxError(f"expected ',' or ')', found {text!r} in {self.text!r}")

    def postfix(self, target: Expr) -> Expr:
        while True:
            token = self.peek()
            if token == ("op", "."):
                self.take()
                kind, name = self.take()
                if kind not in ("ident", "delim"):
                    raise FhirPathSyntaxError(f"expected a name after '.', found {name!r} in {self.text!r}")
                name = _unescape(name[1:-1]) if kind == "delim" else name
                if self.peek() == ("op", "("):
                    target = Call(target, name, self.arguments())
                else:
                    target = Member(target, name)
            elif token == ("op", "["):
                self.take()
                index = self.expression()
                self.expect("]")
                target = Index(target, index)
            else:
                return target


def parse(text: str) -> Expr:
    """Parse a FHIRPath expression; raises :class:`FhirPathSyntaxError`."""
    parser = _Parser(text)
    result = parser.expression()
    if parser.peek() is not None:
        raise FhirPathSyntaxError(f"unexpected {parser.peek()!r} in {text!r}")
    return result


def split_union(text: str) -> list[str]:
    """The operands of the top-level ``|`` operators of an expression (outside parentheses and strings)."""
    parts: list[str] = []
    depth, start, quoted = 0, 0, False
    for position, char in enumerate(text):
        if char == "'" and text[position - 1 : position] != "\\":
            quoted = not quoted
        elif not quoted and char == "(":
            depth += 1
        elif not quoted and char == ")":
            depth -= 1
        elif not quoted and depth == 0 and char == "|":
            parts.append(text[start:position].strip())
            start = position + 1
    parts.append(text[start:].strip())
    return parts
