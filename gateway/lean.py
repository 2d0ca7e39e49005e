"""A serving gateway's memory: libraries it imports but never calls, malloc arenas, startup.

Used first thing by ``python -m gateway`` (it acts on import only when the gateway is the
running program, so tests and tools that import it get every library as usual).

connexion imports at import time Starlette's ``TestClient`` (and through it httpx, rich and
pygments: for ``App.test_client()``), Flask (for its WSGI flavour), requests (to fetch specs and
``$ref``\\ s by URL) and httpx again (OAuth token introspection). The gateway runs connexion's
ASGI app over a local spec that declares no security scheme, so a server calls none of them:
together they were about 11 MB of its RSS (measured). :func:`install` puts stand-ins in
their place before connexion is imported: Flask is reported not installed (connexion then
leaves its Flask parts out, as without its ``flask`` extra); the others are imported the
first time something uses them, as :func:`deferred` modules are.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import importlib
import importlib.util
import os
import sys
import types

DEFERRED = ("httpx", "requests")
ABSENT = ("flask",)  # connexion treats Flask as its optional extra: not installed
_M_ARENA_MAX = -8  # glibc's mallopt parameter


class _Deferred(types.ModuleType):
    """A module that is imported when one of its attributes is first read."""

    def __getattr__(self, attr: str):
        real = self.__dict__.get("_real")
        if real is None:
            if sys.modules.get(self.__name__) is self:
                del sys.modules[self.__name__]
            real = self.__dict__["_real"] = importlib.import_module(self.__name__)
        return getattr(real, attr)


def deferred(name: str) -> types.ModuleType | None:
    """Module ``name``, imported when first used; None when its package is not installed
    (looked up without importing it: a dotted name's parents would be imported)."""
    return _Deferred(name) if importlib.util.find_spec(name.partition(".")[0]) else None


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


def cap_malloc_arenas(arenas: int = 2) -> None:
    """At most ``arenas`` glibc malloc arenas (unless ``MALLOC_ARENA_MAX`` says otherwise).

    glibc gives threads arenas of their own (up to 8 per core); gRPC's threads filled theirs
    with message buffers during a big transfer and each kept megabytes of it: measured, a
    256 MiB GET peaked ~4 MB lower with two. Call it before threads start.
    """
    if "MALLOC_ARENA_MAX" in os.environ:
        return
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c")).mallopt
    except (OSError, AttributeError, TypeError):  # not glibc
        return
    mallopt(_M_ARENA_MAX, arenas)


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
    cap_malloc_arenas()
