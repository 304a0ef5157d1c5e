"""``kgbridge worker-check``: is a worker of this host alive? For Docker's HEALTHCHECK and systemd.

Alive means both halves of ``kgbridge worker`` beat recently: the RQ worker (its heartbeat no
older than ``KGBRIDGE_WORKER_MAINTENANCE_SECONDS`` + 15 s, the longest an idle worker waits between
beats) and its dispatcher (its heartbeat key has not lapsed). "This host" is the hostname, which in
a container is the container's own; ``--any-host`` accepts a worker anywhere.
"""

from __future__ import annotations

import socket
from datetime import UTC, datetime

import redis
from rq import Queue, Worker
from rq.serializers import JSONSerializer

from kgbridge.dispatch import alive_key
from kgbridge.settings import Settings


def check(connection: redis.Redis, settings: Settings, hostname: str | None = None) -> tuple[bool, str]:
    """(alive, one line saying why)."""
    now = datetime.now(UTC)
    stale_after = settings.worker_maintenance_seconds + 15
    queue = Queue(settings.queue_name, connection=connection, serializer=JSONSerializer)
    fresh = []
    for worker in Worker.all(queue=queue):
        if hostname is not None and worker.hostname != hostname:
            continue
        beat = worker.last_heartbeat
        if beat is not None and (now - beat.replace(tzinfo=beat.tzinfo or UTC)).total_seconds() <= stale_after:
            fresh.append(worker.name)
    dispatchers = []
    for member in connection.smembers(f"kgbridge:dispatchers:{settings.queue_name}"):
        name = member.decode()
        if (hostname is None or name.startswith(f"{hostname}:")) and connection.exists(alive_key(name)):
            dispatchers.append(name)
    where = f"on {hostname}" if hostname else "anywhere"
    if not fresh:
        return False, f"no RQ worker {where} has beaten in the last {stale_after} s"
    if not dispatchers:
        return False, f"no live dispatcher {where}: recorded webhooks are not turned into jobs"
    return True, f"ok: {len(fresh)} worker(s) and {len(dispatchers)} dispatcher(s) alive {where}"


def this_host() -> str:
    return socket.gethostname()
