"""Rendering S3's XML documents: a tiny builder over escaped strings (fast for 1,000-key pages)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from xml.sax.saxutils import escape

from gateway.errors import S3Error

XMLNS = "http://s3.amazonaws.com/doc/2006-03-01/"
DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n'


# Characters XML 1.0 cannot carry at all, even escaped. PFS keys cannot hold them, but error
# bodies echo what a request sent (its path, an argument), so they are percent-encoded there.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml_safe(text: str) -> str:
    return _NOT_XML.sub(lambda m: "".join(f"%{b:02X}" for b in m.group().encode("utf-8", "surrogatepass")),
                        text)


def element(name: str, value: object) -> str:
    """``<name>value</name>`` with the value escaped; booleans as S3 writes them."""
    if isinstance(value, bool):
        value = "true" if value else "false"
    text = escape(str(value))
    if _NOT_XML.search(text):
        text = _xml_safe(text)
    return f"<{name}>{text}</{name}>"


def document(root: str, body: str | list[str], *, namespace: bool = True) -> bytes:
    """A whole XML document with S3's namespace on the root element."""
    inner = body if isinstance(body, str) else "".join(body)
    attrs = f' xmlns="{XMLNS}"' if namespace else ""
    return f"{DECLARATION}<{root}{attrs}>{inner}</{root}>".encode()


def timestamp(dt: datetime) -> str:
    """ISO 8601 with milliseconds and Z, as S3 writes dates in XML."""
    dt = dt.astimezone(UTC) if dt.tzinfo else dt.replace(tzinfo=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def error_document(err: S3Error, resource: str, request_id: str) -> bytes:
    """The ``<Error>`` body S3 clients parse."""
    parts = [element("Code", err.code), element("Message", err.message)]
    parts += [element(k, v) for k, v in err.extra.items()]
    parts += [element("Resource", resource), element("RequestId", request_id)]
    return document("Error", parts, namespace=False)
