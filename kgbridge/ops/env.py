"""What the ops commands run against, built on first use from the service's own settings.

The same ``KGBRIDGE_*`` variables as the receiver and the worker (one Redis URL, one mapping
folder, one kintone), so an operator's shell sees exactly what the service sees. Tests hand
in ready objects (a real Redis, FakeKintone) instead.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

import redis
from rq import Queue

from connectors.kintone.interface import KintoneClient
from kgbridge import bootstrap, logs
from kgbridge.jobs import make_queue
from kgbridge.settings import Settings, load_settings
from mappings import Mappings, load_mappings


@dataclass
class OpsEnv:
    settings_: Settings | None = None
    connection_: redis.Redis | None = None
    mappings_: Mappings | None = None
    kintone_: KintoneClient | None = None
    # `kgbridge apps create` only: kintone's app management (password authentication).
    kintone_admin_: Any = None

    @property
    def settings(self) -> Settings:
        if self.settings_ is None:
            self.settings_ = load_settings()
            # Log lines go to stderr, so stdout stays the table or the JSON.
            logs.configure(self.settings_.log_level, "console" if sys.stderr.isatty() else self.settings_.log_format)
        return self.settings_

    @property
    def connection(self) -> redis.Redis:
        if self.connection_ is None:
            self.connection_ = bootstrap.redis_client(self.settings)
        return self.connection_

    @property
    def mappings(self) -> Mappings:
        if self.mappings_ is None:
            self.mappings_ = load_mappings(self.settings.mapping_dir)
        return self.mappings_

    @property
    def kintone(self) -> KintoneClient:
        if self.kintone_ is None:
            self.kintone_ = bootstrap.build_kintone(self.settings, self.mappings, self.connection)
        return self.kintone_

    @property
    def queue(self) -> Queue:
        return make_queue(self.connection, self.settings)

    def intake(self) -> dict[str, Any]:
        """The keyword arguments the webhook intake functions take."""
        return {"settings": self.settings, "mappings": self.mappings, "connection": self.connection,
                "queue": self.queue}
