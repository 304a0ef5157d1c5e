"""kintone API calls per flow, counted with FakeKintone.calls, beside the fewest the API allows.

Each scenario seeds the fake, runs the flow once and counts the calls. "Fewest" is our reading of
the kintone REST API for what the flow must learn and change (the reason column says why); a flow
that makes more calls than that is a finding. Adding a flow is adding its scenarios to SCENARIOS.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from benchmarks.common import ROOT


@dataclass(frozen=True)
class Scenario:
    flow: str
    name: str
    prepare: Callable  # (fake, mappings, ctx) -> (app_key, record_id)
    fewest: int
    why: str


def _complete(fake, mappings, ctx):
    from kgbridge.samples import seed_embedded

    return "orders", seed_embedded(fake, mappings)["order_complete"]


def _incomplete(fake, mappings, ctx):
    from kgbridge.samples import seed_embedded

    return "orders", seed_embedded(fake, mappings)["order_incomplete"]


def _incomplete_again(fake, mappings, ctx):
    from flows import order_registration

    app, rid = _incomplete(fake, mappings, ctx)
    order_registration.run(ctx, app, rid)
    return app, rid


def _accepted(fake, mappings, ctx):
    from flows import order_registration

    app, rid = _complete(fake, mappings, ctx)
    order_registration.run(ctx, app, rid)
    fake.update_status(mappings[app].id, rid, "承認")
    return app, rid


def _awaiting(fake, mappings, ctx):
    from flows import order_registration

    app, rid = _complete(fake, mappings, ctx)
    order_registration.run(ctx, app, rid)
    return app, rid


SCENARIOS = [
    Scenario("order_registration", "complete order, client approved", _complete, 3,
             "read order, read client's 与信状態, run 上長承認依頼"),
    Scenario("order_registration", "incomplete order", _incomplete, 3,
             "read order, read client, post one comment"),
    Scenario("order_registration", "same incomplete order notified again", _incomplete_again, 2,
             "read order and client to know nothing changed; no write"),
    Scenario("order_registration", "order approved (受付済)", _accepted, 3,
             "read order, write 受付日, post one comment (no API does both)"),
    Scenario("order_registration", "order waiting for the supervisor", _awaiting, 1,
             "read order; nothing to do"),
    # --- client_lookup (issue 3), contract_issuance / signature_status (issue 4): add scenarios here ---
]


def run() -> list[dict]:
    import os

    import fakeredis

    from kgbridge import logs

    logs.configure("INFO", "json", stream=open(os.devnull, "w"))

    from connectors.kintone.fake import FakeKintone
    from flows import get_flow
    from flows.context import FlowContext
    from kgbridge.ledger import Ledger
    from mappings import load_mappings

    rows = []
    for scenario in SCENARIOS:
        mappings = load_mappings(ROOT / "mappings" / "default")
        fake = FakeKintone.from_mappings(mappings)
        ctx = FlowContext(kintone=fake, mappings=mappings, ledger=Ledger(fakeredis.FakeRedis()),
                          clock=lambda: datetime.fromisoformat("2026-11-24T10:00:00+09:00"))
        app, rid = scenario.prepare(fake, mappings, ctx)
        fake.calls.clear()
        outcome = get_flow(scenario.flow)(ctx, app, rid)
        calls = sum(fake.calls.values())
        detail = ", ".join(f"{m}(app {a}) ×{n}" for (m, a), n in sorted(fake.calls.items(), key=str))
        rows.append({"flow": scenario.flow, "scenario": scenario.name, "outcome": outcome, "calls": calls,
                     "fewest": scenario.fewest, "why": scenario.why, "detail": detail})
    return rows
