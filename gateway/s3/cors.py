"""CORS as S3 defines it: the ``<CORSConfiguration>`` document, and how a request meets its rules.

A configuration holds 1 to 100 ``CORSRule``s. Each names the origins it serves
(``AllowedOrigin``, at most one ``*`` wildcard each), the methods (``GET PUT HEAD POST DELETE``,
exactly so spelled), the headers a preflight may ask for (``AllowedHeader``, one ``*`` each,
compared without regard to case), the response headers scripts may read (``ExposeHeader``, no
wildcard) and how long a browser may keep the answer (``MaxAgeSeconds``).

The first rule whose origin and method match (and, for a preflight, that allows every header the
preflight names) decides, as S3 evaluates them. Its answer is the same set of headers S3 sends:
the origin echoed (``*`` when the rule allows any origin, and then no
``Access-Control-Allow-Credentials``), the rule's methods, the requested headers (lower case),
exposed headers, max age, and ``Vary``. Nothing here reads PFS: the configuration is parsed
from bytes and matched against header values.
"""

from __future__ import annotations

from dataclasses import dataclass
from xml.etree import ElementTree

from gateway.s3 import errors
from gateway.s3.xml import document, element

METHODS = frozenset({"GET", "PUT", "HEAD", "POST", "DELETE"})
MAX_RULES = 100
MAX_DOCUMENT = 64 * 1024  # S3: "The document is limited to 64 KB in size."
MAX_ID = 255
VARY = "Origin, Access-Control-Request-Headers, Access-Control-Request-Method"

Headers = list[tuple[str, str]]


class Pattern:
    """An AllowedOrigin or AllowedHeader: literal text with at most one ``*`` (any run of
    characters, the empty one included), matched against the whole value."""

    __slots__ = ("text", "prefix", "suffix", "wild", "fold")

    def __init__(self, text: str, fold: bool = False) -> None:
        self.text = text
        self.fold = fold  # header names: compared without regard to case
        value = text.lower() if fold else text
        self.prefix, star, self.suffix = value.partition("*")
        self.wild = bool(star)

    def matches(self, value: str) -> bool:
        if self.fold:
            value = value.lower()
        if not self.wild:
            return value == self.prefix
        return (len(value) >= len(self.prefix) + len(self.suffix)
                and value.startswith(self.prefix) and value.endswith(self.suffix))


@dataclass(frozen=True)
class Rule:
    """One CORSRule, as stored (texts kept as given) with its patterns compiled."""

    methods: tuple[str, ...]
    origins: tuple[str, ...]
    headers: tuple[str, ...] = ()
    expose: tuple[str, ...] = ()
    max_age: int | None = None
    id: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "_origins", tuple(Pattern(o) for o in self.origins))
        object.__setattr__(self, "_headers", tuple(Pattern(h, fold=True) for h in self.headers))

    def allowed_origin(self, origin: str) -> str | None:
        """What ``Access-Control-Allow-Origin`` says for ``origin`` (None: not allowed):
        ``*`` when the matching entry is ``*`` itself, else the origin echoed."""
        for pattern in self._origins:  # type: ignore[attr-defined]
            if pattern.matches(origin):
                return "*" if pattern.text == "*" else origin
        return None

    def allows_headers(self, requested: list[str]) -> bool:
        return all(any(p.matches(name) for p in self._headers)  # type: ignore[attr-defined]
                   for name in requested)

    def response_headers(self, allow_origin: str, requested: list[str] | None = None) -> Headers:
        """The headers of an answer under this rule (``requested``: a preflight's header names)."""
        out = [("Access-Control-Allow-Origin", allow_origin),
               ("Access-Control-Allow-Methods", ", ".join(self.methods))]
        if requested:
            out.append(("Access-Control-Allow-Headers", ", ".join(requested)))
        if self.expose:
            out.append(("Access-Control-Expose-Headers", ", ".join(self.expose)))
        if self.max_age is not None:
            out.append(("Access-Control-Max-Age", str(self.max_age)))
        if allow_origin != "*":
            out.append(("Access-Control-Allow-Credentials", "true"))
        out.append(("Vary", VARY))
        return out


@dataclass(frozen=True)
class Configuration:
    """A bucket's rules (or the gateway's default rule), in order."""

    rules: tuple[Rule, ...]

    def preflight(self, origin: str, method: str, requested: list[str]) -> Headers | None:
        """The answer to a preflight (``requested``: lower-case header names), or None when
        no rule allows it."""
        for rule in self.rules:
            if method not in rule.methods:
                continue
            allow = rule.allowed_origin(origin)
            if allow is not None and rule.allows_headers(requested):
                return rule.response_headers(allow, requested)
        return None

    def actual(self, origin: str, method: str) -> Headers | None:
        """The CORS headers of an actual request's response, or None when no rule allows it.

        S3 looks only at the origin and the method here, not at the request's headers; a
        request that names ``Access-Control-Request-Method`` is matched with that method."""
        for rule in self.rules:
            if method in rule.methods:
                allow = rule.allowed_origin(origin)
                if allow is not None:
                    return rule.response_headers(allow)
        return None


def request_headers(value: str | None) -> list[str]:
    """``Access-Control-Request-Headers`` as lower-case names in the order sent (browsers send
    them sorted, joined by ``,``; any spacing and empty items are tolerated)."""
    if not value:
        return []
    return [name.strip().lower() for name in value.split(",") if name.strip()]


# -- the document ------------------------------------------------------------------------------

def _name(el: ElementTree.Element) -> str:
    return el.tag.rsplit("}", 1)[-1]


def _one_wildcard(kind: str, value: str) -> None:
    if value.count("*") > 1:
        raise errors.invalid_request(f'{kind} "{value}" can not have more than one wildcard.')


def _rule(el: ElementTree.Element) -> Rule:
    lists: dict[str, list[str]] = {"AllowedMethod": [], "AllowedOrigin": [], "AllowedHeader": [],
                                   "ExposeHeader": []}
    single: dict[str, str] = {}
    for child in el:
        name, value = _name(child), child.text or ""
        if len(child):
            raise errors.malformed_xml()
        if name in lists:
            lists[name].append(value)
        elif name in ("ID", "MaxAgeSeconds") and name not in single:
            single[name] = value
        else:
            raise errors.malformed_xml()
    methods, origins = lists["AllowedMethod"], lists["AllowedOrigin"]
    if not methods or not origins:
        raise errors.malformed_xml()  # each rule names at least one origin and one method
    for method in methods:
        if method not in METHODS:
            raise errors.invalid_request("Found unsupported HTTP method in CORS config. "
                                         f"Unsupported method is {method}")
    for origin in origins:
        _one_wildcard("AllowedOrigin", origin)
    for header in lists["AllowedHeader"]:
        _one_wildcard("AllowedHeader", header)
    for header in lists["ExposeHeader"]:
        if "*" in header:
            raise errors.invalid_request(f'ExposeHeader "{header}" contains wildcard. We currently '
                                         "do not support wildcard for ExposeHeader.")
    max_age = None
    if "MaxAgeSeconds" in single:
        text = single["MaxAgeSeconds"].strip()
        if not text.isdigit() or not text.isascii():
            raise errors.malformed_xml()
        max_age = int(text)
    rule_id = single.get("ID")
    if rule_id is not None and len(rule_id) > MAX_ID:
        raise errors.invalid_argument(f"The ID of a CORSRule cannot be longer than {MAX_ID} "
                                      "characters.", "ID", rule_id)
    return Rule(methods=tuple(methods), origins=tuple(origins), headers=tuple(lists["AllowedHeader"]),
                expose=tuple(lists["ExposeHeader"]), max_age=max_age, id=rule_id)


def parse(data: bytes) -> Configuration:
    """A PutBucketCors body as a Configuration, or the S3 error S3 answers for it:
    MalformedXML (not XML, not a CORSConfiguration, no rule or more than 100, a rule without an
    origin or a method), InvalidRequest (a method S3 does not allow, two wildcards, a wildcard
    in an ExposeHeader)."""
    if len(data) > MAX_DOCUMENT:
        raise errors.malformed_xml()
    try:
        root = ElementTree.fromstring(data)
    except ElementTree.ParseError:
        raise errors.malformed_xml() from None
    if _name(root) != "CORSConfiguration":
        raise errors.malformed_xml()
    rules = []
    for child in root:
        if _name(child) != "CORSRule":
            raise errors.malformed_xml()
        rules.append(_rule(child))
    if not 1 <= len(rules) <= MAX_RULES:
        raise errors.malformed_xml()
    return Configuration(tuple(rules))


def render(config: Configuration) -> bytes:
    """GetBucketCors' answer: the rules in their order, each element as it was given."""
    parts = []
    for rule in config.rules:
        inner = [element("ID", rule.id)] if rule.id is not None else []
        inner += [element("AllowedHeader", h) for h in rule.headers]
        inner += [element("AllowedMethod", m) for m in rule.methods]
        inner += [element("AllowedOrigin", o) for o in rule.origins]
        inner += [element("ExposeHeader", h) for h in rule.expose]
        if rule.max_age is not None:
            inner.append(element("MaxAgeSeconds", rule.max_age))
        parts.append("<CORSRule>" + "".join(inner) + "</CORSRule>")
    return document("CORSConfiguration", parts)


# -- errors ------------------------------------------------------------------------------------

# S3's wording, its misspelling included (clients and tests compare it)
NOT_ALLOWED = ("CORSResponse: This CORS request is not allowed. This is usually because the "
               "evalution of Origin, request method / Access-Control-Request-Method or "
               "Access-Control-Request-Headers are not whitelisted by the resource's CORS spec.")


def no_such_configuration(bucket: str) -> errors.S3Error:
    return errors.S3Error(404, "NoSuchCORSConfiguration", "The CORS configuration does not exist",
                          BucketName=bucket)


def origin_needed() -> errors.S3Error:
    return errors.S3Error(400, "BadRequest", "Insufficient information. Origin request header needed.")


def method_needed(value: str | None) -> errors.S3Error:
    return errors.S3Error(400, "BadRequest", f"Invalid Access-Control-Request-Method: {value or 'null'}")


def forbidden(message: str, method: str, resource_type: str) -> errors.S3Error:
    """A refused preflight: 403 AccessForbidden with the method asked for (``OPTIONS`` when
    none was) and whether the URL names the bucket or an object, as S3 writes them."""
    return errors.S3Error(403, "AccessForbidden", message, Method=method, ResourceType=resource_type)


def not_enabled(method: str, resource_type: str) -> errors.S3Error:
    return forbidden("CORSResponse: CORS is not enabled for this bucket.", method, resource_type)


def bucket_not_found(method: str, resource_type: str) -> errors.S3Error:
    return forbidden("CORSResponse: Bucket not found", method, resource_type)


def not_allowed(method: str, resource_type: str) -> errors.S3Error:
    return forbidden(NOT_ALLOWED, method, resource_type)
