"""Protobuf wire bytes the PFS client builds and reads by hand, to keep object bodies uncopied.

An upload's AddFile message is its body chunk behind a few bytes of framing, and a GetFile
message is a ``BytesValue`` around the data: building protobuf objects for them would copy
every byte into the message and again into its serialization (and out again on the way in).
The encodings here are byte-for-byte what protobuf produces (tested against it).
"""

from __future__ import annotations

from google.protobuf import wrappers_pb2

from generated.pfs import pfs_pb2


def add_file_prefix(path: str, size: int) -> bytes:
    """The wire bytes of ``ModifyFileRequest{add_file: {path, raw: {value}}}`` before the value.

    The value is the last field of each enclosing message, so ``prefix + data`` *is* the
    serialized message: a body chunk goes to gRPC joined once, never copied into protobuf
    objects and serialized again (3 copies of every byte an upload carries).
    """
    name = path.encode()
    value = _field(1, size) if size else b""  # BytesValue.value (proto3 omits an empty one)
    raw = _field(3, len(value) + size)  # AddFile.raw
    add = _field(1, len(name)) + name + raw  # AddFile.path, then raw
    return _field(2, len(add) + len(value) + size) + add + value  # ModifyFileRequest.add_file


class AddFileChunk:
    """``ModifyFileRequest{add_file: {path, raw: {value}}}`` whose value is ``pieces`` in order.

    Sent over gRPC it serializes to :func:`add_file_prefix` plus the pieces, joined once. Handed
    to pfsd in this process (gateway.pfs.local passes requests through unserialized) it reads
    like the message it stands for, and pfsd takes the bytes from ``raw.pieces`` as they are:
    an upload's bytes are then never copied between the socket and pfsd's content store.
    """

    __slots__ = ("path", "pieces")

    def __init__(self, path: str, pieces: list) -> None:
        self.path = path
        self.pieces = pieces

    def WhichOneof(self, group: str) -> str:  # noqa: N802 - protobuf's name
        return "add_file" if group == "body" else "raw"

    @property
    def add_file(self) -> AddFileChunk:
        return self

    @property
    def raw(self) -> AddFileChunk:
        return self

    @property
    def value(self) -> bytes:
        return b"".join(self.pieces)

    def SerializeToString(self) -> bytes:  # noqa: N802 - protobuf's name
        size = sum(map(len, self.pieces))
        return b"".join([add_file_prefix(self.path, size), *self.pieces])


class DeleteFileOp:
    """``ModifyFileRequest{delete_file: {path}}``, built as a plain object: every object write
    sends two (the object's path, its metadata directory), and a protobuf message costs ~1.5 us
    to build where this costs ~0.2. It reads like the message (``WhichOneof``,
    ``delete_file.path``) for pfsd in this process and serializes to its bytes for gRPC.
    """

    __slots__ = ("path",)

    def __init__(self, path: str) -> None:
        self.path = path

    def WhichOneof(self, group: str) -> str | None:  # noqa: N802 - protobuf's name
        return "delete_file" if group == "body" else None

    @property
    def delete_file(self) -> DeleteFileOp:
        return self

    def SerializeToString(self) -> bytes:  # noqa: N802 - protobuf's name
        name = self.path.encode()
        inner = _field(1, len(name)) + name if name else b""  # DeleteFile.path
        return _field(3, len(inner)) + inner  # ModifyFileRequest.delete_file


class GetFileArgs:
    """``GetFileRequest{file: {commit, path}, offset}`` for pfsd in this process: what its
    GetFile reads of the request (``file.commit``, ``file.path``, ``offset``, ``URL``), around
    the caller's shared Commit message, without building the two messages (and copying the
    Commit into them) for every GET. It serializes to the message it stands for."""

    __slots__ = ("commit", "path", "offset")
    URL = ""

    def __init__(self, commit, path: str, offset: int) -> None:
        self.commit = commit
        self.path = path
        self.offset = offset

    @property
    def file(self) -> GetFileArgs:
        return self

    def SerializeToString(self) -> bytes:  # noqa: N802 - protobuf's name
        file = pfs_pb2.File(commit=self.commit, path=self.path)
        return pfs_pb2.GetFileRequest(file=file, offset=self.offset).SerializeToString()


def _field(number: int, length: int) -> bytes:
    """The tag and length of a length-delimited protobuf field."""
    return _varint(number << 3 | 2) + _varint(length)


def _varint(n: int) -> bytes:
    out = bytearray()
    while n > 0x7F:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def serialize(request) -> bytes:
    # ModifyFile takes messages, their wire bytes already encoded (see add_file_prefix), or
    # AddFileChunks and GetFileArgs (which encode themselves)
    return request if isinstance(request, bytes) else request.SerializeToString()


def bytes_value(raw: bytes) -> memoryview:
    """A GetFile message's ``BytesValue.value``, as a view of the received bytes (no copy)."""
    view = memoryview(raw)
    if not raw:
        return view
    if raw[0] == 0x0A:  # field 1, length-delimited: the only field of BytesValue
        size, pos, shift = 0, 1, 0
        while pos < len(raw):
            b = raw[pos]
            size |= (b & 0x7F) << shift
            pos += 1
            if b < 0x80:
                if pos + size == len(raw):
                    return view[pos:]
                break
            shift += 7
    return memoryview(wrappers_pb2.BytesValue.FromString(raw).value)  # any other encoding
