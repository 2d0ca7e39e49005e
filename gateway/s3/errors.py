"""S3 errors: one exception type and a constructor per error code the gateway answers.

Handlers and the protocol machinery raise :class:`S3Error`; the app turns it into the XML
``<Error>`` body S3 clients parse. Codes, statuses and wording follow the AWS S3 API reference.
"""

from __future__ import annotations


class S3Error(Exception):
    """An S3 error response: HTTP status, S3 error code, message and optional extra fields."""

    def __init__(self, status: int, code: str, message: str, **extra: str) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra  # rendered as additional child elements (BucketName, Key, ...)
        self.headers: dict[str, str] = {}


def access_denied(message: str = "Access Denied") -> S3Error:
    return S3Error(403, "AccessDenied", message)


def bad_digest(message: str = "The Content-MD5 you specified did not match what we received.") -> S3Error:
    return S3Error(400, "BadDigest", message)


def bucket_already_owned_by_you(bucket: str) -> S3Error:
    return S3Error(409, "BucketAlreadyOwnedByYou",
                   "Your previous request to create the named bucket succeeded and you already own it.",
                   BucketName=bucket)


def bucket_not_empty(bucket: str) -> S3Error:
    return S3Error(409, "BucketNotEmpty", "The bucket you tried to delete is not empty", BucketName=bucket)


def entity_too_small(message: str = "Your proposed upload is smaller than the minimum allowed object size.") -> S3Error:
    return S3Error(400, "EntityTooSmall", message)


def incomplete_body(
    message: str = "You did not provide the number of bytes specified by the Content-Length HTTP header.",
) -> S3Error:
    return S3Error(400, "IncompleteBody", message)


def internal_error(message: str = "We encountered an internal error. Please try again.") -> S3Error:
    return S3Error(500, "InternalError", message)


def invalid_argument(message: str, name: str | None = None, value: str | None = None) -> S3Error:
    extra = {}
    if name is not None:
        extra["ArgumentName"] = name
        extra["ArgumentValue"] = value if value is not None else ""
    return S3Error(400, "InvalidArgument", message, **extra)


def invalid_bucket_name(bucket: str, reason: str = "The specified bucket is not valid.") -> S3Error:
    return S3Error(400, "InvalidBucketName", reason, BucketName=bucket)


def invalid_bucket_state(message: str) -> S3Error:
    return S3Error(409, "InvalidBucketState", message)


def invalid_digest(message: str = "The Content-MD5 you specified is not valid.") -> S3Error:
    return S3Error(400, "InvalidDigest", message)


def invalid_request(message: str) -> S3Error:
    return S3Error(400, "InvalidRequest", message)


def invalid_range(size: int) -> S3Error:
    return S3Error(416, "InvalidRange", "The requested range is not satisfiable",
                   ActualObjectSize=str(size))


def key_too_long() -> S3Error:
    return S3Error(400, "KeyTooLongError", "Your key is too long")


def malformed_xml() -> S3Error:
    return S3Error(400, "MalformedXML", "The XML you provided was not well-formed or did not "
                   "validate against our published schema.")


def metadata_too_large() -> S3Error:
    return S3Error(400, "MetadataTooLarge",
                   "Your metadata headers exceed the maximum allowed metadata size.")


def method_not_allowed(method: str, resource: str) -> S3Error:
    return S3Error(405, "MethodNotAllowed",
                   "The specified method is not allowed against this resource.",
                   Method=method, ResourceType=resource)


def missing_content_length() -> S3Error:
    return S3Error(411, "MissingContentLength", "You must provide the Content-Length HTTP header.")


def no_such_bucket(bucket: str) -> S3Error:
    return S3Error(404, "NoSuchBucket", "The specified bucket does not exist", BucketName=bucket)


def no_such_key(key: str) -> S3Error:
    return S3Error(404, "NoSuchKey", "The specified key does not exist.", Key=key)


def no_such_upload(upload_id: str) -> S3Error:
    return S3Error(404, "NoSuchUpload", "The specified upload does not exist. The upload ID may be "
                   "invalid, or the upload may have been aborted or completed.", UploadId=upload_id)


def no_such_version(key: str, version_id: str) -> S3Error:
    return S3Error(404, "NoSuchVersion", "The specified version does not exist.",
                   Key=key, VersionId=version_id)


def not_implemented(message: str = "A header or query you provided implies functionality that "
                    "is not implemented.") -> S3Error:
    return S3Error(501, "NotImplemented", message)


def not_modified() -> S3Error:
    # 304 has no body on the wire; the app renders it as an empty response.
    return S3Error(304, "NotModified", "Not Modified")


def precondition_failed(condition: str) -> S3Error:
    return S3Error(412, "PreconditionFailed",
                   "At least one of the pre-conditions you specified did not hold",
                   Condition=condition)


def conditional_request_conflict() -> S3Error:
    return S3Error(409, "ConditionalRequestConflict",
                   "A conflicting operation occurred while this conditional request was in "
                   "progress against this resource. Please try again.")


def service_unavailable(message: str = "Please reduce your request rate.") -> S3Error:
    err = S3Error(503, "ServiceUnavailable", message)
    err.headers["Retry-After"] = "1"
    return err


def x_amz_content_sha256_mismatch(client: str, computed: str) -> S3Error:
    return S3Error(400, "XAmzContentSHA256Mismatch",
                   "The provided 'x-amz-content-sha256' header does not match what was computed.",
                   ClientComputedContentSHA256=client, S3ComputedContentSHA256=computed)


def malformed_trailer(message: str = "The request contained trailing data that was not "
                      "well-formed or did not conform to our published schema.") -> S3Error:
    return S3Error(400, "MalformedTrailerError", message)


def path_conflict(key: str, detail: str = "") -> S3Error:
    """A key that would be both a file and a directory: PFS cannot store that."""
    message = ("A key cannot be both an object and a prefix of other objects' keys in PFS "
               "(a path is a file or a directory, never both).")
    if detail:
        message += f" PFS: {detail}"
    return S3Error(400, "InvalidArgument", message, Key=key) if key else S3Error(400, "InvalidArgument", message)


# -- authentication (SigV4) ------------------------------------------------------------------

def authorization_header_malformed(message: str) -> S3Error:
    return S3Error(400, "AuthorizationHeaderMalformed",
                   f"The authorization header is malformed; {message}.")


def authorization_query_parameters_error(message: str) -> S3Error:
    return S3Error(400, "AuthorizationQueryParametersError", message)


def invalid_access_key_id(access_key: str | None = None) -> S3Error:
    """``access_key`` is echoed as S3 does; leave it out when it is a secret (a pachd token)."""
    extra = {"AWSAccessKeyId": access_key} if access_key is not None else {}
    return S3Error(403, "InvalidAccessKeyId",
                   "The AWS Access Key Id you provided does not exist in our records.", **extra)


def request_time_too_skewed(request_time: str, server_time: str, max_skew_ms: int) -> S3Error:
    return S3Error(403, "RequestTimeTooSkewed",
                   "The difference between the request time and the current time is too large.",
                   RequestTime=request_time, ServerTime=server_time,
                   MaxAllowedSkewMilliseconds=str(max_skew_ms))


def signature_does_not_match(message: str = "The request signature we calculated does not match "
                             "the signature you provided. Check your key and signing method.",
                             **extra: str) -> S3Error:
    return S3Error(403, "SignatureDoesNotMatch", message, **extra)


def invalid_part(number: int, etag: str) -> S3Error:
    return S3Error(400, "InvalidPart", "One or more of the specified parts could not be found. The part "
                   "may not have been uploaded, or the specified entity tag may not match the part's "
                   "entity tag.", PartNumber=str(number), ETag=etag)


def invalid_part_order() -> S3Error:
    return S3Error(400, "InvalidPartOrder", "The list of parts was not in ascending order. Parts must be "
                   "ordered by part number.")
