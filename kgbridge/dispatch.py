"""The dispatcher: turns the events the receiver recorded (``kgbridge.inbox``) into flow jobs.

Every ``python worker.py`` runs one on a thread (and the embedded mode runs one beside its worker).
It loses nothing, by the reliable-queue pattern:

1. ``BLMOVE`` the oldest inbox entry into this dispatcher's own processing list (atomic; blocking,
   so an event is dispatched the moment it is recorded);
2. route it with the worker's mappings and enqueue its flow jobs (``kgbridge.jobs.enqueue_flow``:
   deterministic job ids, ``unique=True``);
3. ``LREM`` it from the processing list, in the same pipeline as RQ's bookkeeping.

A dispatcher that dies between 1 and 3 leaves the entry in its processing list. Each dispatcher keeps
a heartbeat key alive (refreshed every ``KGBRIDGE_WORKER_HEARTBEAT_SECONDS``, expiring after
``KGBRIDGE_WORKER_DEAD_AFTER_SECONDS``), and every ``KGBRIDGE_WORKER_MAINTENANCE_SECONDS`` any
dispatcher moves the entries of those whose heartbeat lapsed back to the inbox. Dispatching an entry
twice is harmless: its jobs' ids are deterministic and unique, so the second time enqueues nothing.
An entry that cannot be routed (its app was removed from the mappings, a format this code does not
know) is set aside in ``kgbridge:inbox:<queue>:unroutable`` with a log line, never dropped.

Fork safety: RQ's worker forks a work horse per job (and its scheduler). A fork copies only the
forking thread, so a lock another thread held at that moment (a log stream's, say) stays locked
forever in the child. The dispatcher thread therefore uses a Redis client of its own (the horse
never touches it), and does everything else (routing, enqueueing, logging) under ``FORK_GUARD``,
which every ``os.fork`` of the process takes first: a fork waits at most one dispatch.
"""

from __future__ import annotations

import os
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import redis
import structlog

from kgbridge.inbox import InboxEvent, inbox_key, route
from kgbridge.jobs import enqueue_flow, make_queue
from kgbridge.settings import Settings
from mappings import Mappings

FORK_GUARD = threading.Lock()
os.register_at_fork(before=FORK_GUARD.acquire, after_in_parent=FORK_GUARD.release,
                    after_in_child=FORK_GUARD.release)

WAIT_SECONDS = 1.0  # how long one BLMOVE waits for an entry before the loop looks at its timers
_PREFIX = "kgbridge:dispatcher"

log = structlog.get_logger("kgbridge.dispatch")


class Dispatcher:
    """One dispatcher, with its own processing list and heartbeat (see the module docstring)."""

    def __init__(self, connection: redis.Redis, settings: Settings, mappings: Mappings,
                 name: str | None = None) -> None:
        self.connection = connection
        self.settings = settings
        self.mappings = mappings
        self.queue = make_queue(connection, settings)
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self.inbox = inbox_key(settings)
        self.unroutable = f"{self.inbox}:unroutable"
        self.registry = f"{_PREFIX}s:{settings.queue_name}"
        self.processing = processing_key(self.name)

    # -- one entry ----------------------------------------------------------------------------------

    def take(self, wait: float | None = None) -> bytes | None:
        """Move the oldest inbox entry into this dispatcher's processing list; None when there is none
        (after waiting up to ``wait`` seconds; ``None`` does not wait)."""
        if wait is None:
            return self.connection.lmove(self.inbox, self.processing, "LEFT", "RIGHT")
        return self.connection.blmove(self.inbox, self.processing, wait, "LEFT", "RIGHT")

    def dispatch(self, raw: bytes) -> int:
        """Enqueue the flow jobs of an entry taken, then drop it from the processing list; the number
        of jobs enqueued (0 when they all existed). Redis errors leave the entry where it is."""
        enqueued = 0
        try:
            event = InboxEvent.loads(raw)
            requests = route(self.mappings, event)
            with self.connection.pipeline() as pipe:
                for request in requests:
                    enqueued += enqueue_flow(self.queue, self.settings, request, pipeline=pipe)
                pipe.lrem(self.processing, 1, raw)
                pipe.execute()
        except redis.RedisError:
            raise
        except Exception as exc:  # a bad entry (or a bug) must not hold up the others
            self._set_aside(raw, f"{type(exc).__name__}: {exc}")
            return 0
        log.info("event dispatched", origin=event.origin, source=event.source, event_id=event.event_id,
                 event_type=event.event_type, app=event.app_key, record_id=event.record_id, count=enqueued,
                 outcome="enqueued" if enqueued else "duplicate" if requests else "ignored")
        return enqueued

    def step(self, wait: float | None = None) -> bool:
        """Take and dispatch one entry; False when the inbox stayed empty."""
        raw = self.take(wait)
        if raw is None:
            return False
        with FORK_GUARD:
            self.dispatch(raw)
        return True

    def _set_aside(self, raw: bytes, reason: str) -> None:
        with self.connection.pipeline() as pipe:  # MULTI: moved, not copied or lost
            pipe.rpush(self.unroutable, raw)
            pipe.lrem(self.processing, 1, raw)
            pipe.execute()
        log.error("event set aside", reason=reason, queue=self.unroutable)

    # -- liveness and recovery ----------------------------------------------------------------------

    def beat(self) -> None:
        """Say this dispatcher is alive for the next ``KGBRIDGE_WORKER_DEAD_AFTER_SECONDS``."""
        with self.connection.pipeline() as pipe:
            # The value is when it beat (Unix time): ``kgbridge status`` shows the heartbeat's age.
            pipe.set(alive_key(self.name), f"{time.time():.0f}", ex=self.settings.worker_dead_after_seconds)
            pipe.sadd(self.registry, self.name)
            pipe.execute()

    def recover(self) -> int:
        """Move the entries of every dispatcher whose heartbeat lapsed back to the inbox; how many."""
        moved = 0
        for member in self.connection.smembers(self.registry):
            name = member.decode()
            if name == self.name or self.connection.exists(alive_key(name)):
                continue
            count = self._requeue(processing_key(name))
            self.connection.srem(self.registry, name)
            if count:
                with FORK_GUARD:
                    log.warning("events recovered", dispatcher=name, count=count)
            moved += count
        return moved

    def _requeue(self, processing: str) -> int:
        """Move a processing list back to the head of the inbox, oldest first, one atomic move each."""
        count = 0
        while self.connection.lmove(processing, self.inbox, "RIGHT", "LEFT") is not None:
            count += 1
        return count

    def close(self) -> None:
        """Give back what this dispatcher holds (nothing, after a finished step) and deregister."""
        self._requeue(self.processing)
        with self.connection.pipeline() as pipe:
            pipe.delete(alive_key(self.name))
            pipe.srem(self.registry, self.name)
            pipe.execute()

    # -- running ------------------------------------------------------------------------------------

    def drain(self) -> int:
        """Recover lapsed dispatchers' entries, then dispatch until the inbox is empty (burst mode)."""
        self.beat()
        try:
            self.recover()
            count = 0
            while self.step():
                count += 1
            return count
        finally:
            self.close()

    def run(self, stop: threading.Event) -> None:
        """Dispatch until ``stop`` is set, riding out Redis outages; close on the way out."""
        beat_due = recover_due = 0.0
        delay = 0.5
        resume = False
        while not stop.is_set():
            try:
                now = time.monotonic()
                if now >= beat_due:
                    self.beat()
                    beat_due = now + self.settings.worker_heartbeat_seconds
                if resume:  # an error may have left an entry here, taken or half-dispatched
                    self._requeue(self.processing)
                    resume = False
                if now >= recover_due:
                    self.recover()
                    recover_due = now + self.settings.worker_maintenance_seconds
                self.step(WAIT_SECONDS)
                delay = 0.5
            except Exception as exc:  # the thread must outlive Redis outages (and say so)
                resume = True
                with FORK_GUARD:
                    log.warning("dispatcher waiting", error=type(exc).__name__, seconds=delay)
                stop.wait(delay)
                delay = min(delay * 2, 10.0)
        try:
            self.close()
        except redis.RedisError:
            pass  # its heartbeat lapses; another dispatcher recovers what it held


def alive_key(name: str) -> str:
    return f"{_PREFIX}:{name}:alive"


def processing_key(name: str) -> str:
    return f"{_PREFIX}:{name}:processing"


@contextmanager
def running(connection: redis.Redis, settings: Settings, mappings: Mappings, *,
            burst: bool = False) -> Iterator[Dispatcher]:
    """A dispatcher thread while the block runs (the worker's); with ``burst``, the inbox is
    dispatched once, up front, and no thread is started.

    In a forking worker, give it a client of its own (not the one the work horses inherit)."""
    dispatcher = Dispatcher(connection, settings, mappings)
    if burst:
        dispatcher.drain()
        yield dispatcher
        return
    stop = threading.Event()
    thread = threading.Thread(target=dispatcher.run, args=(stop,), name="dispatcher", daemon=True)
    thread.start()
    try:
        yield dispatcher
    finally:
        stop.set()
        thread.join(WAIT_SECONDS + 5)

