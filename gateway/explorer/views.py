"""The explorer's page views: a request in, a template and its values out.

Each view gets ``render(request, template, status=200, **values)`` from :mod:`routes`, which
also checks the login and turns PFS and S3 errors into error pages.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote, urlencode

from markupsafe import Markup, escape
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from gateway import context
from gateway.auth.authenticator import Authenticator
from gateway.auth.presign import presigned_get
from gateway.explorer import PREFIX, diffs, pages, uploads
from gateway.pfs.errors import NotFound
from gateway.s3 import errors
from gateway.s3.names import BucketRef, is_commit_id, validate_key

Render = Callable[..., Response]
SHARE_EXPIRIES = ((3600, "1 hour"), (86400, "1 day"), (7 * 86400, "7 days"))
MAX_FILTER = 256


def href(kind: str, bucket: str = "", key: str = "", /, **query) -> str:
    """An explorer URL; bucket and key percent-encoded (keys may hold ``?``, ``#``, ``%``, ...).

    ``kind``, ``bucket`` and ``key`` are positional only, so ``key=`` may be a query parameter.
    """
    url = f"{PREFIX}/{kind}" if kind else f"{PREFIX}/"
    if kind:
        url += f"/{quote(bucket, safe='')}/{quote(key, safe='/')}"
    query = {k: v for k, v in query.items() if v is not None and v != ""}
    return url + ("?" + urlencode(query) if query else "")


def human_size(n: int | None) -> str:
    if n is None:
        return ""
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(size) < 1024 or unit == "TiB":
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return str(n)


def size_change(change: int | None) -> str:
    """A signed size change; zero says what it means (the same total size, not "no change")."""
    if change is None:
        return ""
    if change == 0:
        return "same size"
    return ("+" if change > 0 else "−") + human_size(abs(change))


def breakable(path: str) -> Markup:
    """``path`` escaped, with a line-break opportunity after each ``/`` (long paths wrap at
    folder boundaries before they wrap inside a name)."""
    return Markup(str(escape(path)).replace("/", "/<wbr>"))


def when(dt) -> str:
    return dt.strftime("%Y-%m-%d %H:%M:%S UTC") if dt else ""


def pinned_bucket(b: BucketRef, commit: str) -> str:
    return BucketRef(b.project, b.repo, b.branch, commit).name


async def open_bucket(bucket: str):
    """The bucket's parts, ref and commit shown; a missing bucket is S3's NoSuchBucket."""
    try:
        return await pages.check_bucket(context.pfs(), bucket)
    except NotFound as e:
        if e.kind in ("repo", "branch", "project", "commit", None):
            raise errors.no_such_bucket(bucket) from None
        raise


def _crumbs(path: str) -> list[tuple[str, str]]:
    """(name, folder prefix) for each folder above ``path``."""
    parts = path.rstrip("/").split("/") if path else []
    out, acc = [], ""
    for part in parts[:-1] if not path.endswith("/") else parts:
        acc += part + "/"
        out.append((part, acc))
    return out


def _parent(path: str) -> str:
    """The folder above a key or folder ('' at the top)."""
    head, _, _ = path.rstrip("/").rpartition("/")
    return head + "/" if head else ""


def _commit_param(request: Request, name: str) -> str | None:
    value = request.query_params.get(name)
    if value is None or value == "":
        return None
    if not is_commit_id(value):
        raise errors.invalid_argument(f"{name} must be a commit ID", name, value)
    return value


async def browse(request: Request, render: Render, auth: Authenticator | None,
                 error: str | None = None, status: int = 200) -> Response:
    """A folder page (or an object's: :func:`_object`); ``error``: what a write from it met."""
    bucket, path = request.path_params["bucket"], request.path_params["path"]
    if path and not path.endswith("/"):
        return await _object(request, render, auth, bucket, path)
    client = context.pfs()
    b, ref, commit = await open_bucket(bucket)
    q = request.query_params.get("q", "")[:MAX_FILTER]
    contains = request.query_params.get("match") == "contains"
    after = request.query_params.get("after") or None
    before = request.query_params.get("before") or None
    listing = await pages.folder(client, ref, path, after, before, "" if contains else q, q if contains else "")
    if path and listing.empty and not (q or after or before):
        # PFS has no empty directories: nothing below the prefix means no such folder
        return render(request, "missing.html", status=404, bucket=bucket, b=b, key=path, folder=True,
                      crumbs=_crumbs(path)[:-1], up=_parent(path))
    csrf, new_token = uploads.csrf_token(request, request.scope.get("explorer_session"))
    resp = render(request, "folder.html", status=status, bucket=bucket, b=b, prefix=path,
                  listing=listing, after=after, before=before, commit=commit, crumbs=_crumbs(path),
                  q=q, contains=contains, page_size=pages.PAGE_SIZE, scan_limit=pages.FOLDER_SCAN,
                  csrf=csrf, error=error, notice=_notice(request))
    if new_token:
        uploads.remember_csrf(request, resp, csrf)
    return resp


def _notice(request: Request) -> str | None:
    """What the write that redirected here did (counts only: no text from the URL is shown)."""
    uploaded = request.query_params.get("uploaded", "")
    if uploaded.isdigit():
        return f"Uploaded {int(uploaded)} file{'' if uploaded == '1' else 's'}."
    if request.query_params.get("created") == "1":
        return "Folder created."
    return None


async def _object(request: Request, render: Render, auth: Authenticator | None, bucket: str,
                  key: str) -> Response:
    client = context.pfs()
    b, ref, commit = await open_bucket(bucket)
    validate_key(key)
    try:
        obj = await pages.object_info(client, ref, key)
    except NotFound as e:
        if e.kind != "file":
            raise
        if "is a folder" in e.message:
            return RedirectResponse(href("b", bucket, key + "/"), status_code=303)
        return render(request, "missing.html", status=404, bucket=bucket, b=b, key=key, folder=False,
                      crumbs=_crumbs(key), up=_parent(key))
    preview = await pages.preview(client, ref, obj)
    changed = await pages.last_change(client, ref, commit, key)
    share = await _share(request, auth, bucket, key)
    host = request.headers.get("host", "")
    return render(request, "object.html", bucket=bucket, b=b, key=key, obj=obj, commit=commit,
                  content_type=pages.content_type(obj), preview=preview, crumbs=_crumbs(key),
                  changed=changed, pinned=lambda c: pinned_bucket(b, c), s3_url=f"s3://{bucket}/{key}",
                  http_url=f"{request.url.scheme}://{host}/{quote(bucket, safe='')}/{quote(key, safe='/')}",
                  share=share, can_share=_share_secret(request, auth) is not None,
                  expiries=SHARE_EXPIRIES, diffable=pages.preview_kind(obj) in ("text", "json", "csv"))


def _share_secret(request: Request, auth: Authenticator | None) -> tuple[str, str] | None:
    """(access key, secret) of the logged-in key pair, which share links are signed with.

    None without credentials (URLs need no signature), and in pachd token mode (the access key
    would be the user's token, in the URL for anyone to read).
    """
    sess = request.scope.get("explorer_session")
    if auth is None or sess is None or sess.token is not None:
        return None
    secret = auth.credentials.get(sess.access_key)
    return (sess.access_key, secret) if secret is not None else None


async def _share(request: Request, auth: Authenticator | None, bucket: str, key: str) -> dict | None:
    raw = request.query_params.get("share")
    if raw is None:
        return None
    pair = _share_secret(request, auth)
    if pair is None:
        raise errors.invalid_request("Share links are signed with the logged-in key pair: this gateway "
                                     "has none (URLs need no signature), or the login is a pachd token.")
    if not raw.isdigit() or not 1 <= int(raw) <= 7 * 86400:
        raise errors.invalid_argument("share must be a number of seconds up to 604800", "share", raw)
    host = request.headers.get("host", "")
    url = presigned_get(f"{request.url.scheme}://{host}", host, bucket, key, *pair, int(raw))
    label = next((name for secs, name in SHARE_EXPIRIES if secs == int(raw)), f"{raw} seconds")
    return {"url": url, "expires": label}


async def history(request: Request, render: Render) -> Response:
    bucket, key = request.path_params["bucket"], request.path_params["path"]
    client = context.pfs()
    b, ref, head = await open_bucket(bucket)
    if not key:
        start = _commit_param(request, "from") or head
        rows, following = await pages.commits(client, ref, start)
        return render(request, "history.html", bucket=bucket, b=b, commits=rows, following=following,
                      pinned=lambda c: pinned_bucket(b, c), first=start == head)
    validate_key(key)
    marker = _commit_param(request, "commit")
    rows, nxt = await pages.versions(client, ref, head, key,
                                     request.query_params.get("key") or "" if marker else None, marker)
    return render(request, "versions.html", bucket=bucket, b=b, key=key, versions=rows, nxt=nxt,
                  pinned=lambda c: pinned_bucket(b, c), crumbs=_crumbs(key), first=marker is None)


async def diff(request: Request, render: Render) -> Response:
    bucket, key = request.path_params["bucket"], request.path_params["path"]
    client = context.pfs()
    b, ref, head = await open_bucket(bucket)
    if not key:
        commit = _commit_param(request, "commit") or head
        after = request.query_params.get("after") or None
        changes = await diffs.commit_changes(client, ref, commit, after)
        return render(request, "changes.html", bucket=bucket, b=b, c=changes, after=after,
                      pinned=lambda c: pinned_bucket(b, c))
    validate_key(key)
    new = _commit_param(request, "to") or head
    old = _commit_param(request, "from") or new + "^"
    result = await diffs.text_diff(client, ref, key, old, new)
    return render(request, "diff.html", bucket=bucket, b=b, key=key, d=result, crumbs=_crumbs(key),
                  pinned=lambda c: pinned_bucket(b, c), old_label=old if old != new + "^" else None)
