"""Who signed a browser form upload (POST Object): the form's own signature over its policy.

A form cannot carry an Authorization header, so the request itself is unsigned: the middleware
lets an unsigned ``multipart/form-data`` POST to a bucket through (see
:func:`is_form_upload`), and the handler checks the signature the form holds, once it has read
the fields before the file:

- Signature Version 4: ``x-amz-algorithm`` (AWS4-HMAC-SHA256), ``x-amz-credential``,
  ``x-amz-date``, ``x-amz-signature`` = hex HMAC-SHA256 of the base64 ``policy`` under the
  day's signing key;
- Signature Version 2: ``AWSAccessKeyId``, ``signature`` = base64 HMAC-SHA1 of the policy.

A form with neither is anonymous (None), which only a gateway without credentials, or an ACL or
policy that lets anyone write, accepts.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from starlette.types import Scope

from gateway.auth import sigv4
from gateway.auth.authenticator import SIGV4A, Authenticator, Identity
from gateway.s3 import errors

# scope["state"] key: set (to a FormAuth) on a form upload the middleware let through
# unsigned; the handler checks the form's own signature with it, then asks the access decision.
FORM_AUTH = "form_upload_auth"
V4_FIELDS = ("x-amz-algorithm", "x-amz-credential", "x-amz-date", "x-amz-signature")
V2_FIELDS = ("awsaccesskeyid", "signature")


@dataclass(frozen=True)
class FormAuth:
    """What a form upload's handler needs to decide who may write: the authenticator (key pairs,
    pachd), ``authorize(access_key or None, bucket, key)``, the access decision for
    s3:PutObject (an ACL or bucket policy may let an unsigned form write), and whether CORS
    rules let another site's page post (see :func:`cross_site`)."""

    auth: Authenticator | None  # None: a gateway without authentication
    authorize: Callable[[str | None, str, str], Awaitable[None]]
    cors_allows_post: Callable[[str, str], Awaitable[bool]]  # (origin, bucket)

    async def required(self) -> bool:
        """Whether this gateway wants signatures (key pairs configured, or pachd auth active)."""
        return self.auth is not None and (bool(self.auth.credentials) or await self.token_mode())

    async def token_mode(self) -> bool:
        return self.auth is not None and self.auth.pachd is not None and await self.auth.pachd.active()


def cross_site(origin: str | None, host: str | None) -> bool:
    """Whether a browser's ``Origin`` is another site than the gateway (``Host``) it posts to.

    On the anonymous default a form POST is a "simple" cross-origin request (no preflight), so
    any page a user visits could otherwise write into their local gateway's buckets: an
    unsigned form from another site is accepted only where the bucket's CORS rules allow that
    origin to POST (a signed form proves its key holder meant it)."""
    if origin is None:
        return False  # not a browser's cross-origin request (browsers send Origin on POST)
    if origin == "null":
        return True  # a sandboxed page or a file: URL
    return urlsplit(origin).netloc.lower() != (host or "").lower()


def is_form_upload(scope: Scope) -> bool:
    """A POST to a bucket (no query), of ``multipart/form-data``, with no Authorization header:
    its signature, if any, is inside the body (checked by the handler, not the middleware)."""
    if scope["method"] != "POST" or scope["query_string"]:
        return False
    path = scope["path"].strip("/")
    if not path or "/" in path:
        return False
    form = False
    for name, value in scope["headers"]:
        if name == b"authorization":
            return False
        if name == b"content-type":
            form = value[:19].lower() == b"multipart/form-data"
    return form


def missing_field(name: str) -> errors.S3Error:
    return errors.invalid_argument(f"Bucket POST must contain a field named '{name}'.  If it is "
                                   "specified, please check the order of the fields.", name, "")


def is_signed(fields: dict[str, str]) -> bool:
    return any(f in fields for f in V4_FIELDS + V2_FIELDS)


async def verify(auth: Authenticator, fields: dict[str, str]) -> Identity:
    """The identity whose secret signed the form's policy; the S3 error of a form that fails."""
    policy = fields.get("policy")
    if policy is None:
        raise missing_field("policy")
    token_mode = auth.pachd is not None and await auth.pachd.active()
    if any(f in fields for f in V4_FIELDS):
        algorithm = fields.get("x-amz-algorithm")
        if algorithm == SIGV4A:
            raise errors.not_implemented("Signature Version 4A (AWS4-ECDSA-P256-SHA256) is not "
                                         "supported by this gateway.")
        if algorithm != sigv4.ALGORITHM:
            raise errors.invalid_argument("Invalid algorithm: only AWS4-HMAC-SHA256 is supported.",
                                          "x-amz-algorithm", algorithm or "")
        for name in V4_FIELDS:
            if name not in fields:
                raise missing_field(name)
        access_key, date, region = sigv4.parse_credential(
            fields["x-amz-credential"],
            lambda m: errors.invalid_argument(f"Invalid credential: {m}", "x-amz-credential", ""))
        try:
            sigv4.parse_amz_date(fields["x-amz-date"])
        except ValueError:
            raise errors.invalid_argument("Invalid x-amz-date.", "x-amz-date",
                                          fields["x-amz-date"]) from None
        secret = _secret(auth, access_key, token_mode)
        expected = sigv4.signature(sigv4.signing_key(secret, date, region), policy)
        good = hmac.compare_digest(expected, fields["x-amz-signature"].strip().lower())
        version = sigv4.ALGORITHM
    else:
        for name in V2_FIELDS:
            if name not in fields:
                raise missing_field("AWSAccessKeyId" if name == "awsaccesskeyid" else name)
        access_key = fields["awsaccesskeyid"]
        secret = _secret(auth, access_key, token_mode)
        expected = hmac.new(secret.encode(), policy.encode(), hashlib.sha1).digest()
        try:
            provided = base64.b64decode(fields["signature"], validate=True)
        except (binascii.Error, ValueError):
            provided = b""
        good = hmac.compare_digest(expected, provided)
        version = "AWS"
    if not good:
        raise errors.signature_does_not_match()
    identity = Identity(access_key, signature_version=version)
    if token_mode:
        await auth.pachd.check_token(access_key)
        identity.token = access_key
    return identity


def _secret(auth: Authenticator, access_key: str, token_mode: bool) -> str:
    if token_mode:
        return access_key  # against pachd with auth: the access key is a token, and its secret
    secret = auth.credentials.get(access_key)
    if secret is None:
        raise errors.invalid_access_key_id(access_key)
    return secret
