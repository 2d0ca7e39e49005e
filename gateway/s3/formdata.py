"""A ``multipart/form-data`` body read as it streams: the fields before the file, then the file.

S3's POST Object (a browser form upload) sends its fields (key, policy, signature, metadata,
...) first and the object last, in the part named ``file``; fields after it are ignored, as
S3 ignores them. :class:`FormStream` pulls the body through python-multipart's push parser
one network chunk at a time: the fields are kept (at most :data:`MAX_FIELDS_BYTES` of them,
as S3 limits what precedes the file), the file's bytes are handed on as they arrive, so memory
stays bounded by a chunk whatever the file's size.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from python_multipart.multipart import MultipartParseError, MultipartParser, parse_options_header

from gateway.s3 import errors

FORM_DATA = "multipart/form-data"
MAX_FIELDS_BYTES = 20 * 1024  # S3: the fields preceding the file may hold 20 KB
FILE_FIELD = "file"


def malformed() -> errors.S3Error:
    return errors.S3Error(400, "MalformedPOSTRequest",
                          "The body of your POST request is not well-formed multipart/form-data.")


def too_much_pre_data() -> errors.S3Error:
    return errors.S3Error(400, "MaxPostPreDataLengthExceeded",
                          "Your POST request fields preceeding the upload file was too large.")


def boundary_of(content_type: str | None) -> bytes | None:
    """The boundary of a ``multipart/form-data`` Content-Type; None for any other type."""
    if not content_type:
        return None
    kind, options = parse_options_header(content_type)
    if kind.lower() != FORM_DATA.encode():
        return None
    boundary = options.get(b"boundary")
    if not boundary or len(boundary) > 70:
        raise malformed()
    return boundary


@dataclass
class FilePart:
    """A file part's headers (its bytes come from :meth:`FormStream.file_data`)."""

    name: str  # the form field's name ("file" for S3)
    filename: str | None
    content_type: str | None


class FormStream:
    """Reads one form body: :meth:`next_part`, then the file's bytes, part after part."""

    def __init__(self, source: AsyncIterator[bytes], boundary: bytes,
                 max_fields: int = MAX_FIELDS_BYTES) -> None:
        self._source = source.__aiter__()
        self._events: list[tuple] = []
        self._header: list[bytes] = [b"", b""]
        self._headers: dict[str, bytes] = {}
        self._done = False
        self._fields_left = max_fields
        callbacks = {
            "on_part_begin": self._on_part_begin,
            "on_part_data": self._on_part_data,
            "on_part_end": lambda: self._events.append(("end",)),
            "on_header_field": lambda d, s, e: self._header.__setitem__(0, self._header[0] + d[s:e]),
            "on_header_value": lambda d, s, e: self._header.__setitem__(1, self._header[1] + d[s:e]),
            "on_header_end": self._on_header_end,
            "on_headers_finished": lambda: self._events.append(("headers", dict(self._headers))),
            "on_end": lambda: self._events.append(("finish",)),
        }
        self._parser = MultipartParser(boundary, callbacks)

    def _on_part_begin(self) -> None:
        self._headers = {}
        self._events.append(("begin",))

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        self._events.append(("data", bytes(data[start:end])))

    def _on_header_end(self) -> None:
        name, value = self._header
        self._header = [b"", b""]
        self._headers[name.decode("latin-1").strip().lower()] = value.strip()

    async def _event(self) -> tuple:
        while not self._events:
            if self._done:
                return ("eof",)
            try:
                chunk = await self._source.__anext__()
            except StopAsyncIteration:
                self._done = True
                try:
                    self._parser.finalize()
                except MultipartParseError:
                    raise malformed() from None
                continue
            if chunk:
                try:
                    self._parser.write(chunk)
                except MultipartParseError:
                    raise malformed() from None
        return self._events.pop(0)

    async def next_part(self, fields: dict[str, str]) -> FilePart | None:
        """Read fields into ``fields`` (lower-cased names) up to the next part with a filename
        (or named ``file``); None at the end of the form."""
        while True:
            event = await self._event()
            kind = event[0]
            if kind in ("eof", "finish"):
                return None
            if kind != "headers":
                continue
            headers = event[1]
            self._spend(sum(len(k) + len(v) for k, v in headers.items()))
            disposition, options = parse_options_header(headers.get("content-disposition", b""))
            if disposition.lower() != b"form-data" or b"name" not in options:
                raise malformed()
            name = options[b"name"].decode("utf-8", "replace")
            if b"filename" in options or name.lower() == FILE_FIELD:
                filename = options.get(b"filename")
                ctype = headers.get("content-type")
                return FilePart(name, None if filename is None else _filename(filename),
                                None if ctype is None else ctype.decode("latin-1"))
            value = bytearray()
            while True:
                event = await self._event()
                if event[0] == "data":
                    self._spend(len(event[1]))
                    value += event[1]
                elif event[0] == "end":
                    break
                else:
                    raise malformed()
            try:
                fields[name.lower()] = value.decode("utf-8")
            except UnicodeDecodeError:
                raise malformed() from None

    def _spend(self, size: int) -> None:
        """Count bytes kept of the fields (the parser's own buffers hold one network chunk)."""
        self._fields_left -= size
        if self._fields_left < 0:
            raise too_much_pre_data()

    async def file_data(self) -> AsyncIterator[bytes]:
        """The current file part's bytes, as they arrive."""
        while True:
            event = await self._event()
            if event[0] == "data":
                yield event[1]
            elif event[0] == "end":
                        return
            else:
                raise malformed()

    async def drain(self) -> None:
        """Read (and drop) the rest of the body: fields after the file are ignored."""
        while (await self._event())[0] not in ("eof", "finish"):
            self._events.clear()


def _filename(raw: bytes) -> str:
    """A part's filename: its last path component (browsers on Windows once sent full paths)."""
    try:
        name = raw.decode("utf-8")
    except UnicodeDecodeError:
        name = raw.decode("latin-1")
    return name.replace("\\", "/").rsplit("/", 1)[-1]
