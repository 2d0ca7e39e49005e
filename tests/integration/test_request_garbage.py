"""A request leaves nothing of the gateway's for the cycle collector.

Each request's objects (its scope, request object, closures, state, uvicorn's cycle) are freed
by reference counting as soon as it is answered. A reference cycle among them (the request
object kept in the scope it holds) left every request to the cycle collector: ~20 objects a
request, ~5% of the gateway's CPU under load (docs/benchmarks.md). The app runs in process
here (httpx's ASGI transport, whose own objects do form cycles: they are not counted).
"""

from __future__ import annotations

import asyncio
import gc
from collections import Counter

from tests.integration.conftest import in_process_gateway

REQUESTS = 50
OURS = ("gateway", "handlers", "pfsd", "starlette", "connexion", "uvicorn")


def _ours(obj: object) -> str | None:
    """The module of ours (or of our web stack) that made `obj`, if one did."""
    module = getattr(type(obj), "__module__", "") or ""
    if type(obj).__name__ in ("function", "coroutine", "method"):
        module = getattr(obj, "__module__", None) or getattr(getattr(obj, "cr_frame", None), "f_globals", {}).get(
            "__name__", "") or ""
    return module if module.split(".")[0] in OURS else None


def test_put_and_get_leave_no_cyclic_garbage_of_ours(pfsd_address: str) -> None:
    async def main() -> Counter[str]:
        async with in_process_gateway(pfsd_address, True) as (http, _client):
            assert (await http.put("/master.garbage")).status_code == 200
            for i in range(3):  # first uses fill caches: not per request
                await http.put(f"/master.garbage/warm{i}", content=b"x")
                await http.get(f"/master.garbage/warm{i}")
            gc.collect()
            gc.disable()
            try:
                for i in range(REQUESTS):
                    r = await http.put(f"/master.garbage/k{i}", content=b"x" * 100)
                    assert r.status_code == 200, r.text
                    r = await http.get(f"/master.garbage/k{i}")
                    assert r.content == b"x" * 100
                gc.set_debug(gc.DEBUG_SAVEALL)
                gc.collect()
                found = Counter(f"{m}.{type(o).__name__}" for o in gc.garbage if (m := _ours(o)))
                return found
            finally:
                gc.set_debug(0)
                gc.garbage.clear()
                gc.enable()

    found = asyncio.run(main())
    assert not found, f"left to the cycle collector after {2 * REQUESTS} requests: {found.most_common(8)}"
