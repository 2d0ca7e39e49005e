"""Per-request work connexion 3.3 repeats on every call, done once instead.

Measured on this stack (2 cores, loopback), connexion per request: built a jsonschema
validator (after a deepcopy of the parameter's spec) for every parameter, a URI parser and a
parameter validator for the operation, re-decorated the handler (``inspect.signature``
included) and ran its parameter names through inflection's regexes; and it passed every
request through middleware that cannot apply to ours (security with no security scheme in the
spec, response validation turned off, Swagger UI's router for paths that are not docs).
The behaviour is unchanged: the same schemas validate the same values, the same decorators
wrap the same handler, and the same middleware routes and validates every S3 request.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from connexion.apps.asynchronous import AsyncApi, AsyncOperation
from connexion.context import operation, receive, scope
from connexion.decorators import StarletteDecorator
from connexion.decorators.parameter import AsyncParameterDecorator, pythonic, sanitized
from connexion.json_schema import Draft4Validator
from connexion.lifecycle import ConnexionRequest
from connexion.middleware.abstract import ROUTING_CONTEXT
from connexion.middleware.context import ContextMiddleware
from connexion.middleware.exceptions import ExceptionMiddleware
from connexion.middleware.lifespan import LifespanMiddleware
from connexion.middleware.request_validation import (
    RequestValidationAPI,
    RequestValidationMiddleware,
    RequestValidationOperation,
)
from connexion.middleware.routing import RoutingMiddleware
from connexion.middleware.security import SecurityMiddleware
from connexion.middleware.swagger_ui import SwaggerUIMiddleware
from connexion.uri_parsing import OpenAPIURIParser
from connexion.utils import is_null, is_nullable
from connexion.validators import ParameterValidator
from connexion.validators.parameter import draft4_format_checker
from jsonschema import ValidationError
from starlette._exception_handler import _lookup_exception_handler, wrap_app_handling_exceptions
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.routing import Match, Mount, Route
from starlette.types import Message, Receive, Scope, Send

from gateway.server.dispatch import OPERATION_ID
from gateway.server.plans import PlannedOperations

_validators: dict[int, tuple[dict, Draft4Validator | _StringSchema]] = {}


class _StringSchema:
    """A schema that only says ``type: string`` (most S3 parameters): a string passes without
    a trip through jsonschema; anything else gets jsonschema's own verdict and message."""

    def __init__(self, validator: Draft4Validator) -> None:
        self.validator = validator

    def validate(self, value) -> None:
        if not isinstance(value, str):
            self.validator.validate(value)


def _only_type_string(schema: dict) -> bool:
    extra = schema.keys() - {"type", "description", "example"}
    if schema.get("type") != "string" or not extra <= {"format"}:
        return False
    return "format" not in schema or schema["format"] not in draft4_format_checker.checkers


def _validator_for(param: dict) -> Draft4Validator | _StringSchema:
    cached = _validators.get(id(param))
    if cached is None or cached[0] is not param:  # keep param alive so its id stays unique
        schema = param.get("schema", param)
        validator = Draft4Validator(schema, format_checker=draft4_format_checker)
        cached = (param, _StringSchema(validator) if _only_type_string(schema) else validator)
        _validators[id(param)] = cached
    return cached[1]


class CachedParameterValidator(ParameterValidator):
    """connexion's ParameterValidator with each parameter's schema compiled once, and the
    request's headers read into a dict once: connexion found each declared header by a scan
    of all of them (Starlette's ``Headers.get``), and PutObject declares 20."""

    def validate(self, scope) -> None:
        request = ConnexionRequest(scope, uri_parser=self.uri_parser)
        headers = {}
        for name, value in reversed(scope["headers"]):  # the first of repeated ones wins, as in Starlette
            headers[name] = value
        request.s3_header_values = headers
        self.validate_request(request)

    def validate_header_parameter(self, param, request):
        headers = vars(request).get("s3_header_values")
        if headers is None:  # a request not built by validate() above
            return super().validate_header_parameter(param, request)
        value = headers.get(param["name"].lower().encode("latin-1"))
        return self.validate_parameter(
            "header", None if value is None else value.decode("latin-1"), param)

    @staticmethod
    def validate_parameter(parameter_type, value, param, param_name=None):
        if is_nullable(param) and is_null(value):
            return None
        if value is not None:
            try:
                _validator_for(param).validate(value)
            except ValidationError as exception:
                return str(exception)
            return None
        if param.get("required"):
            return f"Missing {parameter_type} parameter '{param['name']}'"
        return None


class S3URIParser(OpenAPIURIParser):
    """connexion's OpenAPI URI parser (given to the app as its documented ``uri_parser_class``)
    with what it re-derived on every call derived once: it rebuilt its name -> schema table
    on each look-up and ran every value through ``coerce_type`` (which, for a ``type: string``
    parameter, returns the value as it came, after raising and catching a TypeError). Bucket
    and Key were resolved twice per request (validation, then the handler's arguments):
    ~8% of a GET's profiled CPU in the gateway process."""

    @functools.cached_property
    def param_schemas(self) -> dict:  # type: ignore[override]
        return {k: v.get("schema", {}) for k, v in self.param_defns.items()}

    @functools.cached_property
    def _as_is(self) -> frozenset[str]:
        """Parameters whose values coerce_type returns unchanged: strings, not nullable."""
        return frozenset(k for k, schema in self.param_schemas.items()
                         if schema.get("type") == "string" and not is_nullable(schema))

    def resolve_params(self, params, _in):
        if not params.keys() <= self._as_is:
            return super().resolve_params(params, _in)
        if _in == "path":  # one value each
            return dict(params)
        return {k: values[-1] for k, values in params.items()}


class CachedRequestValidationOperation(RequestValidationOperation):
    """Validates parameters with one validator (and URI parser) per operation, not per call."""

    @functools.cached_property
    def _parameters(self) -> ParameterValidator:
        op = self._operation
        return self._validator_map["parameter"](
            op.parameters, uri_parser=op._uri_parser_class(op.parameters, op.body_definition()),
            strict_validation=self.strict_validation,
            security_query_params=self.security_query_params)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._validator_map["body"]:  # some body would be validated: connexion's own way
            await super().__call__(scope, receive, send)
            return
        self._parameters.validate(scope)
        mime_type, _ = self.extract_content_type(scope["headers"])
        self.validate_mime_type(mime_type)
        await self.next_app(scope, receive, send)


class _CachedRequestValidationAPI(RequestValidationAPI):
    def make_operation(self, operation):
        return CachedRequestValidationOperation(
            self.next_app, operation=operation, strict_validation=self.strict_validation,
            validator_map=self.validator_map)


class CachedRequestValidationMiddleware(RequestValidationMiddleware):
    api_cls = _CachedRequestValidationAPI


# Parameter names are the spec's, plus whatever query keys clients send: bounded.
_pythonic = functools.lru_cache(maxsize=1024)(pythonic)
_sanitized = functools.lru_cache(maxsize=1024)(sanitized)


class _CachedNamesParameterDecorator(AsyncParameterDecorator):
    """connexion's parameter decorator, each parameter name made Pythonic once."""

    def __init__(self, *, framework, pythonic_params: bool = False) -> None:
        super().__init__(framework=framework, pythonic_params=pythonic_params)
        self.sanitize_fn = _pythonic if pythonic_params else _sanitized


class DecorateOnce(StarletteDecorator):
    """connexion's StarletteDecorator, which decorated the handler (signature inspection and
    all) and built a URI parser on every call: both are built once here."""

    @property
    def _parameter_decorator_cls(self):
        return _CachedNamesParameterDecorator

    def __call__(self, function: Callable) -> Callable:
        decorated = self.decorate(function)
        parser: list = [None, None]  # (operation, its URI parser)

        @functools.wraps(function)
        async def wrapper(*args, **kwargs):
            op = operation._get_current_object()
            if parser[0] is not op:
                parser[:] = [op, self.uri_parser]
            # the context's own objects, not its proxies (each use of one was a lookup)
            request = self.framework.get_request(uri_parser=parser[1],
                                                 scope=scope._get_current_object(),
                                                 receive=receive._get_current_object())
            return await decorated(request)

        return wrapper


class DecoratedOnceOperation(AsyncOperation):
    """An AsyncOperation whose decorated handler is built once, not on every call."""

    @functools.cached_property
    def fn(self):  # type: ignore[override]
        return DecorateOnce(pythonic_params=self.pythonic_params, jsonifier=self.jsonifier)(self._fn)


class DecoratedOnceApi(AsyncApi):
    def make_operation(self, operation):
        return DecoratedOnceOperation.from_operation(
            operation, pythonic_params=self.pythonic_params, jsonifier=self.jsonifier)


class RouteByOperation(RoutingMiddleware):
    """connexion's routing middleware, handed the operation the dispatcher already chose.

    connexion's router (a Starlette ``Router`` under a ``Mount``) tried the spec's routes in
    order on every request, ~33 regex matches before an object's own route; the dispatcher
    has picked the operation from the spec's table by then (``scope["state"][OPERATION_ID]``),
    so this matches that one route, built by connexion from the spec at start-up, and attaches
    the routing context connexion's ``RoutingOperation`` would. Requests without one (docs),
    or whose route does not match, go through connexion's router as before.
    """

    def __init__(self, app) -> None:
        super().__init__(app)
        self.routes: dict[str, tuple[Route, str]] = {}  # operationId -> (its route, base path)

    def add_api(self, specification, base_path=None, arguments=None, **kwargs) -> None:
        super().add_api(specification, base_path=base_path, arguments=arguments, **kwargs)
        for mount in self.router.routes:
            if isinstance(mount, Mount):
                for route in mount.routes:
                    op_id = getattr(getattr(route, "endpoint", None), "operation_id", None)
                    if isinstance(route, Route) and op_id is not None:
                        self.routes.setdefault(op_id, (route, mount.path))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        chosen = self.routes.get(scope.get("state", {}).get(OPERATION_ID)) \
            if scope["type"] == "http" else None
        if chosen is not None and not scope.get("root_path"):
            route, base_path = chosen
            match, child = route.matches(scope)
            if match is Match.FULL:
                scope = dict(scope, path_params={**scope.get("path_params", {}),
                                                 **child["path_params"]})
                extensions = scope["extensions"] = dict(scope.get("extensions") or {})
                extensions[ROUTING_CONTEXT] = {"api_base_path": base_path,
                                               "operation_id": route.endpoint.operation_id}
                await self.app(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


class LazyExceptionMiddleware(ExceptionMiddleware):
    """connexion's exception middleware (the S3 error handlers), whose handling -- starlette's
    ``wrap_app_handling_exceptions``, with a request object for the handler -- is set up when an
    exception reaches it: starlette built both, and two closures, for every request."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        started = False

        async def sender(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        scope["starlette.exception_handlers"] = (self._exception_handlers, self._status_handlers)
        try:
            await self.app(scope, receive, sender)
        except Exception as exc:
            if started:  # starlette's answer when the response is already out
                handler = self._status_handlers.get(exc.status_code) \
                    if isinstance(exc, HTTPException) else None
                if handler is None and _lookup_exception_handler(self._exception_handlers, exc) is None:
                    raise
                raise RuntimeError("Caught handled exception, but response already started.") from exc

            error = exc  # (the name "exc" ends with this block)

            async def failed(_scope: Scope, _receive: Receive, _send: Send) -> None:
                raise error

            await wrap_app_handling_exceptions(failed, Request(scope, receive, send))(scope, receive, send)


class DocsOnlySwaggerUI(SwaggerUIMiddleware):
    """Swagger UI for its own paths; every other request goes straight on, not through its
    router (which tried the docs routes on each S3 request to fall through to the same place)."""

    prefixes: tuple[str, ...] = ()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope["path"].startswith(self.prefixes):
            await self.app(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def middlewares(spec: dict, dispatcher: type, docs_prefixes: tuple[str, ...]) -> list:
    """connexion's default middleware stack for ``spec``, with ``dispatcher`` before Swagger UI,
    less what never applies: security when the spec declares none, response validation (off),
    and the server-error layer: the exception middleware's handler for ``Exception`` (the S3
    error document) answers everything it would have, and what escapes both (an exception once
    the answer has started, or in that handler) reaches the gateway's request context, which
    logs it and answers S3's 500 ``InternalError`` where it still can (connexion's layer sent a
    JSON problem there)."""
    docs = type("DocsOnly", (DocsOnlySwaggerUI,), {"prefixes": docs_prefixes})
    stack = [LazyExceptionMiddleware, dispatcher, docs, RouteByOperation]
    if _declares_security(spec):
        stack.append(SecurityMiddleware)
    return [*stack, PlannedOperations, CachedRequestValidationMiddleware, LifespanMiddleware,
            ContextMiddleware]


def _declares_security(spec: dict) -> bool:
    if spec.get("security") or spec.get("components", {}).get("securitySchemes"):
        return True
    return any(isinstance(op, dict) and op.get("security")
               for item in spec.get("paths", {}).values() for op in item.values())


def install(app) -> None:
    """Make a connexion ``AsyncApp`` build its operations the cached way (before ``add_api``)."""
    app._middleware_app.api_cls = DecoratedOnceApi
