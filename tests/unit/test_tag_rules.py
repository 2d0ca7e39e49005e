"""S3's tag rules: the x-amz-tagging header, the <Tagging> document, the limits."""

from __future__ import annotations

import pytest

from gateway.s3 import tagging
from gateway.s3.errors import S3Error


def code(fn) -> str:
    with pytest.raises(S3Error) as e:
        fn()
    return e.value.code


def test_header_is_url_encoded_pairs():
    assert tagging.from_header({"x-amz-tagging": "a=1&b=two%20words&c="}) == {"a": "1", "b": "two words", "c": ""}
    assert tagging.from_header({}) is None
    assert tagging.from_header({"x-amz-tagging": ""}) == {}
    assert code(lambda: tagging.from_header({"x-amz-tagging": "a=1&a=2"})) == "InvalidTag"


def test_limits():
    assert code(lambda: tagging.check([(f"k{i}", "") for i in range(11)])) == "InvalidTag"
    assert len(tagging.check([(f"k{i}", "") for i in range(50)], tagging.MAX_BUCKET_TAGS)) == 50
    assert code(lambda: tagging.check([("", "v")])) == "InvalidTag"
    assert code(lambda: tagging.check([("k" * 129, "v")])) == "InvalidTag"
    assert code(lambda: tagging.check([("k", "v" * 257)])) == "InvalidTag"
    assert code(lambda: tagging.check([("AWS:x", "v")])) == "InvalidTag"
    assert code(lambda: tagging.check([("a<b", "v")])) == "InvalidTag"
    assert tagging.check([("é ü", "+-=._:/@")]) == {"é ü": "+-=._:/@"}


def test_document_round_trip():
    tags = {"a": "1", "b c": ""}
    assert tagging.parse_document(tagging.render(tags)) == tags
    assert code(lambda: tagging.parse_document(b"<Tagging>")) == "MalformedXML"
    assert code(lambda: tagging.parse_document(b"<Other/>")) == "MalformedXML"
    assert code(lambda: tagging.parse_document(b"<Tagging><TagSet><Tag><Value>v</Value></Tag></TagSet></Tagging>")) \
        == "MalformedXML"
