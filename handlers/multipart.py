"""S3 multipart uploads, staged in PFS (see :mod:`gateway.ops.multipart` for where things live).

Parts stream into the bucket repo's hidden staging branch like PutObject bodies; completing
concatenates them server-side (CopyFile with ``append``) into one commit on the user's branch.
"""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime
from urllib.parse import quote

from starlette.responses import Response, StreamingResponse

from gateway.context import content_type, pfs, request
from gateway.ops import acls, conditional, copy, folders, mpsums, versioning, versions
from gateway.ops import multipart as mp
from gateway.ops.body import UploadBody
from gateway.ops.objects import etag_of, is_directory
from gateway.pfs import metadata
from gateway.pfs.client import Ref, add_file, copy_file, delete_file
from gateway.pfs.errors import FailedPrecondition, NotFound
from gateway.pfs.refs import read_ref, write_ref
from gateway.s3 import checksums, conditions, errors, mpchecksums
from gateway.s3.names import is_folder_key, object_path
from gateway.s3.xml import document, element, timestamp

OWNER = "<ID>pachyderm</ID><DisplayName>pachyderm</DisplayName>"
PEOPLE = f"<Initiator>{OWNER}</Initiator><Owner>{OWNER}</Owner>"


def _xml(root: str, parts: list[str]) -> Response:
    return Response(document(root, parts), media_type="application/xml")


def _places(bucket: str, key: str) -> tuple[Ref, str, Ref, mp.Layout]:
    ref = write_ref(bucket)
    return ref, object_path(key), mp.staging_ref(ref), mp.Layout(ref.branch)


async def create_multipart_upload(bucket: str, key: str) -> Response:
    """Record the upload (key and metadata) in one staging commit; return its ID."""
    ref, _, staging, layout = _places(bucket, key)
    meta = metadata.from_headers(request().headers, content_type())
    meta.acl = await acls.for_object_write(bucket, request().headers)  # applied on Complete
    wanted = mpchecksums.upload_checksum(request().headers)
    if wanted is not None:
        meta.checksum = [wanted[0], "", wanted[1]]
    await pfs().inspect_branch(ref)  # NoSuchBucket; staging never creates the user's branch
    upload_id = mp.new_upload_id()
    await pfs().modify_file(staging, [
        add_file(layout.info_dir(upload_id) + mp.encode_info(key, meta), b""),
        add_file(layout.index_file(key, upload_id), b""),
    ], f"CreateMultipartUpload {key}")
    out = _xml("InitiateMultipartUploadResult", [
        element("Bucket", bucket), element("Key", key), element("UploadId", upload_id)])
    if wanted is not None:
        out.headers["x-amz-checksum-algorithm"], out.headers["x-amz-checksum-type"] = wanted
    return out


async def upload_part(bucket: str, key: str, part_number: int, upload_id: str) -> Response:
    """Stream one part into the staging branch (replacing a part of the same number)."""
    _, _, staging, layout = _places(bucket, key)
    mp.check_part_number(part_number)
    client = pfs()
    upload = (await mp.load_upload(client, staging, layout, key, upload_id)).checksum
    algorithm = mpsums.algorithm_of(upload)
    body = UploadBody(request(), backend_md5=client.hashes_uploads, algorithm=algorithm)
    mpsums.check_part_algorithm(upload, body.plan.algorithm)
    kept = mpsums.kept_algorithm(upload, body.plan.algorithm)
    path = layout.part_file(upload_id, part_number)

    async def ops():
        async for op in body.file_ops(path):
            yield op
        if kept is not None:  # the body is all read: its checksum is final
            for op in mpsums.write_ops(layout, upload_id, part_number, kept, body.checksum(kept)[1]):
                yield op
        body.verify()  # raising here cancels the stream: PFS commits nothing

    try:
        commit = await client.modify_file(staging, ops(), f"UploadPart {key} part {part_number}",
                                          md5=body.md5_report(path))
    except FailedPrecondition as e:
        raise body.md5_refused(e) or e from None
    await body.settle_md5(client, staging, commit)
    out = {"ETag": f'"{body.md5_hex}"', **body.response_headers()}
    if algorithm is not None:  # S3 answers the part's checksum, sent or not
        out[checksums.checksum_header(algorithm)] = mpchecksums.b64(body.checksum(algorithm)[1])
    return Response(status_code=200, headers=out)


async def upload_part_copy(bucket: str, key: str, part_number: int, upload_id: str) -> Response:
    """A part from an existing object (or a byte range of it): a server-side CopyFile, or a
    streamed range when only part of the source is wanted."""
    _, _, staging, layout = _places(bucket, key)
    mp.check_part_number(part_number)
    headers = request().headers
    src = copy.parse_copy_source(headers["x-amz-copy-source"])
    client = pfs()
    algorithm = mpsums.algorithm_of((await mp.load_upload(client, staging, layout, key, upload_id)).checksum)
    source = await copy.resolve(client, src)
    conditions.check_copy_preconditions(headers, source.obj.etag, source.obj.last_modified)
    rng = mp.parse_copy_range(headers.get("x-amz-copy-source-range"), source.obj.size)
    path = layout.part_file(upload_id, part_number)
    sums = checksums.BodyDigests([algorithm] if algorithm else [])
    if rng is None:
        sum_ops = []
        if algorithm is not None:  # the part's checksum needs its bytes: read once, not kept
            async for chunk in client.get_file(source.ref, source.path):
                sums.update(chunk)
            sum_ops = mpsums.write_ops(layout, upload_id, part_number, algorithm, sums.digest(algorithm))
        await client.modify_file(staging, [copy_file(path, source.ref, source.path), *sum_ops],
                                 f"UploadPartCopy {key} part {part_number}")
        # a part's ETag is its bytes' MD5 (a multipart source's own ETag is not)
        etag = source.obj.etag if source.meta.etag is None else etag_of(await client.inspect_file(staging, path))
    else:
        digest = hashlib.md5()

        async def ops():
            yield delete_file(path)
            yield add_file(path, b"")
            async for chunk in _read_range(source.ref, source.path, *rng):
                digest.update(chunk)
                if algorithm is not None:
                    sums.update(chunk)
                yield add_file(path, chunk)
            if algorithm is not None:
                for op in mpsums.write_ops(layout, upload_id, part_number, algorithm,
                                           sums.digest(algorithm)):
                    yield op

        await client.modify_file(staging, ops(), f"UploadPartCopy {key} part {part_number}")
        etag = digest.hexdigest()
    result = [element("ETag", f'"{etag}"'), element("LastModified", timestamp(datetime.now(UTC)))]
    if algorithm is not None:
        result.append(element("Checksum" + algorithm, sums.checksum(algorithm)))
    body = document("CopyPartResult", result)
    out = {"x-amz-copy-source-version-id": source.version_id} if source.version_id else {}
    return Response(body, media_type="application/xml", headers=out)


async def _read_range(ref: Ref, path: str, first: int, last: int):
    remaining = last - first + 1
    async for chunk in pfs().get_file(ref, path, first):
        if len(chunk) >= remaining:
            yield chunk[:remaining]
            return
        remaining -= len(chunk)
        yield chunk


async def complete_multipart_upload(bucket: str, key: str, upload_id: str) -> Response:
    """Concatenate the chosen parts in PFS into one commit on the user's branch, then drop the
    upload from staging. A crash between the two leaves only staging garbage, never a partial
    object."""
    ref, path, staging, layout = _places(bucket, key)
    body = await _read_body()
    client = pfs()
    mp.check_upload_id(upload_id)
    try:
        head = (await client.inspect_branch(staging)).head.id
    except NotFound:
        raise errors.no_such_upload(upload_id) from None
    snapshot = Ref(staging.project, staging.repo, staging.branch, head)  # one consistent view
    req = request()
    location = f"{req.base_url}{quote(bucket)}/{quote(key)}"
    try:
        meta = await mp.load_upload(client, snapshot, layout, key, upload_id)
    except errors.S3Error as e:
        if e.code != "NoSuchUpload":
            raise
        # Completed already? A retry of the same request answers what the first one did.
        done = await mp.load_completion(client, snapshot, layout, key, upload_id)
        if done is None or done.etag != mp.requested_etag(mp.parse_complete(body)):
            raise
        mode = versioning.version_mode(await versioning.status(client, ref))
        return Response(_complete_result(location, bucket, key, done.etag, done.checksum),
                        media_type="application/xml", headers=versioning.write_headers(done.version, mode))
    requested = mp.parse_complete(body)
    chosen = mp.choose_parts(requested, await mp.all_parts(client, snapshot, layout, upload_id))
    if is_folder_key(key) and any(p.size for p in chosen):
        raise folders.not_empty(key)
    meta.etag = mp.multipart_etag(chosen)
    meta.parts = mp.part_runs(chosen)
    part_sums = None
    stored = await mpsums.part_sums(client, snapshot, layout, upload_id)  # one WalkFile
    upload = meta.checksum if mpsums.algorithm_of(meta.checksum) else mpsums.implied(chosen, stored)
    meta.checksum = []
    if upload:
        meta.checksum, part_sums = mpsums.settle(upload, chosen, stored, mpsums.parse_requested(body),
                                                 request().headers)
        meta.part_checksums = True
    cond = conditional.parse(request().headers)
    require = await conditional.check(client, ref, path, key, cond)
    existing, status = await asyncio.gather(_existing(ref, path), versioning.status(client, ref))
    if existing is not None and is_directory(existing):
        raise errors.path_conflict(key)
    meta.version = versioning.version_mode(status)
    ops = [delete_file(path)]  # always: a racing write may have created it since (appends)
    ops += [copy_file(path, snapshot, layout.part_file(upload_id, p.number), append=True) for p in chosen]
    ops += [*metadata.write_ops(path, meta, part_sums), *versions.index_ops(path, meta.version)]

    async def commit() -> str:
        version = await conditional.guarded(
            client.modify_file(ref, ops, f"CompleteMultipartUpload {key}", require=require), cond)
        await _forget(staging, layout, key, upload_id, "CompleteMultipartUpload",
                      mp.Completion(key, meta.etag or "", version, meta.checksum))
        return version

    result = _complete_result(location, bucket, key, meta.etag or "", meta.checksum)
    request_id = req.scope.get("state", {}).get("request_id", "")
    version, body = await mp.finish_or_keep_alive(
        commit(), lambda _version: result,
        lambda exc: mp.error_body(exc, bucket, key, req.url.path, request_id))
    if body is not None:
        return StreamingResponse(body, media_type="application/xml")
    return Response(result, media_type="application/xml",
                    headers=versioning.write_headers(version, meta.version))


async def _read_body() -> bytes:
    body = bytearray()
    async for chunk in request().stream():
        body += chunk
        if len(body) > mp.MAX_COMPLETE_BODY:
            raise errors.malformed_xml()
    return bytes(body)


async def _existing(ref: Ref, path: str):
    try:
        return await pfs().inspect_file(ref, path)
    except NotFound as e:
        if e.kind == "file":
            return None
        raise


def _complete_result(location: str, bucket: str, key: str, etag: str, checksum: list[str]) -> bytes:
    return document("CompleteMultipartUploadResult", [
        element("Location", location), element("Bucket", bucket), element("Key", key),
        element("ETag", f'"{etag}"'),
        *(element(name, value) for name, value in copy.checksum_elements(checksum))])


async def _forget(staging: Ref, layout: mp.Layout, key: str, upload_id: str, operation: str,
                  done: mp.Completion | None = None) -> None:
    """Drop the upload from staging; after a completion, leave its record (one empty file)."""
    ops = [delete_file(layout.upload_dir(upload_id)), delete_file(layout.index_file(key, upload_id))]
    if done is not None:
        ops.append(add_file(layout.done_dir(upload_id) + done.encode(), b""))
    await pfs().modify_file(staging, ops, f"{operation} {key} (upload {upload_id})")


async def abort_multipart_upload(bucket: str, key: str, upload_id: str) -> Response:
    """Delete the upload and its parts from the staging branch's head."""
    _, _, staging, layout = _places(bucket, key)
    await mp.load_upload(pfs(), staging, layout, key, upload_id)
    await _forget(staging, layout, key, upload_id, "AbortMultipartUpload")
    return Response(status_code=204)


async def list_parts(bucket: str, key: str, upload_id: str, max_parts: int | None = None,
                     part_number_marker: int | None = None) -> Response:
    """One page of an upload's parts in numeric order (one ListFile)."""
    _, _, staging, layout = _places(bucket, key)
    client = pfs()
    upload = (await mp.load_upload(client, staging, layout, key, upload_id)).checksum
    limit = mp.MAX_LIST if max_parts is None else max(0, min(max_parts, mp.MAX_LIST))
    after = part_number_marker or 0
    parts = await mp.list_parts(client, staging, layout, upload_id, after, limit + 1) if limit else []
    truncated = len(parts) > limit
    parts = parts[:limit]
    algorithm = mpsums.algorithm_of(upload)
    sums = await mpsums.part_sums(client, staging, layout, upload_id, after, parts[-1].number) \
        if algorithm is not None and parts else {}
    out = [element("Bucket", bucket), element("Key", key), element("UploadId", upload_id),
           element("PartNumberMarker", after), element("MaxParts", limit),
           element("IsTruncated", truncated)]
    if parts:
        out.append(element("NextPartNumberMarker", parts[-1].number))
    out += [PEOPLE, element("StorageClass", "STANDARD")]
    if algorithm is not None:
        out += [element("ChecksumAlgorithm", algorithm), element("ChecksumType", upload[2])]
    out += [f"<Part>{element('PartNumber', p.number)}{element('LastModified', timestamp(p.last_modified))}"
            f"{element('ETag', chr(34) + p.etag + chr(34))}{element('Size', p.size)}"
            f"{_part_sum(algorithm, sums.get(p.number))}</Part>" for p in parts]
    return _xml("ListPartsResult", out)


def _part_sum(algorithm: str | None, stored: tuple[str, bytes] | None) -> str:
    if algorithm is None or stored is None or stored[0] != algorithm:
        return ""
    return element("Checksum" + algorithm, mpchecksums.b64(stored[1]))


async def list_multipart_uploads(bucket: str, prefix: str = "", delimiter: str | None = None,
                                 key_marker: str | None = None, upload_id_marker: str | None = None,
                                 max_uploads: int | None = None, encoding_type: str | None = None,
                                 ) -> Response:
    """One page of the branch's uploads in progress, by key then age."""
    ref = read_ref(bucket)
    limit = mp.MAX_LIST if max_uploads is None else max(0, min(max_uploads, mp.MAX_LIST))
    if upload_id_marker and not key_marker:
        upload_id_marker = None  # S3 ignores it without a key marker
    if upload_id_marker:
        mp.check_upload_id_marker(upload_id_marker)
    client = pfs()
    if ref.commit:
        await client.inspect_commit(ref)
        page = mp.UploadsPage([], [])  # a pinned view of history has no uploads in progress
    else:
        await client.inspect_branch(ref)
        page = mp.UploadsPage([], []) if limit == 0 else await mp.list_uploads(
            client, mp.staging_ref(ref), mp.Layout(ref.branch), prefix or "", delimiter or None,
            key_marker, upload_id_marker, limit)
    enc = (lambda s: quote(s, safe="/")) if encoding_type == "url" else (lambda s: s)
    out = [element("Bucket", bucket), element("KeyMarker", enc(key_marker or "")),
           element("UploadIdMarker", upload_id_marker or "")]
    if page.truncated:
        last_upload = page.uploads[-1] if page.uploads else None
        last_prefix = page.prefixes[-1] if page.prefixes else None
        if last_prefix is not None and (last_upload is None or last_prefix > last_upload[0]):
            out += [element("NextKeyMarker", enc(last_prefix)), element("NextUploadIdMarker", "")]
        elif last_upload is not None:
            out += [element("NextKeyMarker", enc(last_upload[0])),
                    element("NextUploadIdMarker", last_upload[1])]
    if delimiter:
        out.append(element("Delimiter", enc(delimiter)))
    out += [element("Prefix", enc(prefix or "")), element("MaxUploads", limit)]
    if encoding_type:
        out.append(element("EncodingType", encoding_type))
    out.append(element("IsTruncated", page.truncated))
    out += [f"<Upload>{element('Key', enc(k))}{element('UploadId', u)}{PEOPLE}"
            f"<StorageClass>STANDARD</StorageClass>{element('Initiated', timestamp(mp.initiated(u)))}"
            "</Upload>" for k, u in page.uploads]
    out += [f"<CommonPrefixes>{element('Prefix', enc(p))}</CommonPrefixes>" for p in page.prefixes]
    return _xml("ListMultipartUploadsResult", out)
