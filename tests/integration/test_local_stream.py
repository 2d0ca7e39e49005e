"""ModifyFile through the in-process channel (gateway/pfs/local.py) against pfsd's real servicers.

A stream that fits in one go (a small PUT's handful of messages) runs its handler in the
caller's task once awaited, with no task of its own; a longer one starts a task once its body
passes ``INLINE_BYTES``. Both must commit exactly what was written, and a stream given up on
(its operations raise, or the call is cancelled before it is awaited) must commit nothing.
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import os
import sys

import pytest

from gateway.pfs import local
from gateway.pfs.client import PFS, Md5Report, Ref, delete_file
from gateway.pfs.errors import NotFound
from gateway.pfs.wire import AddFileChunk
from gateway.server.inproc import InProcessPFS
from generated.pfs import pfs_pb2 as pb
from tests.conftest import unique_repo


def run(tmp_path, scenario) -> None:
    async def main() -> None:
        host = InProcessPFS(tmp_path / "data")
        client = PFS(host.address, channel=await host.start())
        ref = Ref("default", unique_repo(), "master")
        await client.create_repo(ref)
        await client.create_branch(ref)
        try:
            await scenario(client, ref)
        finally:
            await client.close()
            await host.stop()

    asyncio.run(main())


async def read(client: PFS, ref: Ref, path: str) -> bytes:
    return b"".join([bytes(c) async for c in client.get_file(ref, path)])


def test_small_stream_commits_without_a_task_of_its_own(tmp_path):
    async def scenario(client: PFS, ref: Ref) -> None:
        body = os.urandom(4096)
        before = len(asyncio.all_tasks())
        call = client.api.ModifyFile(metadata=())
        for op in (pb.ModifyFileRequest(set_commit=ref.commit_pb()), delete_file("/k"),
                   AddFileChunk("/k", [body[:100], body[100:]])):
            await call.write(op)
        assert len(asyncio.all_tasks()) == before  # held, the handler not started
        await call.done_writing()
        await call
        assert (await read(client, ref, "/k")) == body
        report = Md5Report("/k2")
        commit = await client.modify_file(ref, [delete_file("/k2"), AddFileChunk("/k2", [body])],
                                          "PutObject k2", checks=("/k2",), md5=report)
        assert report.md5 == hashlib.md5(body).digest()
        info = await client.inspect_file(Ref(ref.project, ref.repo, ref.branch, commit), "/k2")
        assert info.size_bytes == len(body)

    run(tmp_path, scenario)


def test_long_stream_starts_its_handler_as_a_task(tmp_path):
    async def scenario(client: PFS, ref: Ref) -> None:
        blocks = [os.urandom(local.INLINE_BYTES) for _ in range(3)]
        seen: list[int] = []

        async def ops():
            yield delete_file("/big")
            for block in blocks:
                yield AddFileChunk("/big", [block])
                seen.append(len(asyncio.all_tasks()))

        before = len(asyncio.all_tasks())
        report = Md5Report("/big")
        await client.modify_file(ref, ops(), "PutObject big", checks=("/big",), md5=report)
        assert max(seen) > before  # the handler ran as a task while the body streamed
        assert report.md5 == hashlib.md5(b"".join(blocks)).digest()
        assert (await read(client, ref, "/big")) == b"".join(blocks)

    run(tmp_path, scenario)


@pytest.mark.parametrize("size", [4096, 3 * local.INLINE_BYTES])
def test_stream_given_up_commits_nothing(tmp_path, size):
    async def scenario(client: PFS, ref: Ref) -> None:
        head = (await client.inspect_branch(ref)).head.id

        async def ops():
            yield delete_file("/gone")
            yield AddFileChunk("/gone", [os.urandom(size)])
            raise RuntimeError("the client went away")

        with pytest.raises(RuntimeError):
            await client.modify_file(ref, ops(), "PutObject gone")
        # cancelled after its messages, before it was awaited
        call = client.api.ModifyFile(metadata=())
        await call.write(pb.ModifyFileRequest(set_commit=ref.commit_pb()))
        await call.write(AddFileChunk("/gone", [b"x" * size]))
        await call.done_writing()
        assert call.cancel()
        with pytest.raises((asyncio.CancelledError, Exception)):
            await call
        assert (await client.inspect_branch(ref)).head.id == head
        with pytest.raises(NotFound):
            await client.inspect_file(ref, "/gone")
        await client.modify_file(ref, [AddFileChunk("/gone", [b"later"])], "PutObject gone")
        assert (await read(client, ref, "/gone")) == b"later"

    run(tmp_path, scenario)


@pytest.mark.parametrize("size", [4096, 3 * local.INLINE_BYTES // 2])
def test_getfile_streams_end_without_the_garbage_collector(tmp_path, size):
    """A read to the end of a file ends its GetFile by itself (nothing left to cancel), and one
    given up on closes pfsd's generators then: none is left to asyncio's finalizer hook (which
    would wake the loop through its self-pipe and start a task per generator)."""

    async def scenario(client: PFS, ref: Ref) -> None:
        body = os.urandom(size)
        await client.modify_file(ref, [AddFileChunk("/k", [body])], "PutObject k")
        hooks = sys.get_asyncgen_hooks()
        finalized: list[str] = []

        def finalizer(agen) -> None:
            finalized.append(agen.__qualname__)
            hooks.finalizer(agen)

        sys.set_asyncgen_hooks(firstiter=hooks.firstiter, finalizer=finalizer)
        try:
            reader = client.open_file(ref, "/k", 0, page_of="/.s3g/none/")
            assert (await reader.info()).size_bytes == size
            assert await reader.read(size) == body
            assert reader._call.done() and not reader._call.cancel()  # ended, not cancelled
            for offset in (0, 1):
                reader = client.open_file(ref, "/k", offset)
                assert await reader.read(10) == body[offset:offset + 10]  # then cancelled
                partial = client.open_file(ref, "/k", offset)
                assert b"".join([bytes(c) async for c in partial.chunks(size)]) == body[offset:]
            await asyncio.sleep(0.05)  # the cancels' closing tasks run
            gc.collect()
            await asyncio.sleep(0.05)
        finally:
            sys.set_asyncgen_hooks(*hooks)
        assert finalized == []

    run(tmp_path, scenario)
