"""The gunicorn worker of ``kgbridge serve``: threads, and a deadline on every request a client sends.

gunicorn's sync worker gives each connection the whole process until the request is read, so two
clients trickling one byte a second were enough to stop the receiver (issue 16). gunicorn's gthread
worker waits for a connection's first bytes without a thread, but then reads the request in a
thread with no time limit. This worker is gthread with that limit: from the moment a thread takes a
request, the client has ``REQUEST_SECONDS`` to send all of it (request line, headers and body) and to
take the answer. A client still sending by then is treated as gone (no answer, the connection
closed), so a slow or stalled client holds one thread for at most ``REQUEST_SECONDS``, and the other
threads keep answering kintone, GMO Sign and the probes. A normal webhook (a few kB) is read in
milliseconds.

A worker whose threads are all busy stops accepting connections until one is free, so a new
connection goes to a worker that can answer it at once (or waits in the kernel's backlog), never
behind slow clients in a busy worker's queue. ``kgbridge serve`` runs ``DEFAULT_WEB_THREADS``
threads per worker (cli.py): that many slow clients per worker before answers wait, each for at
most the deadline.

A reverse proxy in front that buffers whole requests (README "Running behind a reverse proxy") keeps
slow clients away from gunicorn altogether; this bound is what holds without one.
"""

from __future__ import annotations

import gc
import socket
import threading
import time

from gunicorn.workers.gthread import ThreadWorker

# Seconds a client has to send one whole request and read its answer (kintone sends a few kB);
# KGBRIDGE_WEB_REQUEST_SECONDS.
DEFAULT_REQUEST_SECONDS = 10.0


class _DeadlineSocket:
    """A connection's socket whose blocking reads and writes end at the current request's deadline.

    gunicorn switches its sockets between blocking (in a thread) and non-blocking (in the poller);
    blocking mode becomes "until the deadline". A read past the deadline returns b"" (the client is
    treated as gone); a write past it raises ``TimeoutError``. Between requests (no deadline) a read
    takes only what has already arrived.
    """

    __slots__ = ("_sock", "deadline")

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self.deadline: float | None = None

    def __getattr__(self, name):
        return getattr(self._sock, name)

    def _left(self) -> float | None:
        if self.deadline is None:
            return None
        return self.deadline - time.monotonic()

    def _arm(self) -> bool:
        """Bound the next blocking call by the deadline; False when it has passed."""
        left = self._left()
        if left is None or self._sock.gettimeout() == 0.0:
            return True  # no request under way, or non-blocking (the poller's)
        if left <= 0:
            return False
        self._sock.settimeout(left)
        return True

    def setblocking(self, flag: bool) -> None:
        self._sock.setblocking(flag)

    def recv(self, size: int, *flags) -> bytes:
        if self.deadline is None:
            # Outside a request only gunicorn's graceful close reads, on the main thread, lingering up
            # to 2 s for a client that keeps sending: take what has arrived, never wait for more.
            self._sock.setblocking(False)  # (a socket timeout would make even MSG_DONTWAIT wait)
            try:
                return self._sock.recv(size)
            except (BlockingIOError, InterruptedError):
                return b""
        if not self._arm():
            return b""
        try:
            return self._sock.recv(size, *flags)
        except TimeoutError:
            return b""

    def recv_into(self, buffer, *args) -> int:
        if self.deadline is None or not self._arm():
            return 0
        try:
            return self._sock.recv_into(buffer, *args)
        except TimeoutError:
            return 0

    def sendall(self, data, *flags) -> None:
        if not self._arm():
            raise TimeoutError("the client did not take the answer in time")
        self._sock.sendall(data, *flags)

    def send(self, data, *flags) -> int:
        if not self._arm():
            raise TimeoutError("the client did not take the answer in time")
        return self._sock.send(data, *flags)

    def fileno(self) -> int:
        return self._sock.fileno()

    def close(self) -> None:
        self._sock.close()


class ReceiverWorker(ThreadWorker):
    """gunicorn's gthread worker with a deadline on each request and no queue behind busy threads
    (see the module docstring)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.request_seconds = DEFAULT_REQUEST_SECONDS
        self._busy = 0
        self._busy_lock = threading.Lock()

    def init_process(self):
        from kgbridge.settings import SettingsError, load_settings

        try:
            self.request_seconds = load_settings().web_request_seconds
        except SettingsError:
            pass  # the app's own start names the bad setting and stops
        # What the master built before the fork (``--preload``: the app, its mappings, every imported
        # module, some 500,000 objects) lives as long as the worker: the cyclic collector is told so.
        # Otherwise the first full collection traverses it all (~37 M instructions, tens of ms on a
        # slow CPU, in the middle of a request) and writes to every object's header, un-sharing the
        # master's memory pages. Objects made from here on are collected as usual.
        gc.freeze()
        super().init_process()

    def set_accept_enabled(self, enabled):
        # The loop asks for accepting whenever it is below worker_connections; we also need a free thread.
        super().set_accept_enabled(enabled and self._busy < self.cfg.threads)

    def _count(self, delta: int) -> None:
        with self._busy_lock:
            self._busy += delta
            full = self._busy >= self.cfg.threads
        if (delta > 0 and full) or (delta < 0 and not self._accepting):
            # The main loop owns the poller: it re-decides there, woken by the queue.
            self.method_queue.defer(lambda: self.set_accept_enabled(self.nr_conns < self.worker_connections))

    def handle(self, conn):
        self._count(+1)
        try:
            if not isinstance(conn.sock, _DeadlineSocket):
                conn.sock = _DeadlineSocket(conn.sock)  # before the parser is made, so it reads through it
            conn.sock.deadline = time.monotonic() + self.request_seconds
            try:
                return super().handle(conn)
            finally:
                conn.sock.deadline = None  # back in the poller, the connection waits on keep-alive's timeout
        finally:
            self._count(-1)
