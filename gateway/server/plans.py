"""One middleware layer that validates a request and calls its handler, from a plan per operation.

After routing, connexion passes a request through four more layers, each looking its
operation up again by operationId (request validation, lifespan, context, the app), then
builds the request object a second time for the handler's arguments (validation built one),
reads every declared parameter again, inspects the handler's body and form arguments and
turns the return value into a response: ~15-20% of a 4 KiB GET's profiled CPU. Everything
those steps decide from the spec alone is decided here once per operation at start-up (the
operation's parameters, their compiled schemas, the handler's argument names and the
Pythonic spelling of each, the query defaults, whether any body or form reaches the handler),
and each request then gets one pass: the same validator (connexion's ``ParameterValidator``
with this gateway's :class:`~gateway.server.tuning.CachedParameterValidator`, so the same
S3 errors for the same bad input), the same argument conversion (connexion's own
``_get_val_from_param``), the same context variables and response decorator.

Operations whose handler connexion would hand a body or form, or its ``context_``, or that
are not coroutines, keep connexion's layers (none of the S3 operations today: their XML
bodies are read by the handlers).
"""

from __future__ import annotations

import asyncio
import copy
from urllib.parse import parse_qsl

from connexion.context import _context, _operation, _receive, _scope
from connexion.decorators.parameter import (
    CONTEXT_NAME,
    _get_query_defaults,
    _get_val_from_param,
    pythonic,
    sanitized,
    unwrap_decorators,
)
from connexion.decorators.response import AsyncResponseDecorator
from connexion.exceptions import BadRequestProblem
from connexion.frameworks.starlette import Starlette as StarletteFramework
from connexion.lifecycle import ConnexionResponse
from connexion.middleware.abstract import ROUTING_CONTEXT, RoutedAPI, RoutedMiddleware
from connexion.middleware.request_validation import RequestValidationOperation
from connexion.operations import AbstractOperation
from connexion.utils import deep_merge, inspect_function_arguments
from connexion.validators import ParameterValidator
from starlette.responses import Response as StarletteResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.server.dispatch import HIDDEN_CONTENT_TYPE, QUERY

OCTET_STREAM = "application/octet-stream"  # the Content-Type connexion sees (see the dispatcher)


class PlannedRequest:
    """What validation and argument building read of a request, each part worked out once."""

    def __init__(self, query_params: dict, path_params: dict, headers: dict) -> None:
        self.query_params = query_params
        self.path_params = path_params
        self.s3_header_values = headers

    @property
    def cookies(self) -> dict:  # (the spec declares no cookie parameter)
        return {}


class OperationPlan:
    """One operation's validation and handler call, built from the spec at start-up."""

    def __init__(self, next_app: ASGIApp, operation: AbstractOperation, validator_map: dict,
                 strict_validation: bool, pythonic_params: bool) -> None:
        self.next_app = next_app  # (lifespan and other non-request events)
        self.operation = operation
        # connexion's validation operation for this operation: its parameter validator, its
        # content-type check, the same objects CachedRequestValidationOperation uses
        self.checks = RequestValidationOperation(next_app, operation=operation,
                                                 strict_validation=strict_validation,
                                                 validator_map=validator_map)
        validator_cls = self.checks._validator_map["parameter"]
        self.uri_parser = operation._uri_parser_class(operation.parameters, operation.body_definition())
        self.validator = validator_cls(operation.parameters, uri_parser=self.uri_parser,
                                       strict_validation=strict_validation,
                                       security_query_params=self.checks.security_query_params)
        self.checklist = self._checklist(strict_validation)
        try:  # the dispatcher shows connexion every request as OCTET_STREAM: decided once
            self.checks.validate_mime_type(OCTET_STREAM)
            self.octet_stream_ok = True
        except Exception:
            self.octet_stream_ok = False
        fn = operation.function
        self.arguments, self.has_kwargs = inspect_function_arguments(unwrap_decorators(fn))
        sanitize = pythonic if pythonic_params else sanitized
        self.path_defs = {p["name"]: p for p in operation.parameters if p["in"] == "path"}
        self.query_defs = {p["name"]: p for p in operation.parameters if p["in"] == "query"}
        self.query_defaults = _get_query_defaults(self.query_defs)
        # connexion sanitizes each name twice (once per argument kind, once over all)
        self.sanitize = lambda name: sanitize(sanitize(name))
        self.names = {n: self.sanitize(n) for n in (*self.path_defs, *self.query_defs)}
        self.query_args = {n: self.names[n] for n in self.query_defs
                           if self.has_kwargs or sanitize(n) in self.arguments}
        body_name = sanitize(operation.body_name("application/octet-stream"))
        self.plannable = (asyncio.iscoroutinefunction(unwrap_decorators(fn))
                          and CONTEXT_NAME not in self.arguments
                          and not (operation.is_request_body_defined
                                   and (body_name in self.arguments or self.has_kwargs)))
        self.handler = fn
        # (a handler's Starlette response goes out as it is; anything else is converted as
        # connexion's response decorator converts it)
        self.responses = AsyncResponseDecorator(framework=StarletteFramework, jsonifier=None)

    def _checklist(self, strict_validation: bool):
        """The parameters in the order connexion validates them (query, path, header), and
        which of them to check for a given request: the required ones and those it sends.
        connexion checks every declared one, but one that is absent and optional always
        passes (GetObject declares 16, a request sends one or two). None: connexion's way."""
        params = self.validator.parameters
        if strict_validation or params.get("cookie") or not isinstance(self.validator, ParameterValidator):
            return None
        ordered = []  # (kind, the parameter, the name its value is found under)
        for kind in ("query", "path", "header"):
            for p in params.get(kind, ()):
                name = p["name"]
                ordered.append((kind, p, name.replace("-", "_") if kind == "path" else
                                name.lower().encode("latin-1") if kind == "header" else name))
        always = [i for i, (kind, p, _) in enumerate(ordered) if kind == "path" or p.get("required")]
        query = {key: i for i, (kind, _, key) in enumerate(ordered) if kind == "query"}
        headers = {key: i for i, (kind, _, key) in enumerate(ordered) if kind == "header"}
        return ordered, always, query, headers

    def validate(self, request: PlannedRequest) -> None:
        """connexion's parameter validation (its first failure, with its message)."""
        if self.checklist is None:
            self.validator.validate_request(request)
            return
        ordered, always, by_query, by_header = self.checklist
        todo = set(always)
        for name in request.query_params:
            i = by_query.get(name)
            if i is not None:
                todo.add(i)
        for name in request.s3_header_values:
            i = by_header.get(name)
            if i is not None:
                todo.add(i)
        check = self.validator.validate_parameter
        for i in sorted(todo):
            kind, param, key = ordered[i]
            if kind == "query":
                value = request.query_params.get(key)
            elif kind == "path":
                value = request.path_params.get(key)
            else:
                raw = request.s3_header_values.get(key)
                value = None if raw is None else raw.decode("latin-1")
            error = check(kind, value, param)
            if error:
                raise BadRequestProblem(detail=error)

    def request(self, scope: Scope) -> PlannedRequest:
        state = scope.get("state", {})
        pairs = state.get(QUERY)
        if pairs is None:  # (as Starlette parses it for connexion)
            pairs = parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True)
        if pairs:
            lists: dict[str, list[str]] = {}
            for k, v in pairs:
                lists.setdefault(k, []).append(v)
            query = self.uri_parser.resolve_query(lists)
        else:
            query = {}  # (what resolve_query makes of no parameters)
        headers = dict(reversed(scope["headers"]))  # the first of repeated ones wins
        return PlannedRequest(query, self.uri_parser.resolve_path(scope.get("path_params", {})),
                              headers)

    def arguments_of(self, request: PlannedRequest, context: dict | None = None) -> dict:
        """The handler's keyword arguments, as connexion's parameter decorator builds them
        (``context``: connexion's request context, which a security handler would fill)."""
        kwargs = {}
        for name, value in request.path_params.items():
            defn = self.path_defs.get(name)
            if defn is None:  # connexion passes path values it has no definition for as they are
                kwargs[self.sanitize(name)] = value
            else:
                kwargs[self.names[name]] = _get_val_from_param(value, defn)
        if self.query_args:
            # (no S3 parameter has a default: then the merge is the query itself)
            query = deep_merge(copy.deepcopy(self.query_defaults), request.query_params) \
                if self.query_defaults else request.query_params
            for name, value in query.items():
                key = self.query_args.get(name)
                if key is not None:
                    kwargs[key] = _get_val_from_param(value, self.query_defs[name])
        for key, value in (context or {}).items():
            if self.has_kwargs or key in self.arguments:
                kwargs[key] = value
        return kwargs

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = self.request(scope)
        self.validate(request)
        if HIDDEN_CONTENT_TYPE not in scope.get("state", {}):
            mime_type, _ = self.checks.extract_content_type(scope["headers"])
            self.checks.validate_mime_type(mime_type)
        elif not self.octet_stream_ok:
            self.checks.validate_mime_type(OCTET_STREAM)
        context = scope.get("extensions", {}).get("connexion_context", {})
        _context.set(context)
        _operation.set(self.operation)
        _receive.set(receive)
        _scope.set(scope)
        response = await self.handler(**self.arguments_of(request, context))
        if not isinstance(response, StarletteResponse):
            response = StarletteFramework.connexion_to_framework_response(response) \
                if isinstance(response, ConnexionResponse) else \
                self.responses.build_framework_response(response)
        await response(scope, receive, send)


class _PlannedAPI(RoutedAPI[OperationPlan]):
    def __init__(self, *args, validator_map: dict | None = None, strict_validation: bool = False,
                 pythonic_params: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.validator_map = validator_map or {}
        self.strict_validation = strict_validation
        self.pythonic_params = pythonic_params
        self.add_paths()

    def make_operation(self, operation: AbstractOperation) -> OperationPlan:
        return OperationPlan(self.next_app, operation, self.validator_map,
                             self.strict_validation, self.pythonic_params)


class PlannedOperations(RoutedMiddleware[_PlannedAPI]):
    """Runs the plan of the routed operation; what has none goes through connexion's layers."""

    api_cls = _PlannedAPI

    def __init__(self, app: ASGIApp) -> None:
        super().__init__(app)
        self.plans: dict[str, OperationPlan] = {}

    def add_api(self, specification, **kwargs) -> _PlannedAPI:
        api = super().add_api(specification, **kwargs)
        if len(self.apis) == 1 and len(self.apis[api.base_path]) == 1:  # one API: plans by id
            self.plans = {op_id: plan for op_id, plan in api.operations.items() if plan.plannable}
        else:
            self.plans = {}
        return api

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            routed = scope.get("extensions", {}).get(ROUTING_CONTEXT)
            plan = self.plans.get(routed.get("operation_id")) if routed else None
            if plan is not None:
                await plan(scope, receive, send)
                return
        await self.app(scope, receive, send)
