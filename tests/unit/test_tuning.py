"""The per-request shortcuts of gateway/tuning.py and gateway/spec.py behave like connexion."""

from __future__ import annotations

from collections import Counter

import connexion
import pytest
from connexion.json_schema import Draft4Validator
from connexion.middleware.security import SecurityMiddleware
from connexion.resolver import Resolver
from connexion.validators.parameter import draft4_format_checker
from jsonschema import ValidationError
from starlette.testclient import TestClient

from gateway.server import tuning
from gateway.server.app import VALIDATORS, resolve_handler
from gateway.server.dispatch import DOCS_PATHS, Dispatcher
from gateway.server.spec import _own_parameters, load_spec, ordered_spec


def test_path_item_parameters_move_into_each_operation_once():
    spec = {"components": {"parameters": {"B": {"name": "Bucket", "in": "path"}}}}
    item = {"parameters": [{"$ref": "#/components/parameters/B"}, {"name": "x", "in": "query"}],
            "get": {"parameters": [{"name": "x", "in": "query", "schema": {"type": "integer"}}]},
            "put": {"operationId": "p"}}
    out = _own_parameters(spec, item)
    assert "parameters" not in out and item["parameters"]  # the input is left as it was
    assert out["get"]["parameters"] == [{"name": "x", "in": "query", "schema": {"type": "integer"}},
                                        {"$ref": "#/components/parameters/B"}]  # own one wins
    assert out["put"]["parameters"] == item["parameters"]


def test_ordered_spec_declares_every_parameter_where_the_source_did():
    source, ordered = load_spec(), ordered_spec()
    for key, item in ordered["paths"].items():
        assert "parameters" not in item
        shared = source["paths"][key].get("parameters") or []
        for method, op in item.items():
            own = source["paths"][key][method].get("parameters") or []
            assert all(p in op["parameters"] for p in own + shared), (key, method)


def started_app(**options) -> connexion.AsyncApp:
    """The gateway's connexion app and middleware stack, built from the spec as app.py builds
    them, started (starting builds the middleware stack)."""
    cx = connexion.AsyncApp(__name__, middlewares=tuning.middlewares(load_spec(), Dispatcher, DOCS_PATHS),
                            **options)
    tuning.install(cx)
    cx.add_api(ordered_spec(), resolver=Resolver(function_resolver=resolve_handler),
               validator_map=VALIDATORS, validate_responses=False, strict_validation=False,
               pythonic_params=True)
    with TestClient(cx):
        pass
    return cx


def test_connexion_validates_each_parameter_once():
    # connexion 3.3 appends a path item's parameters to its operations' own lists in place, once
    # per middleware reading the spec: ordered_spec() leaves it none to append.
    cx = started_app()
    [validation] = [m for m in cx.middleware.middleware_stack
                    if isinstance(m, tuning.CachedRequestValidationMiddleware)]
    ops = [op for apis in validation.apis.values() for api in apis for op in api.operations.values()]
    assert len(ops) == sum(len(item) for item in ordered_spec()["paths"].values())
    for op in ops:
        counts = Counter((p["in"], p["name"]) for p in op._operation.parameters)
        assert all(n == 1 for n in counts.values()), (op._operation.path, counts)


@pytest.mark.parametrize("schema", [{"type": "string"}, {"type": "string", "format": "path"}])
@pytest.mark.parametrize("value", ["", "a b/c%2F", 7, None, ["x"], {"k": 1}])
def test_string_schemas_pass_and_fail_as_jsonschema_says(schema, value):
    param = {"name": "p", "in": "query", "schema": schema}
    fast = tuning._validator_for(param)
    assert isinstance(fast, tuning._StringSchema)
    full = Draft4Validator(schema, format_checker=draft4_format_checker)
    try:
        full.validate(value)
        expected = None
    except ValidationError as e:
        expected = str(e)
    try:
        fast.validate(value)
        got = None
    except ValidationError as e:
        got = str(e)
    assert got == expected


@pytest.mark.parametrize("schema", [{"type": "string", "enum": ["a"]}, {"type": "integer"},
                                    {"type": "string", "format": "email"},
                                    {"type": "string", "pattern": "^a"}])
def test_other_schemas_keep_jsonschema(schema):
    assert not isinstance(tuning._validator_for({"name": "p", "schema": schema}), tuning._StringSchema)


def test_security_middleware_only_when_the_spec_declares_security():
    assert SecurityMiddleware not in tuning.middlewares(load_spec(), Dispatcher, ("/~/docs",))
    secured = {"paths": {"/": {"get": {"security": [{"k": []}]}}}}
    assert SecurityMiddleware in tuning.middlewares(secured, Dispatcher, ("/~/docs",))
    assert SecurityMiddleware in tuning.middlewares({"security": [{"k": []}]}, Dispatcher, ())


class _Boom(Exception):
    pass


class _Unhandled(Exception):
    pass


def _exception_app(raise_after_start: bool, exc: Exception):
    async def app(scope, receive, send):
        if raise_after_start:
            await send({"type": "http.response.start", "status": 200, "headers": []})
        raise exc
    return app


async def _handled(request, exc):
    from connexion.lifecycle import ConnexionResponse

    return ConnexionResponse(status_code=418, body=f"{type(exc).__name__} at {request.url.path}".encode(),
                             mimetype="text/plain")


@pytest.mark.parametrize("after_start", [False, True])
@pytest.mark.parametrize("exc", [_Boom(), _Unhandled(), __import__("starlette").exceptions.HTTPException(405)])
def test_lazy_exception_middleware_answers_as_connexions(after_start, exc):
    """Same response, or same exception, as connexion's ExceptionMiddleware for a handled, an
    unhandled and an HTTP exception, before and after the response started."""
    import asyncio

    from connexion.middleware.exceptions import ExceptionMiddleware

    def run(cls):
        middleware = cls(_exception_app(after_start, exc))
        middleware.add_exception_handler(_Boom, _handled)
        sent = []

        async def send(message):
            sent.append(message)

        async def receive():
            return {"type": "http.request", "body": b""}

        scope = {"type": "http", "method": "GET", "path": "/b/k", "raw_path": b"/b/k",
                 "query_string": b"", "headers": [], "server": ("h", 80), "scheme": "http",
                 "root_path": ""}
        try:
            asyncio.run(middleware(scope, receive, send))
        except Exception as e:  # noqa: BLE001 - compared below
            return sent, (type(e), str(e))
        return sent, None

    ours = run(tuning.LazyExceptionMiddleware)
    assert ours == run(ExceptionMiddleware)
    if isinstance(exc, _Boom) and not after_start:
        assert ours[0][0]["status"] == 418 and ours[0][1]["body"] == b"_Boom at /b/k"
