"""The Condition block of a bucket policy: operators, parsed once and checked per request.

A condition is ``{"<Operator>": {"<key>": value | [values]}}``. Every operator may carry the
``IfExists`` suffix (a missing key then counts as a match) and a ``ForAnyValue:`` or
``ForAllValues:`` prefix (for keys with several values). As in IAM, a key that the request does
not have fails a positive operator and passes a negated one (``StringNotEquals``,
``NotIpAddress``, ...), and ``Null`` tests presence. Pure: no I/O, no S3 or PFS knowledge.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

# Looks a (lower-case) condition key up in the request: its values, or None when absent.
Lookup = Callable[[str], "list[str] | None"]
_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_FIXED_VARIABLES = ("*", "?", "$")


class PolicyError(ValueError):
    """A policy S3 refuses to store; the message is the MalformedPolicy one."""


class Pattern:
    """A pattern compiled once: wildcards (``*`` any run, ``?`` one character) when ``wild``,
    otherwise a literal.

    Patterns that hold ``${aws:username}``-style policy variables are filled in per request
    (from the same lookup conditions use) and compiled through a small cache; what a variable
    brings in is literal, as is ``${*}`` (a real asterisk) and ``${?}``.
    """

    __slots__ = ("text", "ignore_case", "wild", "_literal", "_regex", "_variables")

    def __init__(self, text: str, ignore_case: bool = False, wild: bool = True,
                 variables: bool = False) -> None:
        self.text = text
        self.ignore_case = ignore_case
        self.wild = wild and ("*" in text or "?" in text)
        self._variables = variables and "${" in text
        self._literal: str | None = None
        self._regex: re.Pattern[str] | None = None
        if not self._variables:
            self._literal, self._regex = _compile(text, ignore_case, wild)

    def match(self, value: str, lookup: Lookup | None = None) -> bool:
        literal, regex = self._literal, self._regex
        if self._variables:
            literal, regex = _compile(_substitute(self.text, lookup), self.ignore_case,
                                      self.wild)
        if regex is None:
            return value.lower() == literal if self.ignore_case else value == literal
        return regex.fullmatch(value) is not None


_STAR, _QUESTION = "\x01", "\x02"  # a literal * or ? brought in by a variable


@lru_cache(maxsize=1024)
def _compile(text: str, ignore_case: bool, wild: bool) -> tuple[str | None, re.Pattern[str] | None]:
    if not wild or ("*" not in text and "?" not in text):
        text = text.replace(_STAR, "*").replace(_QUESTION, "?")
        return (text.lower() if ignore_case else text), None
    regex = "".join(".*" if c == "*" else "." if c == "?" else
                    re.escape({_STAR: "*", _QUESTION: "?"}.get(c, c)) for c in text)
    return None, re.compile(regex, re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def _substitute(text: str, lookup: Lookup | None) -> str:
    """``${aws:username}`` -> the request's value; a variable the request lacks matches
    nothing (IAM leaves the statement unmatched), so it becomes a character no value holds."""
    def fill(m: re.Match[str]) -> str:
        name = m.group(1)
        if name in _FIXED_VARIABLES:
            value = name
        else:
            values = lookup(normalize_key(name)) if lookup is not None else None
            if not values:
                return "\x00"
            value = values[0]
        return value.replace("*", _STAR).replace("?", _QUESTION)
    return _VARIABLE.sub(fill, text)


def normalize_key(key: str) -> str:
    """Condition key names are case-insensitive; what follows a ``/`` (a tag key) is not."""
    name, slash, rest = key.partition("/")
    return name.lower() + slash + rest


def check_variables(text: str) -> None:
    """Policy variables must be closed and name a key (``${aws:username}``, ``${*}``)."""
    for m in _VARIABLE.finditer(text):
        name = m.group(1)
        if name not in _FIXED_VARIABLES and ":" not in name:
            raise PolicyError(f"Policy has an invalid variable: ${{{name}}}")


# Each operator family: how a condition value is parsed and how it matches a request value.
def _string(ignore_case: bool, wild: bool) -> tuple[Callable, Callable]:
    def parse(value: str) -> Pattern:
        check_variables(value)
        return Pattern(value, ignore_case, wild, variables=True)
    return parse, lambda pattern, actual, lookup: pattern.match(actual, lookup)


def _parse_number(value: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise PolicyError(f"Invalid numeric value in condition: {value}") from None


def _numeric(compare: Callable[[float, float], bool]) -> tuple[Callable, Callable]:
    def test(expected: float, actual: str, lookup: Lookup) -> bool:
        try:
            return compare(float(actual), expected)
        except ValueError:
            return False
    return _parse_number, test


def _parse_date(value: str) -> float:
    try:
        return float(value)  # epoch seconds
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise PolicyError(f"Invalid date value in condition: {value}") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _date(compare: Callable[[float, float], bool]) -> tuple[Callable, Callable]:
    def test(expected: float, actual: str, lookup: Lookup) -> bool:
        try:
            return compare(_parse_date(actual), expected)
        except PolicyError:
            return False
    return _parse_date, test


def _parse_network(value: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    try:
        return ipaddress.ip_network(value.strip(), strict=False)
    except ValueError:
        raise PolicyError(f"Invalid IP address or CIDR in condition: {value}") from None


def _ip_test(network, actual: str, lookup: Lookup) -> bool:
    try:
        return ipaddress.ip_address(actual) in network
    except ValueError:
        return False


def _parse_bool(value: str) -> str:
    if value.lower() not in ("true", "false"):
        raise PolicyError(f"Invalid boolean value in condition: {value}")
    return value.lower()


_EQ, _LT, _LE = (lambda a, b: a == b), (lambda a, b: a < b), (lambda a, b: a <= b)
_GT, _GE = (lambda a, b: a > b), (lambda a, b: a >= b)
# Operator -> (parse a condition value, test(parsed, request value, lookup), negated)
OPERATORS: dict[str, tuple[Callable, Callable, bool]] = {
    "StringEquals": (*_string(False, False), False),
    "StringNotEquals": (*_string(False, False), True),
    "StringEqualsIgnoreCase": (*_string(True, False), False),
    "StringNotEqualsIgnoreCase": (*_string(True, False), True),
    "StringLike": (*_string(False, True), False),
    "StringNotLike": (*_string(False, True), True),
    "ArnEquals": (*_string(False, True), False),  # IAM: ArnEquals also takes wildcards
    "ArnLike": (*_string(False, True), False),
    "ArnNotEquals": (*_string(False, True), True),
    "ArnNotLike": (*_string(False, True), True),
    "NumericEquals": (*_numeric(_EQ), False),
    "NumericNotEquals": (*_numeric(_EQ), True),
    "NumericLessThan": (*_numeric(_LT), False),
    "NumericLessThanEquals": (*_numeric(_LE), False),
    "NumericGreaterThan": (*_numeric(_GT), False),
    "NumericGreaterThanEquals": (*_numeric(_GE), False),
    "DateEquals": (*_date(_EQ), False),
    "DateNotEquals": (*_date(_EQ), True),
    "DateLessThan": (*_date(_LT), False),
    "DateLessThanEquals": (*_date(_LE), False),
    "DateGreaterThan": (*_date(_GT), False),
    "DateGreaterThanEquals": (*_date(_GE), False),
    "IpAddress": (_parse_network, _ip_test, False),
    "NotIpAddress": (_parse_network, _ip_test, True),
    "Bool": (_parse_bool, lambda expected, actual, lookup: actual.lower() == expected, False),
}


@dataclass(frozen=True)
class Condition:
    """One operator applied to one key, with its condition values parsed."""

    operator: str  # as written, e.g. "ForAnyValue:StringLikeIfExists"
    base: str  # e.g. "StringLike" (or "Null")
    key: str  # lower case: condition keys are case-insensitive
    values: tuple
    test: Callable | None
    negated: bool = False
    if_exists: bool = False
    qualifier: str | None = None  # "ForAnyValue" / "ForAllValues"

    def holds(self, lookup: Lookup) -> bool:
        actual = lookup(self.key)
        if self.base == "Null":  # "true": the key must be absent
            return (not actual) == (self.values[0] == "true")
        if not actual:
            if self.if_exists or self.qualifier == "ForAllValues":
                return True
            return self.negated
        test, values = self.test, self.values

        def matches(value: str) -> bool:
            return any(test(expected, value, lookup) for expected in values)
        if self.qualifier == "ForAllValues":
            return all(matches(v) != self.negated for v in actual)
        if self.qualifier == "ForAnyValue":
            return any(matches(v) != self.negated for v in actual)
        hit = any(matches(v) for v in actual)
        return not hit if self.negated else hit


def parse_block(block: object) -> tuple[Condition, ...]:
    """A statement's ``Condition`` object -> its conditions (all must hold)."""
    if not isinstance(block, dict):
        raise PolicyError("Condition must be an object")
    conditions = []
    for operator, keys in block.items():
        if not isinstance(keys, dict) or not keys:
            raise PolicyError(f"Invalid Condition type : {operator}")
        for key, raw in keys.items():
            conditions.append(parse_condition(operator, key, raw))
    return tuple(conditions)


def parse_condition(operator: str, key: str, raw: object) -> Condition:
    qualifier = None
    base = operator
    if ":" in base:
        qualifier, _, base = base.partition(":")
        if qualifier not in ("ForAnyValue", "ForAllValues"):
            raise PolicyError(f"Invalid Condition type : {operator}")
    if_exists = base.endswith("IfExists") and base != "IfExists"
    if if_exists:
        base = base[: -len("IfExists")]
    if not isinstance(key, str) or ":" not in key.strip(":") or "*" in key:
        raise PolicyError(f"Policy has an invalid condition key: {key}")
    values = _values(raw, operator)
    if base == "Null":
        if if_exists or qualifier:
            raise PolicyError(f"Invalid Condition type : {operator}")
        return Condition(operator, base, normalize_key(key), (_parse_bool(values[0]),), None)
    spec = OPERATORS.get(base)
    if spec is None:
        raise PolicyError(f"Invalid Condition type : {operator}")
    parse, test, negated = spec
    return Condition(operator, base, normalize_key(key), tuple(parse(v) for v in values), test,
                     negated, if_exists, qualifier)


def _values(raw: object, operator: str) -> list[str]:
    items: Iterable = raw if isinstance(raw, list) else [raw]
    values = []
    for item in items:
        if isinstance(item, bool):
            values.append("true" if item else "false")
        elif isinstance(item, (str, int, float)):
            values.append(str(item))
        else:
            raise PolicyError(f"Invalid value in condition {operator}")
    if not values:
        raise PolicyError(f"Condition {operator} has no values")
    return values
