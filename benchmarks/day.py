"""A business day of one branch, at three sizes: kintone calls per app against the daily quota.

Each app of the default mappings is seeded with N open records (N = 50, 500, 5,000): HP inquiries
awaiting their first contact (a tenth received the day before, so their reminder falls due today),
orders awaiting approval, 稟議 applications awaiting a decision, contracts awaiting signature, and
N records in each other app. Then the day is replayed on the flows' clock, 00:00 to 24:00 in Tokyo
(a Tuesday): every periodic task runs in each slot of its interval exactly as the workers run it
(reconcile every 300 s, deadlines every 1,800 s, 稟議 delays and open envelopes every 3,600 s, held
comments every 300 s, the KPI app's 延長率 once a day), and in each business hour a twentieth of every app's records is changed
(those changes' webhook jobs are taken as done; the reconcile sweep still sees them in its window).

Measured: the calls the periodic tasks make, per app, with FakeKintone's call counter. Estimated
beside them: the calls of the changes' own flow jobs, (changes) × (the median calls of that app's
flows in the kintone-call scenarios, section 4). The sum is set against 10,000 calls per app per
day, the budget the company's people and other tools share.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from benchmarks.common import ROOT, log_sink

TOKYO = ZoneInfo("Asia/Tokyo")
DAY = datetime(2026, 12, 1, tzinfo=TOKYO)  # a Tuesday, no holiday
SIZES = (50, 500, 5000)
DAILY_QUOTA = 10_000
TICK = timedelta(minutes=5)
CHANGED_PER_BUSINESS_HOUR = 1 / 20
OPEN_STATUS = {"orders": "上長承認待ち", "contracts": "署名依頼中", "workflow": "申請中"}


def _stamp(when: datetime) -> str:
    return when.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%dT%H:%M:%SZ")


def _seed(fake, mappings, n: int) -> dict[str, list[str]]:
    from kgbridge.samples import COMPLETE_CONTRACT, COMPLETE_ORDER

    yesterday = DAY - timedelta(days=1)
    ids: dict[str, list[str]] = defaultdict(list)
    for mapping in mappings:
        app = fake.apps[mapping.id]
        for i in range(n):
            if mapping.key == "inquiries":
                received = (yesterday if i % 10 == 0 else DAY).replace(hour=8, minute=30)
                values = {"受付経路": "HP", "受付日時": _stamp(received), "会社名": f"株式会社ベンチ{i}",
                          "担当者名": "担当 太郎", "問い合わせ内容": "派遣のご相談"}
            elif mapping.key == "orders":
                values = dict(COMPLETE_ORDER)
            elif mapping.key == "contracts":
                values = dict(COMPLETE_CONTRACT, GMOサイン文書ID=f"ENV{i:06d}")
            elif mapping.key == "workflow":
                values = {"申請日": (yesterday.date()).isoformat()}
            else:
                values = {}
            values = {code: v for code, v in values.items() if code in app.fields}
            rid = fake.seed(mapping.id, values, status=OPEN_STATUS.get(mapping.key) if app.status_field else None)
            fake.apps[mapping.id].records[rid]["更新日時"]["value"] = _stamp(yesterday)
            ids[mapping.key].append(rid)
    return ids


def _mark_all_processed(connection, fake, mappings) -> None:
    from kgbridge.jobs import mark_processed
    from kgbridge.ops.reconcile import record_triggers

    for mapping in mappings:
        flows = {t.flow for t in record_triggers(mapping)}
        for rid, record in fake.apps[mapping.id].records.items():
            for flow in flows:
                mark_processed(connection, flow, mapping.key, rid, f"r{record['$revision']['value']}")


def _change(connection, fake, mappings, ids, share: float, now: datetime, offset: int) -> Counter:
    """Edit a share of every app's records at ``now``, as people do; their webhook jobs count as run."""
    from kgbridge.jobs import mark_processed
    from kgbridge.ops.reconcile import record_triggers

    changed: Counter = Counter()
    for mapping in mappings:
        records = fake.apps[mapping.id].records
        app_ids = ids[mapping.key]
        count = max(1, int(len(app_ids) * share))
        flows = {t.flow for t in record_triggers(mapping)}
        for k in range(count):
            rid = app_ids[(offset * count + k) % len(app_ids)]
            record = records[rid]
            record["$revision"]["value"] = str(int(record["$revision"]["value"]) + 1)
            record["更新日時"]["value"] = _stamp(now)
            for flow in flows:
                mark_processed(connection, flow, mapping.key, rid, f"r{record['$revision']['value']}")
        changed[mapping.key] += count
    return changed


def _flow_cost_per_app(mappings) -> dict[str, float]:
    """The median kintone calls of one run of the flows each app's webhooks start (section 4's scenarios)."""
    from benchmarks import kintone_calls
    from kgbridge.ops.reconcile import record_triggers

    by_flow: dict[str, list[int]] = defaultdict(list)
    for row in kintone_calls.run():
        by_flow[row["flow"]].append(row["calls"])
    cost = {}
    for mapping in mappings:
        flows = {t.flow for t in record_triggers(mapping)}
        cost[mapping.key] = sum(statistics.median(by_flow[f]) for f in flows if by_flow.get(f))
    return cost


def run_size(n: int, flow_cost: dict[str, float]) -> dict:
    import fakeredis

    from connectors.gmosign.fake import FakeGmoSign
    from connectors.gstaff.fake import FakeGStaff
    from connectors.kintone.fake import FakeKintone
    from flows.context import FlowContext
    from kgbridge import periodic
    from kgbridge.jobs import make_queue
    from kgbridge.ledger import Ledger
    from kgbridge.settings import load_settings
    from mappings import load_mappings

    settings = load_settings(connector_mode="fake")
    mappings = load_mappings(ROOT / "mappings" / "default")
    fake = FakeKintone.from_mappings(mappings)
    connection = fakeredis.FakeRedis()
    clock = {"now": DAY}
    ctx = FlowContext(kintone=fake, mappings=mappings, ledger=Ledger(connection), clock=lambda: clock["now"],
                      gstaff=FakeGStaff.with_samples(), gmosign=FakeGmoSign(), enqueue=lambda *job: True,
                      enqueue_many=lambda *job: None)
    ids = _seed(fake, mappings, n)
    _mark_all_processed(connection, fake, mappings)
    queue = make_queue(connection, settings)

    from flows import deadlines, follow_up_issues, held_messages, retention, signature_status, workflow
    from kgbridge.ops.reconcile import sweep

    tasks = {
        "reconcile": lambda: sweep(settings=settings, mappings=mappings, kintone=fake, connection=connection,
                                   queue=queue, now=clock["now"]),
        "deadlines": lambda: (deadlines.sweep(ctx), follow_up_issues.remind_overdue_issues(ctx)),
        "workflow_delays": lambda: workflow.sweep_delays(ctx),
        "open_envelopes": lambda: signature_status.check_open_envelopes(ctx),
        "held_messages": lambda: held_messages.deliver_due(ctx),
        "retention_kpi": lambda: retention.keep_kpi(ctx),
    }
    intervals = {t.name: t.interval(settings) for t in periodic.TASKS if t.name in tasks}
    # the sweeps' warm start (a reconcile cursor, yesterday's reminders) is not part of the day
    clock["now"] = DAY - TICK
    tasks["reconcile"]()
    fake.calls.clear()

    by_task: dict[str, Counter] = defaultdict(Counter)
    changed: Counter = Counter()
    now, hour_done = DAY, set()
    while now < DAY + timedelta(days=1):
        clock["now"] = now
        if ctx.calendar.is_working_time(now) and now.hour not in hour_done:
            hour_done.add(now.hour)
            changed += _change(connection, fake, mappings, ids, CHANGED_PER_BUSINESS_HOUR, now, len(hour_done))
        seconds = int((now - DAY).total_seconds())
        for name, interval in intervals.items():
            if interval and seconds % interval == 0:
                before = Counter(fake.calls)
                tasks[name]()
                for (_method, app), count in (Counter(fake.calls) - before).items():
                    by_task[name][app] += count
        now += TICK

    apps = {}
    for mapping in mappings:
        sweeps = {name: by_task[name][mapping.id] for name in tasks}
        estimated = round(changed[mapping.key] * flow_cost.get(mapping.key, 0))
        total = sum(sweeps.values()) + estimated
        apps[mapping.key] = {"sweeps": sweeps, "sweep_calls": sum(sweeps.values()), "changes": changed[mapping.key],
                             "flow_calls_estimated": estimated, "total": total,
                             "quota_share": total / DAILY_QUOTA}
    return {"open_records_per_app": n, "apps": apps, "jobs_enqueued_by_reconcile": len(queue)}


def run(sizes=SIZES, quiet: bool = True) -> list[dict]:
    from kgbridge import logs
    from mappings import load_mappings

    if quiet:
        logs.configure("WARNING", "json", stream=log_sink())
    flow_cost = _flow_cost_per_app(load_mappings(ROOT / "mappings" / "default"))
    return [run_size(n, flow_cost) for n in sizes]


def render(results: list[dict]) -> str:
    from benchmarks.common import table

    tasks = list(next(iter(results[0]["apps"].values()))["sweeps"])
    rows = []
    for result in results:
        for app, figures in result["apps"].items():
            rows.append([f"{result['open_records_per_app']:,}", app,
                         *[f"{figures['sweeps'][t]:,}" for t in tasks], f"{figures['sweep_calls']:,}",
                         f"{figures['changes']:,} → {figures['flow_calls_estimated']:,}",
                         f"{figures['total']:,}", f"{figures['quota_share']:.1%}"])
    return table(["open/app", "app", *tasks, "sweeps (measured)", "changes → flow calls (est.)", "calls/day",
                  "of 10,000"], rows)


if __name__ == "__main__":
    print(render(run()))
