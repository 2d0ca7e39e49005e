"""The explorer's routes: HTTP in, a rendered page (or an object's bytes) out.

URLs (under ``/~/explorer``)::

    /                                buckets: projects, repos, branches, head commit times
    /b/<bucket>/<prefix/>?after=K    a folder page, resumed after key or folder K (or ?before=K);
                                     ?q=TEXT filters names (?match=prefix|contains)
    /b/<bucket>/<key>[?share=SECS]   an object: metadata, a preview, its s3:// address and (with
                                     credentials) a presigned share link
    /raw/<bucket>/<key>[?inline=1]   its bytes (attachment; inline only for raster images)
    /history/<bucket>/[?from=C]      the branch's commits, from commit C back
    /history/<bucket>/<key>          the object's versions
    /diff/<bucket>/?commit=C[&after=K]   the keys commit C added, changed, removed
    /diff/<bucket>/<key>?to=C[&from=D]   a text object's diff between two versions (D: C's parent)
    /upload/<bucket>/<prefix/>       POST: files into that folder, one commit each
    /mkdir/<bucket>/<prefix/>        POST: a new folder (marker) in that folder
    /login, /logout                  only when credentials are configured

Keys never end with ``/`` (a PFS rule), so a trailing slash tells a folder from an object.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from email.utils import format_datetime
from pathlib import Path
from urllib.parse import quote, urlencode

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from gateway import context
from gateway.auth.authenticator import Authenticator
from gateway.explorer import PREFIX, pages, session, uploads, views
from gateway.explorer.throttle import Throttle
from gateway.explorer.views import breakable, href, human_size, open_bucket, size_change, when
from gateway.ops.objects import committed_at, etag_of
from gateway.pfs.client import Ref, request_token
from gateway.pfs.errors import PFSError, to_s3
from gateway.s3 import errors
from gateway.s3.names import validate_key

TEMPLATES = Path(__file__).parent / "templates"
log = logging.getLogger("gateway.explorer")
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    # no script at all; styles are inline; images only from here
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; "
                               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "Cache-Control": "no-store",
}


def build(auth: Authenticator | None, idle: float = 0) -> Starlette:
    """The explorer; ``idle``: seconds without a page that end a session (0: no limit)."""
    brake = Throttle()  # failed logins, per client address and access key (this process)
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(default=True),
                      trim_blocks=True, lstrip_blocks=True)
    env.globals.update(href=href, human_size=human_size, size_change=size_change, when=when, base=PREFIX,
                       etag=etag_of, modified=committed_at, breakable=breakable)

    def render(request: Request, name: str, status: int = 200, **values) -> HTMLResponse:
        values.setdefault("user", request.scope.get("explorer_session"))
        body = env.get_template(name).render(request=request, **values)
        return HTMLResponse(body, status_code=status, headers=SECURITY_HEADERS)

    keys_decide = auth is not None and bool(auth.credentials)

    def page(fn, reads: str | None = None):
        """Login check, the session's pachd token on PFS calls, errors as HTML pages; ``reads``
        ("bucket", "history"): the page reads its bucket, so the access decision is asked."""

        async def endpoint(request: Request) -> Response:
            sess = None
            if await session.login_required(auth):
                sess = await session.check(auth, request.cookies.get(session.COOKIE), idle)
                if sess is None:
                    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                    return RedirectResponse(f"{PREFIX}/login?" + urlencode({"next": target}),
                                            status_code=303)
                request.scope["explorer_session"] = sess
            token = request_token.set(sess.token) if sess is not None and sess.token else None
            try:
                if reads is not None:
                    await uploads.may_read(request, request.path_params["bucket"],
                                           request.path_params.get("path", ""), reads, keys_decide)
                resp = await fn(request)
                if idle and sess is not None and time.time() - sess.seen >= min(60.0, idle / 4):
                    renewed = session.renewed(auth, sess)  # the idle clock restarts
                    if renewed is not None:
                        _set_cookie(request, resp, session.COOKIE, renewed,
                                    max(1, int(sess.expires - time.time())))
                return resp
            except (PFSError, errors.S3Error) as e:
                err = to_s3(e) if isinstance(e, PFSError) else e
                if err.status >= 500:
                    raise
                return render(request, "error.html", status=err.status, code=err.code, message=err.message)
            finally:
                if token is not None:
                    request_token.reset(token)

        return endpoint

    async def buckets(request: Request) -> Response:
        rows = await pages.buckets(context.pfs())
        return render(request, "buckets.html", repos=rows)

    async def browse(request: Request) -> Response:
        return await views.browse(request, render, auth)

    async def raw(request: Request) -> Response:
        bucket, key = request.path_params["bucket"], request.path_params["path"]
        client = context.pfs()
        b, ref, _ = await open_bucket(bucket)
        validate_key(key)
        obj = await pages.object_info(client, ref, key)
        ctype = pages.content_type(obj)
        inline = request.query_params.get("inline") == "1" and pages.preview_kind(obj) == "image"
        name = key.rsplit("/", 1)[-1].replace('"', "'")
        headers = {
            **SECURITY_HEADERS,
            "Content-Length": str(obj.size),
            "ETag": f'"{obj.etag}"',
            "Last-Modified": format_datetime(obj.last_modified.replace(microsecond=0), usegmt=True),
            "Content-Disposition": f"{'inline' if inline else 'attachment'}; filename=\"{name}\"; "
                                   f"filename*=UTF-8''{quote(key.rsplit('/', 1)[-1], safe='')}",
            "Content-Security-Policy": "default-src 'none'; sandbox",
        }
        pinned = Ref(ref.project, ref.repo, ref.branch, obj.commit or ref.commit)

        async def body():
            async for chunk in client.get_file(pinned, "/" + key):
                yield chunk

        return StreamingResponse(body(), headers=headers,
                                 media_type=ctype if inline else "application/octet-stream")

    async def upload_page(request: Request) -> Response:
        return await _write_page(request, "upload")

    async def mkdir_page(request: Request) -> Response:
        return await _write_page(request, "mkdir")

    async def _write_page(request: Request, what: str) -> Response:
        """Upload or create a folder, then back to the folder (303); errors on its page."""
        bucket, folder = request.path_params["bucket"], request.path_params["path"]
        if folder and not folder.endswith("/"):
            raise errors.S3Error(404, "NotFound", "No such explorer page.")
        sess = request.scope.get("explorer_session")
        try:
            if what == "upload":
                done = {"uploaded": len(await uploads.upload(request, sess, bucket, folder, keys_decide))}
            else:
                await uploads.make_folder(request, sess, bucket, folder, keys_decide)
                done = {"created": 1}
        except (PFSError, errors.S3Error) as e:
            err = to_s3(e, bucket) if isinstance(e, PFSError) else e
            if err.status >= 500:
                raise
            written = err.extra.pop("written", [])
            message = f"{err.message} ({err.code})"
            if written:
                message = f"Uploaded {len(written)} file(s), then: {message}"
            return await views.browse(request, render, auth, error=message, status=err.status)
        return RedirectResponse(href("b", bucket, folder, **done), status_code=303)

    async def history_page(request: Request) -> Response:
        return await views.history(request, render)

    async def diff_page(request: Request) -> Response:
        return await views.diff(request, render)

    async def login_form(request: Request) -> Response:
        if not await session.login_required(auth):
            return RedirectResponse(f"{PREFIX}/", status_code=303)
        csrf = secrets.token_urlsafe(16)
        resp = render(request, "login.html", user=None, csrf=csrf, next=_safe_next(request.query_params.get("next")),
                      failed=False)
        _set_cookie(request, resp, session.CSRF_COOKIE, csrf, 600)
        return resp

    async def login(request: Request) -> Response:
        if not await session.login_required(auth):
            return RedirectResponse(f"{PREFIX}/", status_code=303)
        form = await request.form()
        target = _safe_next(str(form.get("next") or ""))
        csrf = request.cookies.get(session.CSRF_COOKIE, "")
        ok_csrf = bool(csrf) and secrets.compare_digest(csrf, str(form.get("csrf") or ""))
        access_key = str(form.get("access_key") or "")
        client = request.client.host if request.client else "-"
        keys = brake.keys(client, access_key)
        wait = brake.retry_after(keys)
        cookie, outcome = None, "refused (no CSRF token)"
        if wait:
            outcome = f"throttled ({wait} s)"  # no secret is compared while closed
        elif ok_csrf:
            cookie = await session.log_in(auth, access_key, str(form.get("secret_key") or ""))
            (brake.succeeded if cookie else brake.failed)(keys)
            outcome = "ok" if cookie else "failed"
        # one line per attempt; the key only if configured (against pachd it is a token)
        who = access_key if access_key in auth.credentials else \
            "unknown:" + hashlib.sha256(access_key.encode()).hexdigest()[:8]
        log.info("explorer login %s: access key %s from %s", outcome, who, client)
        if cookie is None:
            fresh = secrets.token_urlsafe(16)
            resp = render(request, "login.html", status=429 if wait else 401 if ok_csrf else 403,
                          user=None, csrf=fresh, next=target, failed=True, retry_after=wait)
            if wait:
                resp.headers["Retry-After"] = str(wait)
            _set_cookie(request, resp, session.CSRF_COOKIE, fresh, 600)
            return resp
        resp = RedirectResponse(target, status_code=303)
        _set_cookie(request, resp, session.COOKIE, cookie, session.SESSION_TTL)
        resp.delete_cookie(session.CSRF_COOKIE, path=PREFIX)
        return resp

    async def logout(request: Request) -> Response:
        cookie = request.cookies.get(session.COOKIE)
        sess = session.read(auth, cookie) if auth is not None else None
        form = await request.form()
        if sess is not None and secrets.compare_digest(sess.csrf, str(form.get("csrf") or "")):
            await session.end(sess, cookie)
        resp = RedirectResponse(f"{PREFIX}/login", status_code=303)
        resp.delete_cookie(session.COOKIE, path=PREFIX)
        return resp

    async def root_redirect(request: Request) -> Response:
        return RedirectResponse(f"{PREFIX}/", status_code=308)

    async def browser_root(request: Request) -> Response:
        return RedirectResponse(f"{PREFIX}/", status_code=302)

    routes = [
        Route("/", browser_root),
        Route(PREFIX, root_redirect),
        Route(PREFIX + "/", page(buckets)),
        Route(PREFIX + "/login", login_form, methods=["GET"]),
        Route(PREFIX + "/login", login, methods=["POST"]),
        Route(PREFIX + "/logout", logout, methods=["POST"]),
        Route(PREFIX + "/b/{bucket}/{path:path}", page(browse, "bucket")),
        Route(PREFIX + "/raw/{bucket}/{path:path}", page(raw, "bucket")),
        Route(PREFIX + "/upload/{bucket}/{path:path}", page(upload_page), methods=["POST"]),
        Route(PREFIX + "/mkdir/{bucket}/{path:path}", page(mkdir_page), methods=["POST"]),
        Route(PREFIX + "/history/{bucket}/{path:path}", page(history_page, "history")),
        Route(PREFIX + "/diff/{bucket}/{path:path}", page(diff_page, "history")),
    ]

    async def not_found(request: Request, exc) -> Response:
        status = getattr(exc, "status_code", 404)
        return render(request, "error.html", status=status, user=None, code="NotFound" if status == 404
                      else "MethodNotAllowed", message="No such explorer page.")

    return Starlette(routes=routes, exception_handlers={404: not_found, 405: not_found})


def _safe_next(target: str | None) -> str:
    """Only an explorer path: no open redirect to another site."""
    if target and target.startswith(PREFIX + "/") and "\\" not in target and "//" not in target[1:]:
        return target
    return f"{PREFIX}/"


def _set_cookie(request: Request, resp: Response, name: str, value: str, max_age: int) -> None:
    resp.set_cookie(name, value, max_age=max_age, path=PREFIX, httponly=True, samesite="lax",
                    secure=request.url.scheme == "https")
