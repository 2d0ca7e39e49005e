"""The policy document of a browser form upload (POST Object): parsed, and checked against the form.

The ``policy`` field is base64 JSON: ``{"expiration": ISO-8601, "conditions": [...]}``. Each
condition is ``{"field": "value"}`` (exact), ``["eq", "$field", "value"]``,
``["starts-with", "$field", "prefix"]`` or ``["content-length-range", min, max]``. The form's
fields are checked before any byte of the file is read; the length range only after the last
(:meth:`PostPolicy.check_length` as the bytes stream, :meth:`PostPolicy.check_final` at the end).
Every form field must be named by a condition, except the few S3 exempts (the signature, the
policy itself, the file and ``x-ignore-*``). Errors are S3's: a broken document is 400
InvalidPolicyDocument, a form the policy does not allow 403 AccessDenied "Invalid according to
Policy: ...", a file outside the range 400 EntityTooLarge/EntityTooSmall.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from gateway.s3 import errors

# Fields no condition needs to name (S3: the signature, the policy, the file, x-ignore-*).
EXEMPT = frozenset({"policy", "x-amz-signature", "signature", "awsaccesskeyid", "file"})
MAX_POLICY = 20 * 1024


def invalid_policy(message: str) -> errors.S3Error:
    return errors.S3Error(400, "InvalidPolicyDocument", f"Invalid Policy: {message}")


def not_allowed(message: str) -> errors.S3Error:
    return errors.access_denied(f"Invalid according to Policy: {message}")


@dataclass(frozen=True)
class Condition:
    op: str  # "eq" or "starts-with"
    name: str  # the field's name, lower case, without "$"
    value: str

    def text(self) -> str:
        return json.dumps([self.op, "$" + self.name, self.value])

    def holds(self, actual: str) -> bool:
        if self.op == "eq":
            return actual == self.value
        if self.name == "content-type":  # S3: each of a comma-separated list must match
            return all(v.strip().startswith(self.value) for v in actual.split(","))
        return actual.startswith(self.value)


@dataclass
class PostPolicy:
    expiration: datetime
    conditions: list[Condition] = field(default_factory=list)
    min_size: int = 0
    max_size: int | None = None

    def check_form(self, fields: Mapping[str, str], bucket: str, now: datetime) -> None:
        """Expiry, every field condition, and no field without a condition."""
        if now >= self.expiration:
            raise not_allowed("Policy expired.")
        named = set()
        for cond in self.conditions:
            named.add(cond.name)
            actual = bucket if cond.name == "bucket" else fields.get(cond.name, "")
            if not cond.holds(actual):
                raise not_allowed(f"Policy Condition failed: {cond.text()}")
        extra = sorted(n for n in fields if n not in named and n not in EXEMPT
                       and not n.startswith("x-ignore-"))
        if extra:
            raise not_allowed(f"Extra input fields: {', '.join(extra)}")

    def check_length(self, size: int) -> None:
        """Raised as soon as the bytes so far pass the range's maximum."""
        if self.max_size is not None and size > self.max_size:
            raise errors.S3Error(400, "EntityTooLarge",
                                 "Your proposed upload exceeds the maximum allowed size",
                                 ProposedSize=str(size), MaxSizeAllowed=str(self.max_size))

    def check_final(self, size: int) -> None:
        self.check_length(size)
        if size < self.min_size:
            raise errors.S3Error(400, "EntityTooSmall",
                                 "Your proposed upload is smaller than the minimum allowed size",
                                 ProposedSize=str(size), MinSizeAllowed=str(self.min_size))


def parse(encoded: str) -> PostPolicy:
    """The ``policy`` field's document; InvalidPolicyDocument when it is not one."""
    if len(encoded) > MAX_POLICY:
        raise invalid_policy("Policy document is too large.")
    try:
        raw = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise invalid_policy("Invalid Base64 Encoding.") from None
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise invalid_policy("Invalid JSON.") from None
    if not isinstance(doc, dict):
        raise invalid_policy("Invalid JSON.")
    if "expiration" not in doc:
        raise invalid_policy("Policy missing expiration.")
    if "conditions" not in doc:
        raise invalid_policy("Policy missing conditions.")
    if not isinstance(doc["conditions"], list):
        raise invalid_policy("Invalid 'conditions' value: must be a list.")
    policy = PostPolicy(_expiration(doc["expiration"]))
    for item in doc["conditions"]:
        _add(policy, item)
    return policy


def _expiration(value) -> datetime:
    text = value if isinstance(value, str) else ""
    try:
        if not text.endswith("Z"):
            raise ValueError(text)
        parsed = datetime.fromisoformat(text[:-1])
    except ValueError:
        raise invalid_policy(f"Invalid 'expiration' value: '{value}'") from None
    return parsed.replace(tzinfo=UTC)


def _add(policy: PostPolicy, item) -> None:
    if isinstance(item, dict):
        if len(item) != 1:
            raise invalid_policy(f"Invalid Simple-Condition: Simple-Conditions must have exactly "
                                 f"one property specified. {json.dumps(item)}")
        (name, value), = item.items()
        if not isinstance(value, str):
            raise invalid_policy(f"Invalid Simple-Condition: value must be a string. {json.dumps(item)}")
        policy.conditions.append(Condition("eq", name.lower().lstrip("$"), value))
        return
    if not isinstance(item, list) or not item or not isinstance(item[0], str):
        raise invalid_policy(f"Invalid Condition: {json.dumps(item)}")
    op = item[0].lower()
    if op == "content-length-range":
        try:
            low, high = (int(v) for v in item[1:])
            bad = isinstance(item[1], bool) or isinstance(item[2], bool) or not 0 <= low <= high
        except (ValueError, TypeError):
            bad = True
        if bad:
            raise invalid_policy(f"Invalid content-length-range: {json.dumps(item)}")
        policy.min_size, policy.max_size = low, high
        return
    if op not in ("eq", "starts-with") or len(item) != 3 or not isinstance(item[1], str) \
            or not item[1].startswith("$") or not isinstance(item[2], str):
        raise invalid_policy(f"Invalid Condition: {json.dumps(item)}")
    policy.conditions.append(Condition(op, item[1][1:].lower(), item[2]))
