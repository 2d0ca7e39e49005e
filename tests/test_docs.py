"""`make docs` renders an API reference that lists every spec operation and the unsupported list."""

from codegen import gen_docs
from gateway.server.spec import operations, unsupported_subresources


def test_docs_list_every_operation_and_unsupported_subresource(tmp_path):
    out = tmp_path / "api.md"
    assert gen_docs.main(["--out", str(out)]) == 0
    text = out.read_text()
    for op in operations():
        assert f"### {op.name}" in text, op.name
        assert op.operation_id in text
    for sub in unsupported_subresources():
        assert f"`?{sub}`" in text
