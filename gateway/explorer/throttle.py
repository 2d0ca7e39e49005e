"""Login throttling: failed explorer logins slow down guessing, per client address and per
access key, with exponential back-off.

The first :data:`FREE` failures of a client address or of an access key cost nothing (typos);
each further one closes that address or key for ``BASE * 2**n`` seconds (capped at
:data:`LONGEST`), during which a login answers 429 with ``Retry-After`` before any secret is
compared. A successful login clears its address and key. Both counts matter: per address
stops one client trying many keys, per key stops many addresses trying one key.

The state is this process's memory, by design: it is only a brake (losing it on a restart
costs an attacker a few seconds' head start), it must not cost a PFS write per attempt, and
each gateway copy brakes on its own. Access keys are held as hashes (against pachd with auth
the access key is a Pachyderm token).
"""

from __future__ import annotations

import hashlib
import math
import time

FREE = 5  # failures before the brake
BASE = 1.0  # seconds of the first closure
LONGEST = 300.0  # seconds: the longest closure
MAX_ENTRIES = 50_000


class Throttle:
    def __init__(self) -> None:
        self._failures: dict[str, tuple[int, float]] = {}  # key -> (failures, closed until)

    @staticmethod
    def keys(client: str, access_key: str) -> tuple[str, str]:
        return "ip:" + client, "key:" + hashlib.sha256(access_key.encode()).hexdigest()[:32]

    def retry_after(self, keys: tuple[str, ...], now: float | None = None) -> int:
        """Whole seconds until a login from these may be tried (0: now)."""
        now = time.monotonic() if now is None else now
        wait = max((self._failures.get(k, (0, 0.0))[1] - now for k in keys), default=0.0)
        return math.ceil(wait) if wait > 0 else 0

    def failed(self, keys: tuple[str, ...], now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        if len(self._failures) >= MAX_ENTRIES:
            self._prune(now)
        for k in keys:
            count = self._failures.get(k, (0, 0.0))[0] + 1
            until = now + min(BASE * 2 ** (count - FREE - 1), LONGEST) if count > FREE else 0.0
            self._failures[k] = (count, until)

    def succeeded(self, keys: tuple[str, ...]) -> None:
        for k in keys:
            self._failures.pop(k, None)

    def _prune(self, now: float) -> None:
        """Forget open entries first; if all are closed, the oldest half."""
        open_ = [k for k, (_, until) in self._failures.items() if until <= now]
        for k in open_ or list(self._failures)[: MAX_ENTRIES // 2]:
            del self._failures[k]
