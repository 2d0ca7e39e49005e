"""The spec validates, and spec operations and handler functions match 1:1."""

from codegen import check_spec
from gateway.server.dispatch import OperationTable
from gateway.server.spec import operations, split_path_key, unsupported_subresources


def test_spec_validates_and_matches_handlers_one_to_one():
    assert check_spec.problems() == []
    assert check_spec.spec_operation_ids() == check_spec.handler_functions()


def test_every_operation_names_a_distinct_route():
    seen = set()
    for op in operations():
        route = (op.method, op.spec_path)
        assert route not in seen
        seen.add(route)


def test_split_path_key_reads_selectors():
    assert split_path_key("/{Bucket}") == ("/{Bucket}", {}, None)
    assert split_path_key("/{Bucket}?list-type=2") == ("/{Bucket}", {"list-type": "2"}, None)
    assert split_path_key("/{Bucket}/{Key}?partNumber&uploadId#x-amz-copy-source") == (
        "/{Bucket}/{Key}", {"partNumber": None, "uploadId": None}, "x-amz-copy-source")


def test_unsupported_list_covers_the_original_gateways_list():
    original = {"accelerate", "acl", "analytics", "cors", "encryption", "inventory", "legal-hold",
                "lifecycle", "logging", "metrics", "notification", "object-lock", "policy",
                "policyStatus", "publicAccessBlock", "replication", "requestPayment", "restore",
                "retention", "select", "tagging", "torrent", "website"}
    served = {key for op in operations() for key in op.query}  # e.g. acl: the ACL probes
    assert original <= unsupported_subresources() | served


def test_dispatch_ignores_valued_unknown_params_and_refuses_unknown_subresources():
    table = OperationTable(operations(), unsupported_subresources())
    assert table.choose("object", "GET", [("x-id", "GetObject")], set()).name == "GetObject"
    for query in ([("cors", "")], [("foo", "")], [("website", "x")]):
        try:
            table.choose("object", "GET", query, set())
        except Exception as e:
            assert getattr(e, "code", None) == "NotImplemented"
        else:
            raise AssertionError(f"{query} was dispatched")
