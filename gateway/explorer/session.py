"""Explorer logins: a signed, expiring session cookie instead of SigV4 (browsers cannot sign).

With configured key pairs the cookie is ``base64url(JSON).signature``, signed with HMAC-SHA256
under a key derived from the access key's secret: it holds no secret, survives a restart, is
accepted by every gateway copy with the same credentials, and dies when the secret changes.
Each session has a random ID: logging out revokes it in PFS (:mod:`gateway.explorer.revoked`),
which every copy checks. The cookie also carries the time of its last use, renewed as pages
are served, so an idle timeout needs no server state either.
Against pachd with auth active the access key is a Pachyderm token (secret = token, as on the
S3 side); the token is kept in this process only, under a random session ID, because the
cookie must not carry it (those sessions end with the process, or the logout, at once).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
from dataclasses import dataclass

from gateway import context
from gateway.auth.authenticator import Authenticator
from gateway.explorer import revoked
from gateway.s3 import errors

COOKIE = "s3gw_explorer"
CSRF_COOKIE = "s3gw_login_csrf"
SESSION_TTL = 8 * 3600  # seconds
MAX_TOKEN_SESSIONS = 4096

_PROCESS_KEY = os.urandom(32)  # signs token-mode sessions (their tokens live in this process)
_tokens: dict[str, tuple[float, str]] = {}  # session id -> (expiry, pachd token)


@dataclass(frozen=True)
class Session:
    access_key: str
    expires: float
    csrf: str  # the logout form's token
    token: str | None = None  # the Pachyderm token PFS calls carry (pachd auth mode)
    sid: str = ""  # random, for revocation
    seen: float = 0.0  # last use, as the cookie says


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _key(secret: str) -> bytes:
    return hashlib.sha256(b"s3gw-explorer-session\0" + secret.encode()).digest()


async def login_required(auth: Authenticator | None) -> bool:
    """Whether the explorer asks who you are: when the S3 side would check signatures."""
    if auth is None:
        return False
    if auth.credentials:
        return True
    return auth.pachd is not None and await auth.pachd.active()


async def log_in(auth: Authenticator, access_key: str, secret: str) -> str | None:
    """Check a key pair as the S3 side would; the new session cookie's value, or None."""
    if auth.pachd is not None and await auth.pachd.active():
        if not access_key or not hmac.compare_digest(access_key.encode(), secret.encode()):
            return None
        try:
            await auth.pachd.check_token(access_key)
        except errors.S3Error as e:
            if e.status >= 500:
                raise
            return None
        sid = _b64(os.urandom(18))
        if len(_tokens) >= MAX_TOKEN_SESSIONS:
            now = time.time()
            for k in [k for k, (exp, _) in _tokens.items() if exp < now] or list(_tokens)[:1]:
                del _tokens[k]
        expires = time.time() + SESSION_TTL
        _tokens[sid] = (expires, access_key)
        return _sign({"m": "t", "s": sid, "x": int(expires), "c": _b64(os.urandom(12)),
                      "t": int(time.time())}, _PROCESS_KEY)
    expected = auth.credentials.get(access_key)
    if expected is None or not hmac.compare_digest(expected.encode(), secret.encode()):
        return None
    now = int(time.time())
    doc = {"m": "k", "a": access_key, "x": now + SESSION_TTL, "c": _b64(os.urandom(12)),
           "s": _b64(os.urandom(18)), "t": now}
    return _sign(doc, _key(expected))


def renewed(auth: Authenticator, sess: Session, now: float | None = None) -> str | None:
    """The session's cookie with its last use set to ``now`` (None if its key is gone)."""
    doc = {"x": int(sess.expires), "c": sess.csrf, "s": sess.sid,
           "t": int(time.time() if now is None else now)}
    if sess.token is not None:
        return _sign({**doc, "m": "t"}, _PROCESS_KEY)
    secret = auth.credentials.get(sess.access_key)
    return None if secret is None else _sign({**doc, "m": "k", "a": sess.access_key}, _key(secret))


async def check(auth: Authenticator, cookie: str | None, idle: float = 0) -> Session | None:
    """:func:`read`, and not logged out on any gateway copy (one PFS lookup)."""
    sess = read(auth, cookie, idle=idle)
    if sess is None or sess.token is not None:
        return sess  # token sessions live in this process only: log_out forgot them already
    return None if await revoked.is_revoked(context.pfs(), sess.sid) else sess


async def end(sess: Session, cookie: str | None) -> None:
    """Log out: the session is over for every gateway copy."""
    log_out(cookie)
    if sess.token is None:
        await revoked.revoke(context.pfs(), sess.sid)


def _sign(doc: dict, key: bytes) -> str:
    payload = _b64(json.dumps(doc, separators=(",", ":"), sort_keys=True).encode())
    return payload + "." + _b64(hmac.new(key, payload.encode(), hashlib.sha256).digest())


def read(auth: Authenticator, cookie: str | None, now: float | None = None,
         idle: float = 0) -> Session | None:
    """The session a cookie proves, or None (missing, forged, expired, idle for longer than
    ``idle`` seconds when that is set, or a token session this process no longer holds)."""
    now = time.time() if now is None else now
    if not cookie or "." not in cookie:
        return None
    payload, _, signature = cookie.partition(".")
    try:
        doc = json.loads(_unb64(payload))
        mode, expires, csrf = doc["m"], float(doc["x"]), str(doc["c"])
        sid, seen = str(doc["s"]), float(doc["t"])
    except (ValueError, KeyError, TypeError):
        return None
    if expires < now or (idle and seen + idle < now):
        return None
    token = None
    if mode == "t":
        key = _PROCESS_KEY
        entry = _tokens.get(sid)
        if entry is None or entry[0] < now:
            return None
        token = access = entry[1]
    else:
        access = str(doc.get("a"))
        secret = auth.credentials.get(access)
        if secret is None:
            return None
        key = _key(secret)
    good = _b64(hmac.new(key, payload.encode(), hashlib.sha256).digest())
    if not hmac.compare_digest(good.encode(), signature.encode()):
        return None
    return Session(access_key=access if mode == "k" else "pachyderm token", expires=expires,
                   csrf=csrf, token=token, sid=sid, seen=seen)


def log_out(cookie: str | None) -> None:
    """Forget a token-mode session (key-pair sessions simply lose their cookie)."""
    if not cookie:
        return
    try:
        doc = json.loads(_unb64(cookie.partition(".")[0]))
        _tokens.pop(str(doc.get("s")), None)
    except (ValueError, TypeError, AttributeError):
        pass
