"""gateway/server/plans.py validates and builds handler arguments as connexion's layers do."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from connexion.context import _context, _operation
from connexion.decorators.parameter import prep_kwargs, pythonic
from connexion.exceptions import BadRequestProblem
from connexion.lifecycle import ConnexionRequest

from gateway.server import plans, tuning
from gateway.server.dispatch import QUERY
from gateway.server.spec import load_spec
from tests.unit.test_tuning import started_app


@pytest.fixture(scope="module")
def stack():
    cx = started_app(uri_parser_class=tuning.S3URIParser)
    [planned] = [m for m in cx.middleware.middleware_stack if isinstance(m, plans.PlannedOperations)]
    [validation] = [m for m in cx.middleware.middleware_stack
                    if isinstance(m, tuning.CachedRequestValidationMiddleware)]
    checks = {op_id: op for apis in validation.apis.values() for api in apis
              for op_id, op in api.operations.items()}
    return planned, checks


def test_every_operation_of_the_spec_has_a_plan(stack):
    planned, _ = stack
    ids = {op["operationId"] for item in load_spec()["paths"].values() for op in item.values()
           if isinstance(op, dict) and "operationId" in op}
    assert set(planned.plans) == ids
    for hot in ("get_object", "head_object", "put_object"):
        assert f"handlers.objects.{hot}" in planned.plans
    assert "handlers.buckets.list_objects_v2" in planned.plans


def _sample(param: dict) -> str:
    schema = param.get("schema", {})
    if schema.get("type") == "integer":
        return str(schema.get("minimum", 0) + 1)
    if schema.get("type") == "boolean":
        return "true"
    if "enum" in schema:
        return schema["enum"][0]
    return "v a/l%"


def _scope(plan: plans.OperationPlan, query: list[tuple[str, str]], headers: list) -> dict:
    path_params = {p["name"]: "b" if p["name"] == "Bucket" else "some/key"
                   for p in plan.operation.parameters if p["in"] == "path"}
    return {"type": "http", "method": plan.operation.method.upper(), "path": "/b/some/key",
            "raw_path": b"/b/some/key", "query_string": b"", "headers": headers,
            "path_params": path_params, "state": {QUERY: query}}


def _connexion_arguments(plan: plans.OperationPlan, scope: dict, context: dict) -> dict:
    """What connexion's parameter decorator passes the handler for the same request."""
    scope = dict(scope, query_string=urlencode(scope["state"][QUERY]).encode())
    _operation.set(plan.operation)
    _context.set(context)
    request = ConnexionRequest(scope, uri_parser=plan.uri_parser)
    return prep_kwargs(request, request_body=None, files={}, arguments=plan.arguments,
                       has_kwargs=plan.has_kwargs, sanitize=pythonic)


def test_arguments_are_connexions_for_every_operation(stack):
    planned, _ = stack
    for op_id, plan in planned.plans.items():
        query = [(p["name"], _sample(p)) for p in plan.operation.parameters if p["in"] == "query"]
        headers = [(p["name"].lower().encode(), _sample(p).encode())
                   for p in plan.operation.parameters if p["in"] == "header"]
        # (a context as a security handler would leave it: the spec declares none today)
        for q, context in ((query, {}), ([], {}), ([("unknown", "x"), *query[:1]], {}),
                           (query, {"user": "u", "token_info": {"sub": "u"}})):
            scope = _scope(plan, q, headers)
            got = plan.arguments_of(plan.request(scope), context)
            assert got == _connexion_arguments(plan, scope, context), op_id


@pytest.mark.parametrize("op_id, query, headers", [
    ("handlers.buckets.list_objects_v2", [("list-type", "2"), ("max-keys", "ten")], []),
    ("handlers.buckets.list_objects_v2", [("list-type", "2"), ("max-keys", "-1")], []),
    ("handlers.objects.get_object", [("partNumber", "x")], []),
    ("handlers.buckets.list_objects_v2", [("list-type", "2"), ("encoding-type", "xml")], []),
    ("handlers.buckets.list_objects_v2", [("list-type", "2"), ("fetch-owner", "maybe")], []),
    ("handlers.buckets.list_objects_v2", [("max-keys", "ten")], []),  # list-type missing: first
    ("handlers.buckets.list_objects_v2",  # two bad values: the one connexion checks first
     [("list-type", "2"), ("fetch-owner", "maybe"), ("max-keys", "x")], []),
])
def test_bad_input_fails_with_connexions_message(stack, op_id, query, headers):
    """The plan checks only the parameters a request sends and the required ones: the same
    first failure as connexion, which checks every declared one in order."""
    planned, checks = stack
    plan = planned.plans[op_id]
    scope = _scope(plan, query, headers)
    with pytest.raises(BadRequestProblem) as ours:
        plan.validate(plan.request(scope))
    with pytest.raises(BadRequestProblem) as theirs:
        checks[op_id]._parameters.validate(dict(scope, query_string=urlencode(query).encode()))
    assert ours.value.detail == theirs.value.detail
