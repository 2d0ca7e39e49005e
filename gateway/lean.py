"""Keep what a serving gateway imports but never calls out of its memory.

Imported first by ``python -m gateway`` (and only there: it acts only when the gateway is the
running program, so tests and tools that import it get every library as usual).

connexion imports at import time Starlette's ``TestClient`` (and through it httpx, rich and
pygments: for ``App.test_client()``), Flask (for its WSGI flavour), requests (to fetch specs and
``$ref``\\ s by URL) and httpx again (OAuth token introspection). The gateway runs connexion's
ASGI app over a local spec that declares no security scheme, so a server calls none of them:
together they were about 11 MB of its RSS (measured). :func:`install` puts stand-ins in
their place before connexion is imported: Flask is reported not installed (connexion then
leaves its Flask parts out, as without its ``flask`` extra); the others are imported the
first time something uses them.
"""

from __future__ import annotations

import gc
import importlib
import sys
import types

DEFERRED = ("httpx", "requests")
ABSENT = ("flask",)  # connexion treats Flask as its optional extra: not installed


class _Deferred(types.ModuleType):
    """A module that is imported when one of its attributes is first read."""

    def __getattr__(self, attr: str):
        real = self.__dict__.get("_real")
        if real is None:
            if sys.modules.get(self.__name__) is self:
                del sys.modules[self.__name__]
            real = self.__dict__["_real"] = importlib.import_module(self.__name__)
        return getattr(real, attr)


def _real_test_client(*args, **kwargs):
    """Starlette's TestClient, imported when one is made (never, in a server)."""
    if isinstance(sys.modules.get("starlette.testclient"), _TestClientModule):
        del sys.modules["starlette.testclient"]
    from starlette.testclient import TestClient

    return TestClient(*args, **kwargs)


class _TestClientModule(types.ModuleType):
    TestClient = staticmethod(_real_test_client)


def install() -> None:
    """Put the stand-ins in place (a no-op for modules already imported)."""
    if "connexion" in sys.modules:
        return  # too late to matter, and the real modules are in use
    for name in DEFERRED:
        sys.modules.setdefault(name, _Deferred(name))
    for name in ABSENT:
        sys.modules.setdefault(name, None)  # type: ignore[arg-type]
    sys.modules.setdefault("starlette.testclient", _TestClientModule("starlette.testclient"))


def settle() -> None:
    """Once serving: collect startup's garbage and freeze what is left (modules, the spec,
    connexion's operations: some 60,000 objects) so that no later full collection walks it again."""
    gc.collect()
    gc.freeze()


def _serving() -> bool:
    main = sys.modules.get("__main__")
    return getattr(getattr(main, "__spec__", None), "name", None) == "gateway.__main__"


if _serving():
    install()
