"""Bucket names to PFS branches, and object keys to PFS paths."""

from __future__ import annotations

import dataclasses

import pytest

from gateway.s3.errors import S3Error
from gateway.s3.names import (
    MAX_BUCKET_NAME,
    RESERVED_PREFIX,
    BucketRef,
    is_commit_id,
    is_reserved,
    parse_bucket,
    validate_key,
)

COMMIT = "0123456789abcdef0123456789abcdef"

# --- Buckets ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("bucket", "expected", "canonical"), [
    ("images", BucketRef("default", "images", "master"), "master.images"),
    ("master.images", BucketRef("default", "images", "master"), "master.images"),
    ("dev.images", BucketRef("default", "images", "dev"), "dev.images"),
    ("dev.images.vision", BucketRef("vision", "images", "dev"), "dev.images.vision"),
    ("dev.images.default", BucketRef("default", "images", "dev"), "dev.images"),
    (f"{COMMIT}.dev.images", BucketRef("default", "images", "dev", COMMIT),
     f"{COMMIT}.dev.images"),
    (f"{COMMIT}.dev.images.vision", BucketRef("vision", "images", "dev", COMMIT),
     f"{COMMIT}.dev.images.vision"),
    ("Feature_1.My-Repo.Proj_2", BucketRef("Proj_2", "My-Repo", "Feature_1"),
     "Feature_1.My-Repo.Proj_2"),
    ("abc", BucketRef("default", "abc", "master"), "master.abc"),  # S3's shortest name
    # 32 hex but uppercase is not a commit ID: branch.repo.project.
    (f"{COMMIT.upper()}.b.c", BucketRef("c", "b", COMMIT.upper()), f"{COMMIT.upper()}.b.c"),
    # 31 hex digits is an ordinary branch name.
    (f"{COMMIT[:31]}.b.c", BucketRef("c", "b", COMMIT[:31]), f"{COMMIT[:31]}.b.c"),
    # A repo may look like a commit ID; only the branch position may not.
    (COMMIT, BucketRef("default", COMMIT, "master"), f"master.{COMMIT}"),
    ("x" * 63, BucketRef("default", "x" * 63, "master"), "master." + "x" * 63),  # S3's longest
    # a commit view may be longer: the S3 rule holds for the name after "<commit>."
    (f"{COMMIT}.b." + "x" * 61, BucketRef("default", "x" * 61, "b", COMMIT), f"{COMMIT}.b." + "x" * 61),
])
def test_parse_bucket(bucket, expected, canonical):
    ref = parse_bucket(bucket)
    assert ref == expected
    assert ref.name == canonical
    assert ref.read_only is (ref.commit is not None)
    if len(ref.name) - (33 if ref.commit else 0) <= 63:
        assert parse_bucket(ref.name) == ref  # the canonical name round-trips


@pytest.mark.parametrize("bucket", [
    "",
    "x" * (MAX_BUCKET_NAME + 1),
    "a", "ab",  # S3: 3 to 63 characters
    "x" * 64, "b." + "x" * 62,
    f"{COMMIT}.b." + "x" * 62,
    ".images",
    "images.",
    "dev..images",
    ".",
    "dev.im ages",
    "dev/images",
    "dev.images:x",
    "dév.images",
    "dev.images.proj.extra",  # four parts need a commit in front
    f"{COMMIT}.a.b.c.d",  # five parts
    f"{COMMIT}.images",  # a commit ID cannot be a branch name (pachd rejects them)
    f"dev.{COMMIT[:16]}.x.{COMMIT}",
    f"{COMMIT}.{COMMIT}.images",
    f"{COMMIT}.{COMMIT}.images.proj",
    "master^.images",  # ancestry syntax is not a bucket name
])
def test_invalid_buckets(bucket):
    with pytest.raises(S3Error) as info:
        parse_bucket(bucket)
    err = info.value
    assert (err.status, err.code) == (400, "InvalidBucketName")
    assert err.extra == {"BucketName": bucket}
    assert err.message


def test_bucket_ref_is_frozen():
    ref = parse_bucket("dev.images")
    with pytest.raises(dataclasses.FrozenInstanceError):
        ref.branch = "other"
    assert hash(ref) == hash(parse_bucket("dev.images.default"))


def test_is_commit_id():
    assert is_commit_id(COMMIT)
    assert not is_commit_id(COMMIT.upper())
    assert not is_commit_id(COMMIT + "0")
    assert not is_commit_id("master")


# --- Keys -------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", [
    "a",
    "file.txt",
    "dir/sub/file.txt",
    "with space/and-dash_under~tilde",
    "punct/#$%&',;=-`|<>\"",
    ".hidden",
    "dir/.hidden/..dots/...three",
    "trailing.dot.",
    ".s3gx/file",  # only the prefix directory and what is under it are reserved
    "x/.s3g/file",
    "k" * 1024,
])
def test_valid_keys(key):
    assert validate_key(key) == "/" + key


@pytest.mark.parametrize(("key", "fragment"), [
    ("", "empty"),
    ("a\x00b", "control"),
    ("a\nb", "control"),
    ("tab\there", "control"),
    ("del\x7f", "control"),
    ("caf\u00e9", "printable ASCII"),
    ("emoji\U0001f600", "printable ASCII"),
    ("star*", "'*'"),
    ("what?", "'?'"),
    ("[brackets]", "'['"),
    ("x]", "']'"),
    ("{braces}", "'{'"),
    ("bang!", "'!'"),
    ("(paren", "'('"),
    ("at@", "'@'"),
    ("plus+", "'+'"),
    ("caret^", "'^'"),
    ("back\\slash", "backslash"),
    ("dir/", "end with '/'"),
    ("/", "end with '/'"),
    ("/abs", "start with '/'"),
    ("a//b", "'//'"),
    (".", "'.' or '..'"),
    ("..", "'.' or '..'"),
    ("a/./b", "'.' or '..'"),
    ("a/../b", "'.' or '..'"),
    ("../escape", "'.' or '..'"),
    ("a/..", "'.' or '..'"),
    (RESERVED_PREFIX + "uploads/x", "reserved"),
    (".s3g", "reserved"),  # a file there would collide with the directory
])
def test_invalid_keys(key, fragment):
    with pytest.raises(S3Error) as info:
        validate_key(key)
    err = info.value
    assert (err.status, err.code) == (400, "InvalidArgument")
    assert fragment in err.message
    assert err.extra == {"ArgumentName": "key", "ArgumentValue": key}


def test_key_too_long():
    with pytest.raises(S3Error) as info:
        validate_key("k" * 1025)
    assert (info.value.status, info.value.code) == (400, "KeyTooLongError")


def test_reserved_prefix():
    assert RESERVED_PREFIX == ".s3g/"
    assert is_reserved(".s3g/uploads/1")
    assert is_reserved(".s3g")
    assert not is_reserved(".s3gx")
    assert not is_reserved("a/.s3g/b")
