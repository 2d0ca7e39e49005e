"""The PFS client's hand-made wire encodings agree with protobuf's."""

from __future__ import annotations

import pytest
from google.protobuf import wrappers_pb2

from gateway.pfs.client import add_file, delete_file
from gateway.pfs.wire import AddFileChunk, add_file_prefix, bytes_value, serialize
from generated.pfs import pfs_pb2 as pb

SIZES = [0, 1, 127, 128, 300, 16383, 16384, 2097151, 2097152, (1 << 20) + 5]


@pytest.mark.parametrize("path", ["/a", "/" + "x" * 200, "/dir/ü ß.bin"])
@pytest.mark.parametrize("size", SIZES)
def test_add_file_prefix_is_the_serialized_message(path, size):
    data = bytes(range(256)) * (size // 256) + bytes(size % 256)
    wire = add_file_prefix(path, size) + data
    assert wire == add_file(path, data).SerializeToString()
    parsed = pb.ModifyFileRequest.FromString(wire)
    assert parsed.add_file.path == path and parsed.add_file.raw.value == data


def test_add_file_chunk_serializes_to_the_message_and_reads_like_it():
    pieces = [b"abc", memoryview(b"0123456789")[2:], b"", b"x" * 70_000]
    chunk = AddFileChunk("/dir/k", pieces)
    data = b"".join(pieces)
    assert serialize(chunk) == add_file("/dir/k", data).SerializeToString()
    # what pfsd's ModifyFile reads of a message handed to it in this process
    assert chunk.WhichOneof("body") == "add_file" and chunk.add_file.WhichOneof("source") == "raw"
    assert chunk.add_file.path == "/dir/k" and chunk.add_file.raw.value == data
    assert chunk.add_file.raw.pieces is pieces  # the buffers themselves: no copy


@pytest.mark.parametrize("path", ["/k", "", "/dir/" + "x" * 300, "/é"])
def test_delete_file_op_serializes_to_the_message_and_reads_like_it(path):
    op = delete_file(path)
    assert serialize(op) == pb.ModifyFileRequest(delete_file=pb.DeleteFile(path=path)).SerializeToString()
    assert op.WhichOneof("body") == "delete_file" and op.delete_file.path == path


def test_serialize_passes_bytes_through():
    assert serialize(b"\x12\x00") == b"\x12\x00"
    assert serialize(delete_file("/k")) == delete_file("/k").SerializeToString()


@pytest.mark.parametrize("size", SIZES)
def test_bytes_value_is_a_view_of_the_value(size):
    value = b"v" * size
    raw = wrappers_pb2.BytesValue(value=value).SerializeToString()
    got = bytes_value(raw)
    assert isinstance(got, memoryview) and got == value


def test_bytes_value_of_another_encoding_still_parses():
    # the same field twice: protobuf keeps the last; the fast path must not guess
    raw = wrappers_pb2.BytesValue(value=b"first").SerializeToString() + \
        wrappers_pb2.BytesValue(value=b"last").SerializeToString()
    assert bytes_value(raw) == b"last"


@pytest.mark.parametrize("offset", [0, 5, 1 << 40])
def test_get_file_args_read_and_serialize_like_the_request(offset):
    from gateway.pfs.client import Ref
    from gateway.pfs.wire import GetFileArgs

    ref = Ref("proj", "repo", "master", "0123456789abcdef0123456789abcdef")
    want = pb.GetFileRequest(file=ref.file_pb("/dir/k ü"), offset=offset)
    args = GetFileArgs(ref.commit_pb(), "/dir/k ü", offset)
    assert serialize(args) == want.SerializeToString()
    # what pfsd's GetFile reads of a request handed to it in this process
    assert args.URL == want.URL == ""
    assert args.file.commit == want.file.commit and args.file.path == want.file.path
    assert args.offset == want.offset
