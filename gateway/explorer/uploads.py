"""The explorer's writes: upload files into the folder shown, and create a folder in it.

Plain HTML forms (no JavaScript): ``POST /~/explorer/upload/<bucket>/<folder/>`` takes a
``multipart/form-data`` body with the CSRF token first and then one or more files; each file
is streamed into its own commit (:func:`gateway.ops.upload.write_object`, as a PutObject is),
described ``Explorer upload <key>`` and the user. ``POST /~/explorer/mkdir/<bucket>/<folder/>``
with a ``name`` makes the folder marker ``<folder/><name>/`` (as S3's "Create folder" does).

CSRF: a logged-in user's form carries the session's token (the one the logout form carries);
on the anonymous gateway, where there is no session, a random token in a cookie of its own
that the form must repeat (a page on another site can neither read that cookie nor set it).
A cross-site ``Origin`` is refused either way. With key pairs configured, the access decision
(ACLs, bucket policy) is asked as for an S3 PutObject by that key.
"""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from gateway import context
from gateway.auth.access import Principal, RequestFacts, authorize
from gateway.explorer import PREFIX
from gateway.explorer.session import SESSION_TTL, Session
from gateway.ops import acls, bucketconfig
from gateway.ops.body import UploadBody
from gateway.ops.upload import write_object
from gateway.pfs import metadata
from gateway.pfs.client import PFS, Ref
from gateway.pfs.refs import write_ref
from gateway.s3 import errors, formdata
from gateway.s3.names import object_path

CSRF_COOKIE = "s3gw_csrf"  # the anonymous explorer's form token
MAX_NAME = 255


def csrf_token(request: Request, sess: Session | None) -> tuple[str, bool]:
    """The token the page's forms carry, and whether it is new (to be set as the cookie)."""
    if sess is not None:
        return sess.csrf, False
    current = request.cookies.get(CSRF_COOKIE, "")
    if len(current) >= 16:
        return current, False
    return secrets.token_urlsafe(16), True


def remember_csrf(request: Request, resp: Response, token: str) -> None:
    resp.set_cookie(CSRF_COOKIE, token, max_age=SESSION_TTL, path=PREFIX, httponly=True,
                    samesite="strict", secure=request.url.scheme == "https")


def check_csrf(request: Request, sess: Session | None, sent: str) -> None:
    """403 unless ``sent`` is this browser's token and the request comes from this site."""
    origin = request.headers.get("origin")
    if origin is not None and origin != "null":
        if urlsplit(origin).netloc != request.headers.get("host", ""):
            raise errors.access_denied("Cross-site form refused.")
    expected = sess.csrf if sess is not None else request.cookies.get(CSRF_COOKIE, "")
    if not expected or not secrets.compare_digest(expected.encode(), sent.encode()):
        raise errors.access_denied("The form has expired or did not come from this page: "
                                   "reload the page and try again.")


def _describe(what: str, sess: Session | None) -> str:
    return f"Explorer {what}" + (f" by {sess.access_key}" if sess is not None else "")


async def _may_write(request: Request, sess: Session | None, bucket: str, key: str,
                     keys_decide: bool) -> None:
    """The access decision, as for the logged-in key's PutObject (key pairs only: against
    pachd with auth, the session's token carries pachd's own permissions)."""
    if not keys_decide or sess is None or sess.token is not None:
        return
    client = request.client
    await authorize(RequestFacts(
        action="s3:PutObject", bucket=bucket, key=key, principal=Principal.of(sess.access_key),
        config=await bucketconfig.load(bucket), source_ip=client.host if client else None,
        secure=request.url.scheme == "https", operation="PutObject"))


async def may_read(request: Request, bucket: str, path: str, what: str, keys_decide: bool) -> None:
    """The access decision for a page that reads ``bucket`` (a folder, an object, history), as
    for the logged-in key's ListBucket / GetObject / ListBucketVersions: the explorer shows a
    key what S3 would let it read, no more (key pairs only, as for writes)."""
    sess = request.scope.get("explorer_session")
    if not keys_decide or sess is None or sess.token is not None:
        return
    key = path if path and not path.endswith("/") else None
    if what == "history":
        action, key = "s3:ListBucketVersions", None
    else:
        action = "s3:GetObject" if key is not None else "s3:ListBucket"
    client = request.client
    await authorize(RequestFacts(
        action=action, bucket=bucket, key=key, principal=Principal.of(sess.access_key),
        config=await bucketconfig.load(bucket), source_ip=client.host if client else None,
        secure=request.url.scheme == "https", operation="Explorer",
        object_acl=acls.object_acl_reader(bucket, key)))


async def upload(request: Request, sess: Session | None, bucket: str, folder: str,
                 keys_decide: bool) -> list[str]:
    """Write each file of the form into ``folder``, one commit each; the keys written.

    A failure stops there (the files before it are committed, each on its own): the S3 error
    is raised with the keys written so far in ``err.extra["written"]``.
    """
    boundary = formdata.boundary_of(request.headers.get("content-type"))
    if boundary is None:
        raise errors.invalid_request("Upload with a multipart/form-data form.")
    ref = write_ref(bucket)
    form = formdata.FormStream(request.stream(), boundary)
    fields: dict[str, str] = {}
    written: list[str] = []
    try:
        part = await form.next_part(fields)
        check_csrf(request, sess, fields.get("csrf", ""))  # before any file byte is read
        client = context.pfs()
        while part is not None:
            if part.filename:  # (a browser sends an empty part when no file was chosen)
                key = folder + part.filename
                await _may_write(request, sess, bucket, key, keys_decide)
                await _write(client, ref, key, part.content_type, form, sess)
                written.append(key)
            else:
                async for _ in form.file_data():
                    pass
            part = await form.next_part(fields)
    except errors.S3Error as e:
        e.extra["written"] = written
        raise
    except ClientDisconnect:
        raise errors.incomplete_body() from None
    if not written:
        raise errors.invalid_argument("Choose at least one file to upload.", "file", "")
    return written


async def _write(client: PFS, ref: Ref, key: str, content_type: str | None,
                 form: formdata.FormStream, sess: Session | None) -> None:
    path = object_path(key)
    meta = metadata.ObjectMeta()
    if content_type and content_type != "application/octet-stream":
        meta.headers["content-type"] = content_type  # else guessed from the name, as for S3
    body = UploadBody(None, source=form.file_data())
    await write_object(client, ref, path, key, body, meta, _describe(f"upload {key}", sess))


async def make_folder(request: Request, sess: Session | None, bucket: str, folder: str,
                      keys_decide: bool) -> str:
    """The folder marker ``folder + name + "/"``, in one commit; its key."""
    form = await request.form(max_files=0, max_fields=8, max_part_size=4096)
    check_csrf(request, sess, str(form.get("csrf") or ""))
    name = str(form.get("name") or "").strip().strip("/")
    if not name or len(name) > MAX_NAME:
        raise errors.invalid_argument("Give the new folder a name (at most 255 characters).",
                                      "name", name)
    key = f"{folder}{name}/"
    path = object_path(key)  # the key rules (PFS paths, .s3g/ reserved) apply
    await _may_write(request, sess, bucket, key, keys_decide)
    client = context.pfs()

    async def nothing():
        return
        yield b""

    body = UploadBody(None, source=nothing())
    await write_object(client, write_ref(bucket), path, key, body, metadata.ObjectMeta(),
                       _describe(f"new folder {key}", sess))
    return key
