"""A small evaluator for kintone's query language, used by the fake client.

Supports what our flows send: ``field op value`` with = != > < >= <= like, ``in (...)``,
``not in (...)``, ``is empty``, ``is not empty``, ``and``/``or`` with parentheses,
``order by f asc|desc, ...``, ``limit n`` and ``offset n``. Values compare as numbers when
both sides are numeric, else as strings (ISO dates and datetimes order correctly as strings).

A parsed query also knows the floors its condition implies (``更新日時 > "t"`` anywhere every
match must pass, e.g. the reconcile sweep's keyset condition): ``Query.may_match`` checks them on
the raw cells, cheaply, so the fake evaluates the whole condition only on records that can match.
It never decides a match, it only skips records the condition would refuse.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

_TOKEN = re.compile(
    r'\s*(?:(?P<str>"(?:[^"\\]|\\.)*")|(?P<op>>=|<=|!=|=|>|<)|(?P<punct>[(),])|(?P<word>[^\s(),=<>!"]+))'
)


class QueryError(ValueError):
    pass


@dataclass
class Query:
    predicate: Callable[[dict], bool]
    order_by: list[tuple[str, bool]]  # (field code, descending)
    limit: int | None
    offset: int
    floors: "Floors"  # what every match meets, for a cheap first look (may_match)

    def may_match(self, record: dict) -> bool:
        """False only for a record ``predicate`` refuses (it fails a floor); True says nothing."""
        return self.floors.admits(record)


@dataclass(frozen=True)
class Floors:
    """Lower bounds every record matching a condition meets, by field code.

    ``text``: code -> s where the condition compares the field to a non-numeric s with > or >=,
    so a matching record's value is a non-empty string >= s (the comparison is a string one).
    ``number``: code -> n (an integer) where it compares with > or >= to n, so a matching record
    whose value is a plain integer has value >= n. Cells of other shapes (absent, a table column,
    a list, a number of another form) are never judged here.
    """

    text: tuple[tuple[str, str], ...] = ()
    number: tuple[tuple[str, int], ...] = ()

    @staticmethod
    def of(code: str, op: str, value: str) -> "Floors":
        if op not in (">", ">="):
            return Floors()
        if _num(value) is None:
            return Floors(text=((code, value),))
        if value.isascii() and value.isdigit():
            return Floors(number=((code, int(value)),))
        return Floors()

    def both(self, other: "Floors") -> "Floors":
        """Both conditions hold: every floor of each, the higher where they share a field."""
        return Floors(_merge(self.text, other.text, max, keep_all=True),
                      _merge(self.number, other.number, max, keep_all=True))

    def either(self, other: "Floors") -> "Floors":
        """One of the conditions holds: only the fields both bound, at the lower floor."""
        return Floors(_merge(self.text, other.text, min, keep_all=False),
                      _merge(self.number, other.number, min, keep_all=False))

    def admits(self, record: dict) -> bool:
        for code, floor in self.text:
            cell = record.get(code)
            value = cell.get("value") if isinstance(cell, dict) else None
            if isinstance(value, str) and (value == "" or value < floor):
                return False
        for code, floor in self.number:
            cell = record.get(code)
            value = cell.get("value") if isinstance(cell, dict) else None
            if isinstance(value, str) and value.isascii() and value.isdigit() and int(value) < floor:
                return False
        return True


def _merge(a: tuple, b: tuple, pick, keep_all: bool) -> tuple:
    left, right = dict(a), dict(b)
    codes = (left.keys() | right.keys()) if keep_all else (left.keys() & right.keys())
    return tuple(sorted((c, pick(v for v in (left.get(c), right.get(c)) if v is not None)) for c in codes))


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise QueryError(f"cannot read query near {text[pos:pos + 20]!r}")
        pos = m.end()
        kind = m.lastgroup
        value = m.group(kind)
        if kind == "str":
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        out.append((kind, value))
    return out


def _scalar(record: dict, code: str) -> Any:
    cell = record.get(code)
    if cell is None:
        column = _table_column(record, code)
        if column is None:
            raise QueryError(f"unknown field code in query: {code}")
        return column
    value = cell.get("value")
    if isinstance(value, dict):  # CREATOR / MODIFIER
        return value.get("code")
    if isinstance(value, list):
        return [v.get("code") if isinstance(v, dict) else v for v in value]
    return value


def _table_column(record: dict, code: str) -> list | None:
    """The values of a field inside a table (SUBTABLE), one per row; None when the record has no table.

    kintone matches a condition on a table's field when any row matches it. An empty table cannot
    tell which fields it holds, so a record with tables reads an unknown code as an empty column.
    """
    tables = [cell.get("value") or [] for cell in record.values()
              if isinstance(cell, dict) and cell.get("type") == "SUBTABLE"]
    if not tables:
        return None
    for rows in tables:
        if any(code in (row.get("value") or {}) for row in rows):
            return [(row.get("value") or {}).get(code, {}).get("value") for row in rows]
    return []


def _num(v: Any):
    try:
        return Decimal(str(v))
    except (InvalidOperation, ValueError):
        return None


def _compare(left: Any, op: str, right: str) -> bool:
    if isinstance(left, list):
        if op in ("=", "in"):
            return right in left
        if op in ("!=", "not in"):
            return right not in left
        return any(_compare(item, op, right) for item in left if item not in (None, ""))  # a table column
    if left is None:
        left = ""
    ln, rn = _num(left), _num(right)
    a, b = (ln, rn) if ln is not None and rn is not None else (str(left), str(right))
    if op == "=":
        return a == b
    if op == "!=":
        return a != b
    if left == "" and op in (">", "<", ">=", "<="):
        return False
    return {">": a > b, "<": a < b, ">=": a >= b, "<=": a <= b}[op]


class _Parser:
    def __init__(self, tokens):
        self.t = tokens
        self.i = 0

    def peek(self, k=0):
        j = self.i + k
        return self.t[j] if j < len(self.t) else (None, None)

    def take(self):
        tok = self.peek()
        self.i += 1
        return tok

    def word(self, w: str, k=0) -> bool:
        kind, value = self.peek(k)
        return kind == "word" and value.lower() == w

    # Each parse_* returns (predicate, the Floors every record it matches meets).

    def parse_or(self):
        left, floors = self.parse_and()
        while self.word("or"):
            self.take()
            right, more = self.parse_and()
            left = (lambda a, b: lambda r: a(r) or b(r))(left, right)
            floors = floors.either(more)
        return left, floors

    def parse_and(self):
        left, floors = self.parse_atom()
        while self.word("and"):
            self.take()
            right, more = self.parse_atom()
            left = (lambda a, b: lambda r: a(r) and b(r))(left, right)
            floors = floors.both(more)
        return left, floors

    def parse_atom(self):
        kind, value = self.peek()
        if kind == "punct" and value == "(":
            self.take()
            inner = self.parse_or()
            if self.take() != ("punct", ")"):
                raise QueryError("missing )")
            return inner
        return self.parse_comparison()

    def parse_comparison(self):
        """One ``field op value`` (or is empty / in / like); floors only from > and >=."""
        kind, field = self.take()
        if kind not in ("word", "str"):
            raise QueryError(f"expected a field code, got {field!r}")
        if self.word("is"):
            self.take()
            negate = self.word("not")
            if negate:
                self.take()
            if not self.word("empty"):
                raise QueryError("expected 'empty'")
            self.take()
            return (lambda r: (_empty(_scalar(r, field)) != negate)), Floors()
        if self.word("not") and self.word("in", 1):
            self.take()
            self.take()
            values = self.parse_list()
            return (lambda r: not _in(_scalar(r, field), values)), Floors()
        if self.word("in"):
            self.take()
            values = self.parse_list()
            return (lambda r: _in(_scalar(r, field), values)), Floors()
        if self.word("like") or (self.word("not") and self.word("like", 1)):
            negate = self.word("not")
            if negate:
                self.take()
            self.take()
            _, needle = self.take()
            return (lambda r: (needle.lower() in str(_scalar(r, field) or "").lower()) != negate), Floors()
        kind, op = self.take()
        if kind != "op":
            raise QueryError(f"expected an operator after {field}")
        kind, value = self.take()
        if kind not in ("str", "word"):
            raise QueryError(f"expected a value after {field} {op}")
        return (lambda r: _compare(_scalar(r, field), op, value)), Floors.of(field, op, value)

    def parse_list(self) -> list[str]:
        if self.take() != ("punct", "("):
            raise QueryError("expected (")
        values = []
        while True:
            kind, value = self.take()
            if kind == "punct" and value == ")":
                return values
            if kind == "punct" and value == ",":
                continue
            values.append(value)


def _empty(v) -> bool:
    return v in (None, "", [])


def _in(v, values) -> bool:
    if isinstance(v, list):
        return any(x in values for x in v)
    return str(v if v is not None else "") in values


@functools.lru_cache(maxsize=512)
def parse(text: str) -> Query:
    """The parsed query (cached: a Query is never changed after parsing, and sweeps repeat theirs)."""
    tokens = _tokens(text or "")
    # Split off "order by", "limit", "offset" (they come last).
    cut = len(tokens)
    for idx, (kind, value) in enumerate(tokens):
        if kind == "word" and value.lower() in ("order", "limit", "offset"):
            if value.lower() != "order" or (idx + 1 < len(tokens) and tokens[idx + 1][1].lower() == "by"):
                cut = idx
                break
    cond, tail = tokens[:cut], tokens[cut:]
    predicate, floors = (lambda r: True), Floors()
    if cond:
        parser = _Parser(cond)
        predicate, floors = parser.parse_or()
        if parser.i != len(cond):
            raise QueryError(f"unexpected {cond[parser.i][1]!r} in query")
    order_by, limit, offset, i = [], None, 0, 0
    while i < len(tail):
        word = tail[i][1].lower()
        if word == "order":
            i += 2
            while i < len(tail) and tail[i][1].lower() not in ("limit", "offset"):
                code = tail[i][1]
                desc = False
                if i + 1 < len(tail) and tail[i + 1][1].lower() in ("asc", "desc"):
                    desc = tail[i + 1][1].lower() == "desc"
                    i += 1
                order_by.append((code, desc))
                i += 1
                if i < len(tail) and tail[i][1] == ",":
                    i += 1
        elif word == "limit":
            limit = int(tail[i + 1][1])
            i += 2
        elif word == "offset":
            offset = int(tail[i + 1][1])
            i += 2
        else:
            raise QueryError(f"unexpected {tail[i][1]!r} in query")
    if limit is not None and limit > 500:
        raise QueryError("limit must be 500 or less")
    if offset > 10000:
        raise QueryError("offset must be 10,000 or less")
    return Query(predicate, order_by, limit, offset, floors)


def sort_key(record: dict, code: str):
    value = _scalar(record, code)
    n = _num(value)
    return (0, n, "") if n is not None else (1, Decimal(0), str(value or ""))
