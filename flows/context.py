"""What every flow is handed: the connectors, the mappings, the ledger, the clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import structlog

from connectors.kintone.interface import KintoneClient
from kgbridge.ledger import Ledger
from mappings import Mappings

TOKYO = ZoneInfo("Asia/Tokyo")


def _now_tokyo() -> datetime:
    return datetime.now(TOKYO)


@dataclass
class FlowContext:
    kintone: KintoneClient
    mappings: Mappings
    ledger: Ledger
    clock: Callable[[], datetime] = _now_tokyo
    log: Any = field(default_factory=lambda: structlog.get_logger("kgbridge.flow"))

    def now(self) -> datetime:
        return self.clock().astimezone(TOKYO)
