"""Per-request work connexion 3.3 repeats on every call, done once instead.

Measured on this stack (2 cores, loopback): connexion built a jsonschema validator (after a
deepcopy of the parameter's spec) for every parameter of every request, and re-decorated the
handler (signature inspection included) on every call; together about 0.5 ms of CPU per
request, more than the rest of the HTTP layer. The behaviour is unchanged: the same schemas
validate the same values, the same decorator wraps the same handler.
"""

from __future__ import annotations

import functools

from connexion.apps.asynchronous import AsyncApi, AsyncOperation
from connexion.json_schema import Draft4Validator
from connexion.utils import is_null, is_nullable
from connexion.validators import ParameterValidator
from connexion.validators.parameter import draft4_format_checker
from jsonschema import ValidationError

_validators: dict[int, tuple[dict, Draft4Validator]] = {}


def _validator_for(param: dict) -> Draft4Validator:
    cached = _validators.get(id(param))
    if cached is None or cached[0] is not param:  # keep param alive so its id stays unique
        schema = param.get("schema", param)
        cached = (param, Draft4Validator(schema, format_checker=draft4_format_checker))
        _validators[id(param)] = cached
    return cached[1]


class CachedParameterValidator(ParameterValidator):
    """connexion's ParameterValidator with each parameter's schema compiled once."""

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


class DecoratedOnceOperation(AsyncOperation):
    """An AsyncOperation whose decorated handler is built once, not on every call."""

    @functools.cached_property
    def fn(self):  # type: ignore[override]
        return super().fn


class DecoratedOnceApi(AsyncApi):
    def make_operation(self, operation):
        return DecoratedOnceOperation.from_operation(
            operation, pythonic_params=self.pythonic_params, jsonifier=self.jsonifier)


def install(app) -> None:
    """Make a connexion ``AsyncApp`` build its operations the cached way (before ``add_api``)."""
    app._middleware_app.api_cls = DecoratedOnceApi
