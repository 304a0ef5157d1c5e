"""What the flows remember between runs, in Redis: claims and "already done" marks.

kintone and GMO Sign are the systems of record; the ledger only remembers what we said or
sent so a re-run (duplicate webhook, retry, replay, reconcile sweep) does not do it again.
"""

from __future__ import annotations

import redis


class Ledger:
    def __init__(self, client: redis.Redis, prefix: str = "kgbridge:ledger") -> None:
        self.redis = client
        self.prefix = prefix

    def _key(self, key: str) -> str:
        return f"{self.prefix}:{key}"

    def claim(self, key: str, ttl_seconds: int, value: str = "1") -> bool:
        """Take ``key`` if nobody has; True when this caller now holds it."""
        return bool(self.redis.set(self._key(key), value, nx=True, ex=ttl_seconds))

    def release(self, key: str) -> None:
        self.redis.delete(self._key(key))

    def done(self, key: str) -> bool:
        return bool(self.redis.exists(self._key(key)))

    def mark(self, key: str, ttl_seconds: int, value: str = "1") -> None:
        self.redis.set(self._key(key), value, ex=ttl_seconds)

    def get(self, key: str) -> str | None:
        value = self.redis.get(self._key(key))
        return value.decode() if isinstance(value, bytes) else value

    def lock(self, key: str, ttl_seconds: int):
        """A Redis lock (token-checked on release) that expires after ``ttl_seconds``.

        Use ``acquire(blocking=False)``: a job that finds the lock taken leaves the work to its holder.
        """
        return self.redis.lock(self._key(key), timeout=ttl_seconds, blocking=False)

    def release_if(self, key: str, value: str) -> bool:
        """Delete ``key`` only while it still holds ``value`` (a lock we took, not a successor's)."""
        return bool(self.redis.eval(_DELETE_IF_EQUAL, 1, self._key(key), value))


_DELETE_IF_EQUAL = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
