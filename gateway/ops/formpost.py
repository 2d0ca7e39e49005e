"""POST Object: a browser form upload, read, authorized and written as one PutObject would be.

The form is read as it streams (:mod:`gateway.s3.formdata`): the fields before the file, then
the file. Everything the fields decide is settled before the first byte of the file is read:
the form's signature (:mod:`gateway.auth.postform`), its policy's expiry and conditions
(:mod:`gateway.s3.postpolicy`), the key (``${filename}`` replaced by the file's name), the
metadata, tags and checksum fields. The file then streams into one ModifyFile like any PUT
(:func:`gateway.ops.upload.write_object`); the policy's ``content-length-range`` is checked as
the bytes arrive and at the end, before the stream completes, so a file outside the range
leaves nothing written.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote, urlencode, urlsplit

from starlette.requests import Request

from gateway.auth import postform
from gateway.auth.authenticator import Identity
from gateway.ops import acls, versioning
from gateway.ops.body import UploadBody
from gateway.ops.upload import write_object
from gateway.pfs import metadata
from gateway.pfs.client import PFS, request_token
from gateway.pfs.refs import write_ref
from gateway.s3 import errors, formdata, postpolicy, tagging
from gateway.s3.names import object_path
from gateway.s3.xml import document, element

FILENAME = "${filename}"
SUCCESS_STATUSES = {"200": 200, "201": 201, "204": 204}


@dataclass
class Written:
    """What a form upload wrote, and how to answer it."""

    bucket: str
    key: str
    etag: str  # without quotes
    commit: str
    headers: dict[str, str]  # ETag, versions, checksums


async def post_object(req: Request, client: PFS, bucket: str) -> tuple[Written, dict[str, str]]:
    """Read, check and write one form upload; what it wrote, and the form's fields."""
    state = req.scope.get("state", {})
    boundary = formdata.boundary_of(state.get("content_type"))
    if boundary is None:
        raise errors.precondition_failed("Bucket POST must be of the enclosure-type multipart/form-data")
    ref = write_ref(bucket)
    form = formdata.FormStream(req.stream(), boundary)
    fields: dict[str, str] = {}
    part = await form.next_part(fields)
    if part is None or part.name.lower() != formdata.FILE_FIELD:
        raise errors.invalid_argument("POST requires exactly one file upload per request.",
                                      "file", "0")
    if "key" not in fields:
        raise postform.missing_field("key")
    policy = postpolicy.parse(fields["policy"]) if "policy" in fields else None
    identity = await _identity(state, fields)
    await _refuse_cross_site(req, state, bucket, identity)
    if policy is not None:
        policy.check_form(fields, bucket, datetime.now(UTC))
    key = fields["key"].replace(FILENAME, part.filename or "")
    if not key:
        raise errors.invalid_argument("The key must not be empty.", "key", "")
    path = object_path(key)
    form_auth = state.get(postform.FORM_AUTH)
    if form_auth is not None and not (identity is not None and identity.token):
        if await form_auth.required():  # the gateway's key pairs decide: ACLs, bucket policy
            await form_auth.authorize(identity.access_key if identity else None, bucket, key)
    meta = _metadata(fields)
    # the form's canned ACL (or, from a key that does not own the bucket, the writer's own)
    meta.acl = await acls.for_object_write(bucket, {"x-amz-acl": fields["acl"]} if "acl" in fields else {})
    body = UploadBody(None, source=form.file_data(), headers=_checksum_fields(fields),
                      size_check=policy.check_length if policy else None,
                      final_check=policy.check_final if policy else None,
                      backend_md5=client.hashes_uploads)
    token = request_token.set(identity.token) if identity is not None and identity.token else None
    try:
        commit = await write_object(client, ref, path, key, body, meta, f"PostObject {key}")
    finally:
        if token is not None:
            request_token.reset(token)
    await form.drain()  # fields after the file are ignored, as S3 does
    headers = {"ETag": f'"{body.md5_hex}"', **versioning.write_headers(commit, meta.version),
               **body.response_headers()}
    return Written(bucket, key, body.md5_hex, commit, headers), fields


async def _identity(state: dict, fields: dict[str, str]) -> Identity | None:
    """Who signed the form (None: anonymous, or a gateway that checks no signatures)."""
    form_auth: postform.FormAuth | None = state.get(postform.FORM_AUTH)
    if form_auth is None or not await form_auth.required():
        return None  # a gateway without credentials: signatures are not even read
    if postform.is_signed(fields):
        identity = await postform.verify(form_auth.auth, fields)
        state["identity"] = identity  # the access decision's s3:signatureversion
        if identity.token is not None:
            state[acls.PACHD_AUTH] = form_auth.auth.pachd
    elif await form_auth.token_mode():
        raise errors.access_denied()  # against pachd with auth, a Pachyderm token is needed
    else:
        identity = None
    return identity


async def _refuse_cross_site(req: Request, state: dict, bucket: str, identity: Identity | None) -> None:
    """On a gateway that reads no signatures, an unsigned form from another site's page is
    refused unless CORS rules let that origin POST (:func:`gateway.auth.postform.cross_site`)."""
    form_auth: postform.FormAuth | None = state.get(postform.FORM_AUTH)
    if form_auth is None or identity is not None or await form_auth.required():
        return
    origin = req.headers.get("origin")
    if postform.cross_site(origin, req.headers.get("host")) and \
            not await form_auth.cors_allows_post(origin or "null", bucket):
        raise errors.access_denied("Cross-site form upload refused: no CORS rule of this bucket "
                                   "(or the gateway's default rule) allows POST from this origin.")


def _metadata(fields: dict[str, str]) -> metadata.ObjectMeta:
    """Content-Type, the stored headers and ``x-amz-meta-*`` from the fields; ``tagging`` is a
    Tagging XML document."""
    stored = {k: v for k, v in fields.items()
              if k in metadata.STORED_HEADERS[1:] or k.startswith(metadata.USER_PREFIX)}
    meta = metadata.from_headers(stored, fields.get("content-type"))
    if "tagging" in fields:
        meta.tags = tagging.parse_document(fields["tagging"].encode())
    return meta


def _checksum_fields(fields: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in fields.items() if k.startswith("x-amz-checksum-")
            or k in ("content-md5", "x-amz-sdk-checksum-algorithm")}


def answer(req: Request, written: Written, fields: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body) as the form asks: a 303 to ``success_action_redirect`` (with
    bucket, key and ETag in its query), else ``success_action_status`` (204 by default; 201
    carries a PostResponse document)."""
    location = f"{req.url.scheme}://{req.headers.get('host', '')}/{quote(written.bucket)}/" \
               f"{quote(written.key)}"
    headers = {**written.headers, "Location": location}
    target = fields.get("success_action_redirect") or fields.get("redirect")
    if target and _is_url(target):
        query = urlencode({"bucket": written.bucket, "key": written.key,
                           "etag": f'"{written.etag}"'})
        headers["Location"] = target + ("&" if "?" in target else "?") + query
        return 303, headers, b""
    status = SUCCESS_STATUSES.get(fields.get("success_action_status", "").strip(), 204)
    if status != 201:
        return status, headers, b""
    body = document("PostResponse", [element("Location", location),
                                     element("Bucket", written.bucket),
                                     element("Key", written.key),
                                     element("ETag", f'"{written.etag}"')])
    return 201, {**headers, "Content-Type": "application/xml"}, body


def _is_url(value: str) -> bool:
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc)
