"""Who may use the gateway: SigV4 checks against configured keys or Pachyderm auth tokens.

Two sources of truth, chosen per request by what the PFS backend says about its own auth:

* pachd with auth active: the access key is a Pachyderm auth token and the secret must equal
  it (Pachyderm's S3 gateway convention). The token is checked with ``auth_v2.API/WhoAmI``
  (cached briefly) and every PFS call of the request carries it (gRPC metadata
  ``authn-token``), so Pachyderm's own permissions decide.
* otherwise (pfsd, or pachd answering "the auth service is not activated"): the gateway's
  configured key pairs decide; with none configured, requests are anonymous, as before.

:meth:`Authenticator.authenticate` runs in the outermost middleware for every request that is
not a health or docs path, before the dispatcher, so a request that ends in 501 is checked too.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qsl

import grpc
from starlette.types import Message, Receive, Scope

from gateway.auth import sigv2, sigv4
from gateway.auth.sigv2 import SignedV2
from gateway.auth.sigv4 import ChunkSignatureValidator, Signed
from gateway.s3 import errors

log = logging.getLogger("gateway.auth")

PROBE_TTL = 30.0  # seconds a "pachd auth is (not) active" answer is trusted
PROBE_RETRY = 2.0  # ... and an "unreachable" one
TOKEN_TTL = 60.0  # seconds a token WhoAmI accepted is trusted
BAD_TOKEN_TTL = 5.0
TOKEN_CACHE_SIZE = 4096
TOKEN_METADATA = "authn-token"  # pachd's gRPC metadata key for the auth token
# Keys of scope["state"] the middleware sets for the body readers (gateway.ops.body).
CHUNK_VALIDATOR = "sigv4_chunk_validator"  # the ChunkSignatureValidator of a streaming upload
PAYLOAD_VERIFIED = "sigv4_payload_verified"  # the signed body hash is checked as it streams
# Signature Version 4A (multi-region, ECDSA): answered 501 NotImplemented, clearly.
SIGV4A = "AWS4-ECDSA-P256-SHA256"
SIGV4A_PAYLOAD = "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD"  # and its -TRAILER variant


def load_credentials_file(path: Path) -> dict[str, str]:
    """``ACCESS_KEY:SECRET_KEY`` per line; blank lines and ``#`` comments are skipped.

    The secret is everything after the first colon (access keys have none).
    """
    pairs: dict[str, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        access, colon, secret = line.partition(":")
        access, secret = access.strip(), secret.strip()
        if not colon or not access or not secret:
            raise ValueError(f"{path}:{number}: expected ACCESS_KEY:SECRET_KEY")
        pairs[access] = secret
    return pairs


@dataclass
class Identity:
    """What a verified request brings along the rest of its way."""

    access_key: str | None  # None: an unsigned request (see Authenticator.authenticate)
    token: str | None = None  # the Pachyderm token its PFS calls carry
    signature_version: str | None = None  # "AWS" (SigV2) or "AWS4-HMAC-SHA256"
    chunk_validator: ChunkSignatureValidator | None = None
    payload_sha256: bytes | None = None  # a signed body hash, checked as the body streams


class PachdAuth:
    """Asks the PFS backend's ``auth_v2`` service whether auth is active and who a token is."""

    def __init__(self, address: str) -> None:
        self.address = address
        self._stub = None
        self._channel: grpc.aio.Channel | None = None
        self._active: bool | None = None
        self._active_until = 0.0
        self._probe: asyncio.Task | None = None
        self._tokens: dict[str, tuple[float, bool]] = {}

    def _api(self):
        if self._stub is None:  # created lazily: grpc.aio channels belong to the running loop
            from generated.auth import auth_pb2_grpc

            self._channel = grpc.aio.insecure_channel(self.address)
            self._stub = auth_pb2_grpc.APIStub(self._channel)
        return self._stub

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()

    async def active(self) -> bool:
        """Whether the backend enforces Pachyderm auth (cached; one probe in flight)."""
        if time.monotonic() < self._active_until:
            return bool(self._active)
        if self._probe is None or self._probe.done():
            self._probe = asyncio.ensure_future(self._run_probe())
        return await asyncio.shield(self._probe)

    async def _run_probe(self) -> bool:
        from generated.auth import auth_pb2

        ttl = PROBE_TTL
        try:
            await self._api().WhoAmI(auth_pb2.WhoAmIRequest(), timeout=5.0)
            active = True  # answered without a token: auth is on (and lenient)
        except grpc.aio.AioRpcError as e:
            code = e.code()
            if code == grpc.StatusCode.UNIMPLEMENTED:
                active = False  # "the auth service is not activated" (or no auth service)
            elif code in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
                active = True
            else:
                # Unreachable: configured keys decide meanwhile. That grants nothing pachd
                # would refuse: with its auth on, calls without a token fail there anyway.
                log.warning("auth probe of %s failed: %s", self.address, code.name)
                active, ttl = False, PROBE_RETRY
        if active != self._active:
            log.info("pachd auth is %s at %s", "active: access keys are Pachyderm tokens"
                     if active else "not active", self.address)
        self._active, self._active_until = active, time.monotonic() + ttl
        return active

    async def check_token(self, token: str) -> None:
        """Raise ``InvalidAccessKeyId`` unless pachd knows ``token`` (answers cached briefly)."""
        now = time.monotonic()
        key = hashlib.sha256(token.encode()).hexdigest()  # no token kept in clear
        cached = self._tokens.get(key)
        if cached is None or cached[0] < now:
            ok = await self._who_am_i(token)
            if len(self._tokens) >= TOKEN_CACHE_SIZE:
                self._tokens.clear()
            self._tokens[key] = (now + (TOKEN_TTL if ok else BAD_TOKEN_TTL), ok)
            cached = self._tokens[key]
        if not cached[1]:
            raise errors.invalid_access_key_id()

    async def _who_am_i(self, token: str) -> bool:
        from generated.auth import auth_pb2

        try:
            await self._api().WhoAmI(auth_pb2.WhoAmIRequest(), timeout=10.0,
                                     metadata=((TOKEN_METADATA, token),))
            return True
        except grpc.aio.AioRpcError as e:
            if e.code() in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED,
                            grpc.StatusCode.INVALID_ARGUMENT):
                return False
            log.warning("WhoAmI failed: %s", e.code().name)
            raise errors.service_unavailable("The Pachyderm auth service is unavailable.") from None


class Authenticator:
    """Verifies a request's SigV4 signature (header or presigned) and says who sent it."""

    def __init__(self, credentials: Mapping[str, str] | None = None,
                 pachd: PachdAuth | None = None, clock=time.time) -> None:
        self.credentials = dict(credentials or {})
        self.pachd = pachd
        self.clock = clock
        # canonical user ID (access.canonical_id) -> access key: ACL grantees and display names
        self.directory = {hashlib.sha256(k.encode()).hexdigest(): k for k in self.credentials}

    async def close(self) -> None:
        if self.pachd is not None:
            await self.pachd.close()

    async def authenticate(self, scope: Scope, anonymous: bool = False) -> Identity | None:
        """The request's identity; ``None`` when anonymous access is allowed. Raises the S3
        error (403/400) of a request that may not pass.

        ``anonymous``: with configured key pairs, an unsigned request is not refused here but
        passes as ``Identity(None)``, for the access decision (:mod:`gateway.auth.access`) to
        refuse unless an ACL or bucket policy allows it. A bad signature or an unknown key is
        refused here whatever the flag; so is every unsigned request when pachd's auth decides.
        """
        token_mode = self.pachd is not None and await self.pachd.active()
        if not token_mode and not self.credentials:
            return None  # anonymous, as without auth: signatures are not even read
        signed = _parse(scope)
        if signed is None:
            if anonymous and not token_mode:
                return Identity(None)
            raise errors.access_denied()
        if token_mode:
            secret = signed.access_key
        else:
            secret = self.credentials.get(signed.access_key)
            if secret is None:
                raise errors.invalid_access_key_id(signed.access_key)
        if isinstance(signed, SignedV2):
            return await self._authenticate_v2(scope, signed, secret, token_mode)
        now = self.clock()
        if not sigv4.within_skew(signed, now):  # (the usual answer, without datetimes)
            sigv4.check_time(signed, datetime.fromtimestamp(now, UTC))
        headers = scope["headers"]
        missing = sigv4.unsigned_headers(headers, signed.signed_headers)
        if missing:
            err = errors.access_denied("There were headers present in the request which were "
                                       "not signed")
            err.extra["HeadersNotSigned"] = ", ".join(missing)
            raise err
        sigv4.verify(signed, secret, scope["method"], scope.get("raw_path") or b"",
                     scope["query_string"], headers, explain=not token_mode)
        identity = Identity(signed.access_key, signature_version=sigv4.ALGORITHM)
        if token_mode:
            await self.pachd.check_token(signed.access_key)
            identity.token = signed.access_key
        payload = signed.payload_hash
        if payload in (sigv4.STREAMING_SIGNED, sigv4.STREAMING_SIGNED_TRAILER):
            key = sigv4.signing_key(secret, signed.date, signed.region)
            identity.chunk_validator = ChunkSignatureValidator(
                key, signed.amz_date, signed.scope, signed.signature,
                trailer=payload == sigv4.STREAMING_SIGNED_TRAILER)
        elif payload.startswith("STREAMING-"):
            # STREAMING-UNSIGNED-PAYLOAD-TRAILER: the headers are signed, the aws-chunked body
            # is not; its trailing checksum is checked by the body reader (gateway.ops.body).
            if payload.startswith(SIGV4A_PAYLOAD):
                raise _sigv4a_not_implemented()
            if payload != sigv4.STREAMING_UNSIGNED_TRAILER:
                raise errors.invalid_request(f"x-amz-content-sha256 {payload} is not supported; "
                                             "use STREAMING-AWS4-HMAC-SHA256-PAYLOAD.")
        elif not signed.presigned and payload != sigv4.UNSIGNED_PAYLOAD:
            try:
                identity.payload_sha256 = bytes.fromhex(payload)
            except ValueError:
                raise errors.invalid_argument("x-amz-content-sha256 must be UNSIGNED-PAYLOAD, "
                                              "a STREAMING-* value or a sha256 value.",
                                              "x-amz-content-sha256", payload) from None
            if len(identity.payload_sha256) != 32:
                raise errors.invalid_argument("x-amz-content-sha256 must be a sha256 value.",
                                              "x-amz-content-sha256", payload)
        return identity


    async def _authenticate_v2(self, scope: Scope, signed: SignedV2, secret: str,
                               token_mode: bool) -> Identity:
        """Signature Version 2: it signs no body, so only the checksum headers guard one."""
        headers = scope["headers"]
        sigv2.check_time(signed, headers, datetime.fromtimestamp(self.clock(), UTC))
        sigv2.verify(signed, secret, scope["method"], scope.get("raw_path") or b"",
                     scope["query_string"], headers, explain=not token_mode)
        payload = sigv2.header(headers, b"x-amz-content-sha256")
        if payload is not None and payload.startswith(b"STREAMING-AWS4-"):
            raise errors.invalid_request("Signed aws-chunked bodies need Signature Version 4 "
                                         "(AWS4-HMAC-SHA256).")
        identity = Identity(signed.access_key, signature_version="AWS")
        if token_mode:
            await self.pachd.check_token(signed.access_key)
            identity.token = signed.access_key
        return identity


def _parse(scope: Scope) -> Signed | SignedV2 | None:
    authorization = None
    x_amz: dict[str, str] = {}
    for name, value in scope["headers"]:
        if name == b"authorization":
            authorization = value.decode("latin-1")
        elif name in (b"x-amz-date", b"x-amz-content-sha256"):
            x_amz[name.decode()] = value.decode("latin-1").strip()
    raw_query = scope["query_string"]
    query = dict(parse_qsl(raw_query.decode("latin-1"), keep_blank_values=True)) \
        if b"X-Amz-" in raw_query or b"Signature" in raw_query or b"AWSAccessKeyId" in raw_query \
        else {}
    if (authorization or "").startswith(SIGV4A) or query.get("X-Amz-Algorithm") == SIGV4A:
        raise _sigv4a_not_implemented()
    if sigv2.is_sigv2(authorization, query):
        if "X-Amz-Algorithm" in query or (authorization is not None and "Signature" in query):
            raise errors.invalid_request("Only one auth mechanism allowed; only the "
                                         "X-Amz-Algorithm query parameter, Signature query "
                                         "string parameter or the Authorization header should "
                                         "be specified")
        if authorization is not None:
            return sigv2.parse_authorization(authorization)
        return sigv2.parse_presigned(query)
    if authorization is not None:
        if "X-Amz-Algorithm" in query or "AWSAccessKeyId" in query:
            raise errors.invalid_request("Only one auth mechanism allowed; only the "
                                         "X-Amz-Algorithm query parameter or the Authorization "
                                         "header should be specified")
        return sigv4.parse_authorization(authorization, x_amz)
    if "X-Amz-Algorithm" in query or "X-Amz-Signature" in query:
        return sigv4.parse_presigned(query)
    return None


def _sigv4a_not_implemented() -> errors.S3Error:
    return errors.not_implemented("Signature Version 4A (AWS4-ECDSA-P256-SHA256) is not "
                                  "supported by this gateway; sign requests with "
                                  "AWS4-HMAC-SHA256 (Signature Version 4).")


def verify_payload(receive: Receive, expected: bytes) -> Receive:
    """Wrap ``receive`` to hash the body as it streams; its last message raises
    ``XAmzContentSHA256Mismatch`` when the signed hash is not the body's, so a handler
    that streams the body into PFS fails before it can complete the write."""
    digest = hashlib.sha256()

    async def receive_checked() -> Message:
        message = await receive()
        if message["type"] == "http.request":
            digest.update(message.get("body", b""))
            if not message.get("more_body", False):
                computed = digest.digest()
                if not hmac.compare_digest(computed, expected):
                    raise errors.x_amz_content_sha256_mismatch(expected.hex(), computed.hex())
        return message

    return receive_checked
