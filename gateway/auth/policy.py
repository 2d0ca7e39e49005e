"""Bucket policies: parse and validate the JSON document once, then evaluate it per request.

:func:`parse` turns a policy into a :class:`Policy` whose wildcards are compiled (it is memoized
with the bucket's configuration, so a request pays only the matching), or raises
:class:`PolicyError` with the message S3 gives in its ``MalformedPolicy`` error.
:meth:`Policy.evaluate` answers ``"Deny"`` (an explicit Deny matched: it wins), ``"Allow"`` or
``None`` (the policy says nothing; ACLs decide). Pure: no I/O.

Principals. A gateway key pair is a user: a policy names it by its access key, its canonical
ID, ``arn:aws:iam::<any account>:user/<access key>`` or ``{"CanonicalUser": "<canonical ID>"}``;
``arn:aws:iam::<account>:root`` names every configured key (the gateway is one account); ``"*"``
and ``{"AWS": "*"}`` name everyone, anonymous requests included.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass, replace
from functools import cached_property

from gateway.auth.conditions import (
    Condition,
    Lookup,
    Pattern,
    PolicyError,
    check_variables,
    parse_block,
)

__all__ = ["Policy", "PolicyError", "parse"]

MAX_POLICY_BYTES = 20 * 1024  # S3: "Bucket policies are limited to 20 KB"
VERSIONS = ("2012-10-17", "2008-10-17")
S3_ARN = "arn:aws:s3:::"
_USER_ARN = re.compile(r"arn:aws:iam::([^:]*):user/(?:[^/]+/)*([^/]+)")
_ROOT_ARN = re.compile(r"arn:aws:iam::([0-9a-zA-Z-]+):root")
_ID = re.compile(r"[A-Za-z0-9+=,.@_\-]{1,128}")
_STATEMENT_KEYS = {"Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction",
                   "Resource", "NotResource", "Condition"}
# Actions that exist only on objects or only on buckets (AWS refuses a statement where none of
# its resources is of the right kind); wildcard actions are not checked.
_OBJECT_ACTION = re.compile(r"s3:(get|put|delete)object.*|s3:abortmultipartupload|"
                            r"s3:listmultipartuploadparts|s3:restoreobject|s3:replicate.*")
_BUCKET_ACTION = re.compile(r"s3:(list(bucket.*)?|(get|put|delete)bucket.*|createbucket|"
                            r"deletebucket|(get|put)(lifecycle|replication|encryption|"
                            r"accelerate|analytics|inventory|metrics)configuration)")
# Keys whose fixed (wildcard-free) values make a statement non-public, as AWS defines it.
_FIXING_KEYS = {"aws:sourcearn", "aws:sourcevpc", "aws:sourcevpce", "aws:sourceowner",
                "aws:sourceaccount", "aws:userid", "aws:username", "aws:principalarn",
                "aws:principalaccount", "aws:principalorgid",
                "s3:x-amz-server-side-encryption-aws-kms-key-id"}


@dataclass(frozen=True)
class Principals:
    """A Principal/NotPrincipal element: who it names."""

    anyone: bool = False
    ids: frozenset[str] = frozenset()  # access keys and canonical IDs
    account: bool = False  # ...:root: every configured key

    def names(self, principal: str | None, canonical_id: str | None) -> bool:
        if self.anyone:
            return True
        if principal is None:  # anonymous: only "*" names it
            return False
        return self.account or principal in self.ids or canonical_id in self.ids


@dataclass(frozen=True)
class Statement:
    sid: str | None
    allow: bool
    principal: Principals
    not_principal: bool
    actions: tuple[Pattern, ...]
    not_action: bool
    resources: tuple[Pattern, ...]
    not_resource: bool
    conditions: tuple[Condition, ...]

    def applies(self, who: tuple[str | None, str | None], action: str, arns: tuple[str, ...],
                lookup: Lookup) -> bool:
        """Whether this statement speaks about the request (effect aside)."""
        if self.principal.names(*who) == self.not_principal:
            return False
        if any(p.match(action) for p in self.actions) == self.not_action:
            return False
        hit = any(p.match(arn, lookup) for p in self.resources for arn in arns)
        if hit == self.not_resource:
            return False
        return all(c.holds(lookup) for c in self.conditions)

    @property
    def public(self) -> bool:
        """An Allow that reaches beyond fixed principals (AWS's meaning of "public")."""
        if not self.allow or not (self.principal.anyone or self.not_principal):
            return False
        return not any(_fixes(c) for c in self.conditions)


@dataclass(frozen=True)
class Policy:
    """A parsed bucket policy, ready to evaluate."""

    statements: tuple[Statement, ...]

    @cached_property
    def public(self) -> bool:
        return any(s.public for s in self.statements)

    @cached_property
    def reads_tags(self) -> bool:
        """Whether a condition asks for the object's tags (then they are read first)."""
        return any(c.key.startswith("s3:existingobjecttag/")
                   for s in self.statements for c in s.conditions)

    def evaluate(self, who: tuple[str | None, str | None], action: str,
                 arns: tuple[str, ...], lookup: Lookup) -> str | None:
        """"Deny" if a Deny statement applies, else "Allow" if an Allow does, else None.

        ``who``: the requester's access key and canonical ID (both None: anonymous);
        ``arns``: the names of the resource; ``lookup``: the request's condition keys.
        """
        allowed = False
        for statement in self.statements:
            if statement.allow and allowed:
                continue
            if not statement.applies(who, action, arns, lookup):
                continue
            if not statement.allow:
                return "Deny"
            allowed = True
        return "Allow" if allowed else None

    @cached_property
    def restricted(self) -> Policy:
        """This policy without its public Allow statements (RestrictPublicBuckets)."""
        return Policy(tuple(s for s in self.statements if not s.public))


def parse(document: bytes | str, bucket_names: Iterable[str] = (),
          known_ids: Collection[str] | None = None) -> Policy:
    """Validate a policy document and compile it.

    ``bucket_names``: the names of the bucket it is put on; when given, every Resource must
    lie inside the bucket. ``known_ids``: the principal IDs that exist (access keys and
    canonical IDs); when given, a Principal naming anyone else is refused, as S3 refuses
    principals that do not exist.
    """
    if isinstance(document, bytes):
        if len(document) > MAX_POLICY_BYTES:
            raise PolicyError("Policies must be no larger than 20 KB")
        try:
            document = document.decode("utf-8")
        except UnicodeDecodeError:
            raise PolicyError("Policies must be valid JSON and the first byte must be '{'") \
                from None
    if not document.lstrip().startswith("{"):
        raise PolicyError("Policies must be valid JSON and the first byte must be '{'")
    try:
        doc = json.loads(document, object_pairs_hook=_no_duplicates)
    except ValueError as e:
        if isinstance(e, PolicyError):
            raise
        raise PolicyError("Policies must be valid JSON and the first byte must be '{'") from None
    unknown = set(doc) - {"Version", "Id", "Statement"}
    if unknown:
        raise PolicyError(f"Unknown field {sorted(unknown)[0]}")
    version = doc.get("Version", "2008-10-17")
    if version not in VERSIONS:
        raise PolicyError("Policy has an invalid version")
    raw = doc.get("Statement")
    if isinstance(raw, dict):
        raw = [raw]
    if not isinstance(raw, list) or not raw:
        raise PolicyError("Missing required field Statement")
    names = tuple(bucket_names)
    # Policy variables (${aws:username}) exist only in 2012-10-17: before, "${" is literal.
    variables = version == "2012-10-17"
    statements = tuple(_statement(s, names, known_ids, variables) for s in raw)
    sids = [s.sid for s in statements if s.sid is not None]
    if len(sids) != len(set(sids)):
        raise PolicyError("Statement IDs (SID) in a single policy must be unique")
    return Policy(statements)


def _no_duplicates(pairs: list[tuple[str, object]]) -> dict:
    doc: dict = {}
    for key, value in pairs:
        if key in doc:
            raise PolicyError(f"Duplicate field {key}")
        doc[key] = value
    return doc


def _statement(raw: object, bucket_names: tuple[str, ...],
               known_ids: Collection[str] | None, variables: bool = True) -> Statement:
    if not isinstance(raw, dict):
        raise PolicyError("Statement must be an object")
    unknown = set(raw) - _STATEMENT_KEYS
    if unknown:
        raise PolicyError(f"Unknown field {sorted(unknown)[0]}")
    sid = raw.get("Sid")
    if sid is not None and (not isinstance(sid, str) or not re.fullmatch(r"[A-Za-z0-9 ]*", sid)):
        raise PolicyError("Statement IDs (SID) must be alpha-numeric")
    effect = raw.get("Effect")
    if effect not in ("Allow", "Deny"):
        raise PolicyError("Invalid effect: " + str(effect) if effect is not None
                          else "Missing required field Effect")
    principal, not_principal = _either(raw, "Principal", "NotPrincipal")
    actions, not_action = _either(raw, "Action", "NotAction")
    resources, not_resource = _either(raw, "Resource", "NotResource")
    who = _principals(principal, known_ids)
    action_patterns = tuple(_action(a) for a in _strings(actions, "Action"))
    resource_patterns = tuple(_resource(r, bucket_names, variables)
                              for r in _strings(resources, "Resource"))
    if not not_action and not not_resource:
        _check_applicable(action_patterns, resource_patterns)
    conditions = parse_block(raw["Condition"]) if "Condition" in raw else ()
    if not variables:
        conditions = tuple(_literal(c) for c in conditions)
    return Statement(sid, effect == "Allow", who, not_principal, action_patterns, not_action,
                     resource_patterns, not_resource, conditions)


def _either(raw: dict, name: str, negated: str) -> tuple[object, bool]:
    if name in raw and negated in raw:
        raise PolicyError(f"Statement may not have both {name} and {negated}")
    if name in raw:
        return raw[name], False
    if negated in raw:
        return raw[negated], True
    if name == "Principal":
        raise PolicyError("Missing required field Principal")
    raise PolicyError(f"Missing required field {name}")


def _strings(value: object, what: str) -> list[str]:
    items = value if isinstance(value, list) else [value]
    if not items or not all(isinstance(i, str) and i for i in items):
        raise PolicyError(f"Policy has an invalid {what.lower()}" if what != "Resource"
                          else "Policy has invalid resource")
    return items


def _principals(value: object, known_ids: Collection[str] | None) -> Principals:
    if value == "*":
        return Principals(anyone=True)
    if not isinstance(value, dict) or not value:
        raise PolicyError("Invalid principal in policy")
    anyone, account, ids = False, False, set()
    for kind, names in value.items():
        if kind not in ("AWS", "CanonicalUser"):
            raise PolicyError("Invalid principal in policy")
        for name in names if isinstance(names, list) else [names]:
            if not isinstance(name, str):
                raise PolicyError("Invalid principal in policy")
            name = name.strip()
            if name == "*" and kind == "AWS":
                anyone = True
                continue
            user, root = _USER_ARN.fullmatch(name), _ROOT_ARN.fullmatch(name)
            if root and kind == "AWS":
                account = True
                continue
            ident = user.group(2) if user and kind == "AWS" else name
            if not _ID.fullmatch(ident) or (known_ids is not None and ident not in known_ids):
                raise PolicyError("Invalid principal in policy")
            ids.add(ident)
    return Principals(anyone, frozenset(ids), account)


def _action(text: str) -> Pattern:
    if text != "*" and not re.fullmatch(r"[sS]3:[A-Za-z0-9*?]+", text):
        raise PolicyError("Policy has invalid action")
    return Pattern(text, ignore_case=True)  # action names are case-insensitive


def _literal(condition: Condition) -> Condition:
    """A condition whose string values take ``${...}`` literally (Version 2008-10-17)."""
    values = tuple(Pattern(v.text, v.ignore_case, v.wild) if isinstance(v, Pattern) else v
                   for v in condition.values)
    return replace(condition, values=values)


def _resource(text: str, bucket_names: tuple[str, ...], variables: bool = True) -> Pattern:
    if variables:
        check_variables(text)
    if text != "*" and not text.startswith(S3_ARN):
        raise PolicyError("Policy has invalid resource")
    bucket = text[len(S3_ARN):].split("/", 1)[0] if text != "*" else "*"
    if not bucket:
        raise PolicyError("Policy has invalid resource")
    if bucket_names:
        # Inside this bucket: the bucket part (wildcards allowed) names one of its names.
        probe = Pattern(bucket)
        if not any(probe.match(name) for name in bucket_names) and \
                not any(Pattern(text).match(S3_ARN + name) for name in bucket_names):
            raise PolicyError("Policy has invalid resource")
    return Pattern(text, variables=variables)


def _check_applicable(actions: tuple[Pattern, ...], resources: tuple[Pattern, ...]) -> None:
    objects = any("/" in r.text or r.text.endswith("*") for r in resources)
    buckets = any("/" not in r.text for r in resources)
    for action in actions:
        name = action.text.lower()
        if action.wild:
            continue
        if (_OBJECT_ACTION.fullmatch(name) and not objects) or \
                (_BUCKET_ACTION.fullmatch(name) and not buckets):
            raise PolicyError("Action does not apply to any resource(s) in statement")


def _fixes(condition: Condition) -> bool:
    """Whether a condition limits an Allow to fixed requesters (so it is not public)."""
    if condition.negated or condition.if_exists or condition.base == "Null":
        return False
    if condition.key == "aws:sourceip" and condition.base == "IpAddress":
        # A set of CIDRs; ones that cover most of the internet do not count.
        return all(n.prefixlen >= (8 if n.version == 4 else 32) for n in condition.values)
    if condition.key in _FIXING_KEYS and condition.base.startswith(("String", "Arn")):
        return not any(p.wild or "${" in p.text for p in condition.values)
    return False
