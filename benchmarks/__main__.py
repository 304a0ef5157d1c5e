"""``python -m benchmarks`` (``make bench``): measure kgbridge against DESIGN.md's targets, print tables.

Sections (about 11 minutes in all on a quiet 2-core machine; ``--quick`` for a smoke run):
1. webhook intake under gunicorn (wrk at saturation, then a fixed 200 req/s) beside a bare Flask
   endpoint that only pushes the body to Redis, both with `kgbridge serve`'s gunicorn settings;
   three runs by default (``--intake-runs``), and the spread over them is printed, not the best;
2. webhook → effect latency with one worker, kintone as a loopback server; resident memory;
3. flow jobs per second per worker beside RQ running a no-op job; a backlog drained by two workers;
4. kintone API calls per flow against the fewest the API allows;
5. a backlog found in bulk (1,000 and 10,000 orders; as many HP inquiries, routed and looked up in
   G-Staff; as many 稟議 applications, visits and done follow-ups; as many individual contracts at
   発報待ち and at 締結済): kintone calls per app, comments apart, wall time with two workers against the
   loopback kintone, the share of the daily quota (``--only backlog``);
6. a business day of a branch at 50, 500 and 5,000 open records per app: kintone calls per app
   and per periodic task against the 10,000-call daily quota (``--only day``).

Needs redis-server and wrk on PATH (wrk: ``apt-get install -y wrk`` or ``brew install wrk``);
``--only calls`` runs section 4 alone, in a second, with neither.
Not part of the test suite. Figures go to docs/benchmarks.md by hand, with the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys

from benchmarks import backlog, day, intake, jobs, kintone_calls, latency
from benchmarks.common import table
from cli import DEFAULT_WEB_WORKERS

SECTIONS = ("intake", "latency", "jobs", "calls", "backlog", "day")


def machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               platform.processor()) if os.path.exists("/proc/cpuinfo") else platform.processor()
    mem = next((int(line.split()[1]) // 1024 for line in open("/proc/meminfo") if line.startswith("MemTotal")), 0) \
        if os.path.exists("/proc/meminfo") else 0
    redis_v = (subprocess.run(["redis-server", "--version"], capture_output=True, text=True).stdout.split()[2]
               if shutil.which("redis-server") else "not installed")
    wrk_v = (subprocess.run(["wrk", "--version"], capture_output=True, text=True).stdout.split("\n")[0].split()[1]
             if shutil.which("wrk") else "not installed")
    import gunicorn
    import rq

    return {"cpu": cpu, "cores": os.cpu_count(), "memory_mb": mem, "os": platform.platform(),
            "python": platform.python_version(), "redis": redis_v.replace("v=", ""), "rq": rq.__version__,
            "gunicorn": gunicorn.__version__, "wrk": wrk_v}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short runs, for checking the benchmark itself")
    parser.add_argument("--json", metavar="FILE", help="also write all figures as JSON")
    parser.add_argument("--intake-runs", type=int, default=3, metavar="N",
                        help="run the intake section N times and report the spread (default 3; --quick: 1)")
    parser.add_argument("--only", action="append", choices=SECTIONS,
                        help="run only this section (repeatable); memory is measured with latency")
    args = parser.parse_args(argv)
    wanted = set(args.only or SECTIONS)
    # Section 4 (calls) counts calls on the fake kintone: it needs neither tool.
    needs = {"wrk": {"intake"}, "redis-server": {"intake", "latency", "jobs", "backlog", "day"}}
    for tool, hint in (("wrk", intake.WRK_HINT), ("redis-server", "redis-server is not installed: "
                                                                    "apt-get install -y redis-server")):
        if shutil.which(tool) is None and wanted & needs[tool]:
            print(hint, file=sys.stderr)
            return 2
    quick = args.quick
    results: dict = {"machine": machine()}
    print("machine:", json.dumps(results["machine"], ensure_ascii=False), flush=True)

    if "intake" in wanted:
        runs = 1 if quick else args.intake_runs
        results["intake_runs"] = [print_intake(quick, n + 1, runs) for n in range(runs)]
        results["intake"] = results["intake_runs"][0]
        if runs > 1:
            print_intake_spread(results["intake_runs"])

    if "latency" in wanted:
        print("\n## 2. Webhook → effect in kintone (one worker, loopback kintone)", flush=True)
        try:
            lat = latency.run(events=40 if quick else 300, rate=10, web_workers=DEFAULT_WEB_WORKERS)
        except latency.MeasurementError as exc:
            print(f"latency: NOT MEASURED: {exc}", file=sys.stderr)
            return 1
        results["latency"] = lat
        print(table(["events", "sent per s", "effects", "p50 ms", "p99 ms", "max ms", "kintone requests"],
                    [[lat["events"], lat["rate"], lat["done"], f"{lat['p50']:.1f}", f"{lat['p99']:.1f}",
                      f"{lat['max']:.1f}", lat["kintone_requests"]]]))
        mem = lat["memory"]
        print()
        print(table(["process (peak during the run)", "RSS MB", "PSS MB"],
                    [[f"receiver: gunicorn master + {DEFAULT_WEB_WORKERS} workers", f"{mem['receiver']['rss_mb']:.0f}",
                      f"{mem['receiver']['pss_mb']:.0f}"],
                     ["worker: worker (+ dispatcher thread) + scheduler + work horse", f"{mem['worker']['rss_mb']:.0f}",
                      f"{mem['worker']['pss_mb']:.0f}"],
                     ["together", f"{mem['receiver']['rss_mb'] + mem['worker']['rss_mb']:.0f}",
                      f"{mem['receiver']['pss_mb'] + mem['worker']['pss_mb']:.0f}"]]))
        print("targets: p50 ≤ 300 ms, p99 ≤ 1000 ms; receiver + worker < 150 MB")

    if "jobs" in wanted:
        print("\n## 3. Job throughput (production forking worker, one process)", flush=True)
        n = 200 if quick else 1000
        thr = jobs.throughput(n)
        results["jobs"] = thr
        print(table(["job", "jobs", "seconds", "jobs/s", "failed"],
                    [[name, r["jobs"], f"{r['seconds']:.2f}", f"{r['per_second']:.1f}", r["failed"]]
                     for name, r in thr.items()]))
        jratio = thr["order_registration flow job"]["per_second"] / thr["RQ no-op job"]["per_second"]
        print(f"\nratio flow / no-op: {jratio:.2f}× (target ≥ 0.50×)")
        backlog = jobs.backlog(1000 if quick else 10_000)
        results["backlog"] = backlog
        print(table(["backlog", "workers", "seconds", "jobs/s", "finished", "failed"],
                    [[backlog["orders"], backlog["workers"], f"{backlog['seconds']:.1f}",
                      f"{backlog['per_second']:.1f}", backlog["finished"], backlog["failed"]]]))

    if "calls" in wanted:
        results["kintone_calls"] = print_kintone_calls()

    if "backlog" in wanted:
        results["bulk_backlog"] = print_backlog(quick)

    if "day" in wanted:
        print("\n## 6. A business day of a branch (every periodic task in its slots; kintone calls per app)", flush=True)
        results["day"] = day.run(sizes=(50, 500) if quick else day.SIZES)
        print(day.render(results["day"]))
        print("sweeps: measured with the fake kintone's call counter; flow calls: changes × the median calls of the "
              "app's flows in section 4. Quota: 10,000 calls per app per day, shared with the company's people.")

    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(results, out, ensure_ascii=False, indent=1)
    return 0


def print_intake(quick: bool, n: int, runs: int) -> dict:
    print(f"\n## 1. Webhook intake (gunicorn, {DEFAULT_WEB_WORKERS} gthread workers as `kgbridge serve`), run {n} of {runs}",
          flush=True)
    web = intake.run(seconds=3 if quick else 8, web_workers=DEFAULT_WEB_WORKERS, connections=16, rate=200,
                     rate_seconds=2 if quick else 10, rounds=2 if quick else 5)
    bare, ours = web[intake.BARE], web[intake.OURS]
    rows = [[name, f"{r['saturated']['rps']:.0f}", f"{r['saturated']['p50']:.1f}", f"{r['saturated']['p99']:.1f}",
             f"{r['steady']['rps']:.0f}", f"{r['steady']['p50']:.1f}", f"{r['steady']['p99']:.1f}",
             f"{r['rss_mb']:.0f} / {r['pss_mb']:.0f}"] for name, r in (("bare Flask + Redis RPUSH", bare),
                                                                      ("kgbridge receiver", ours))]
    print(table(["endpoint", "max req/s", "p50 ms", "p99 ms", "steady req/s", "p50 ms", "p99 ms",
                 f"RSS / PSS MB ({DEFAULT_WEB_WORKERS} workers + master)"], rows))
    print("(saturation figures: medians of the rounds)")
    ratio, rounds = web["ratio"]["median"], web["ratio"]["rounds"]
    print(f"\nsaturated req/s per round: bare {' '.join(f'{r:.0f}' for r in bare['rounds_rps'])}; "
          f"kgbridge {' '.join(f'{r:.0f}' for r in ours['rounds_rps'])}")
    print(f"ratio kgbridge / bare: {ratio:.2f}× (median of the rounds' {' '.join(f'{r:.2f}' for r in rounds)}; "
          f"target ≥ 0.80×); "
          f"p99 at 200 req/s: {ours['steady']['p99']:.1f} ms (target ≤ 20 ms); "
          f"non-2xx: {ours['saturated']['non2xx']}, failures at 200 req/s: {ours['steady']['failures']}")
    web["cpu_ratio"] = (bare["web_cpu_us"] + bare["redis_cpu_us"]) / (ours["web_cpu_us"] + ours["redis_cpu_us"])
    print(f"CPU per answered request (medians of the rounds): gunicorn bare {bare['web_cpu_us']:.0f} µs, "
          f"kgbridge {ours['web_cpu_us']:.0f} µs (rounds {' '.join(f'{r:.0f}' for r in ours['rounds_web_cpu_us'])}); "
          f"Redis bare {bare['redis_cpu_us']:.0f} µs, kgbridge {ours['redis_cpu_us']:.0f} µs; "
          f"CPU ratio bare / kgbridge: {web['cpu_ratio']:.2f}")
    return web


def print_intake_spread(runs: list[dict]) -> None:
    """The spread over the runs, not the best: every run's median, every round's range."""
    ratios = [r["ratio"]["median"] for r in runs]
    rounds = [x for r in runs for x in r["ratio"]["rounds"]]
    p99s = [r[intake.OURS]["steady"]["p99"] for r in runs]
    cpu = [r["cpu_ratio"] for r in runs]
    print(f"\nintake over {len(runs)} runs: ratio per run {' '.join(f'{x:.2f}' for x in ratios)}× "
          f"(all rounds {min(rounds):.2f}–{max(rounds):.2f}; worst run {min(ratios):.2f}×, target ≥ 0.80×); "
          f"p99 at 200 req/s per run {' '.join(f'{x:.1f}' for x in p99s)} ms (worst {max(p99s):.1f}, target ≤ 20 ms); "
          f"CPU ratio per run {' '.join(f'{x:.2f}' for x in cpu)}")


def print_backlog(quick: bool) -> list[dict]:
    print("\n## 5. A backlog found in bulk (reconcile sweep → page jobs, two workers, loopback kintone)", flush=True)
    sizes = (200, 1000) if quick else (1000, 10_000)
    rows, out = [], []
    for n in sizes:
        today = backlog.per_record_calls(n)
        paged = backlog.run(n)
        timed_today = backlog.run(n, per_record=True) if n == sizes[0] else None
        out.append({"orders": n, "per_record_calls": dict(today), "per_page": paged,
                    "per_record_timed": timed_today})
        for app in sorted(set(today) | set(paged["calls"]), key=int):
            ours, theirs = paged["calls"].get(app, 0), today.get(app, 0)
            rows.append([n, app, theirs, f"{backlog.quota_share(theirs):.1%}", ours, f"{backlog.quota_share(ours):.2%}",
                         f"{ours / theirs:.2%}" if theirs else "-",
                         f"{paged['seconds']:.1f}", f"{timed_today['seconds']:.1f}" if timed_today else "not run",
                         paged["failed"]])
    print(table(["orders", "app", "calls per record (today)", "of quota", "calls per page", "of quota",
                 "per page / today", "seconds per page", "seconds per record", "failed"], rows))
    for r in out:
        print(f"{r['orders']} orders: {r['per_page']['page_jobs']} page jobs; requests "
              + ", ".join(f"{k} ×{v}" for k, v in sorted(r["per_page"]["requests"].items())))
    print("target: calls per page under 5 % of today's per-record cost; quota = 10,000 calls per app per day")
    print("\nA bulk import of HP inquiries (inquiry_routing, then client_lookup: G-Staff per inquiry; "
          "writes in bulk; the comments are one call each)", flush=True)
    rows = []
    for n in sizes:
        today = backlog.per_record_inquiry_calls(n)
        paged = backlog.run_inquiries(n)
        timed_today = backlog.run_inquiries(n, per_record=True) if n == sizes[0] else None
        out.append({"inquiries": n, "per_record_calls": dict(today), "per_page": paged,
                    "per_record_timed": timed_today})
        inquiries_app = "2"
        for app in sorted(set(today) | set(paged["calls"]), key=int):
            ours, theirs = paged["calls"].get(app, 0), today.get(app, 0)
            # comments aside (no API bulks them): only the Inquiries app gets any
            ours_c = paged["comments"] if app == inquiries_app else 0
            theirs_c = backlog.inquiry_comments(n, per_record=True) if app == inquiries_app else 0
            rows.append([n, app, theirs, f"{backlog.quota_share(theirs):.1%}", ours, f"{backlog.quota_share(ours):.2%}",
                         f"{ours / theirs:.1%}" if theirs else "-",
                         f"{(ours - ours_c) / (theirs - theirs_c):.2%}" if theirs > theirs_c else "-",
                         f"{theirs_c} / {ours_c}",
                         f"{paged['seconds']:.1f}", f"{timed_today['seconds']:.1f}" if timed_today else "not run",
                         paged["failed"]])
        print(f"{n} inquiries: {paged['page_jobs']} page jobs, {paged['comments']} comments; requests "
              + ", ".join(f"{k} ×{v}" for k, v in sorted(paged["requests"].items())))
        if timed_today:
            print(f"{n} inquiries one job each: {timed_today['comments']} comments, calls "
                  + ", ".join(f"app {a} ×{c}" for a, c in sorted(timed_today["calls"].items())))
    print(table(["inquiries", "app", "calls per record (today)", "of quota", "calls per page", "of quota",
                 "per page / today", "reads+writes per page / today", "comments today / per page",
                 "seconds per page", "seconds per record", "failed"], rows))
    print("\nThe import's deadline sweeps while nobody assigns it (every 30 min through three business days; "
          "inquiry_assignment and inquiry_first_contact; Inquiries app, in-process fake)", flush=True)
    rows = []
    for n in sizes:
        each, digested = backlog.import_deadline_calls(n, digest=False), backlog.import_deadline_calls(n, digest=True)
        out.append({"import_deadlines": n, "per_record": dict(each), "digest": dict(digested)})
        rows.append([n, each["get_records"], each["add_comment"], f"{backlog.quota_share(sum(each.values())):.1%}",
                     digested["get_records"], digested["add_comment"],
                     f"{backlog.quota_share(sum(digested.values())):.1%}"])
    print(table(["inquiries", "queries", "comments, one per inquiry", "of quota", "queries", "comments, digest_from",
                 "of quota"], rows))
    out += print_backlog_applications(sizes)
    out += print_backlog_visits(sizes)
    out += print_follow_up_backlog(sizes)
    out += print_backlog_contracts(sizes)
    return out


def print_backlog_visits(sizes: tuple[int, ...]) -> list[dict]:
    """Visits reported and follow-ups planned per page (flows/visit_report.run_page,
    flows/next_follow_up.run_page): calls per app, the comments (one per record on either path) apart."""
    print("\nVisits reported and next follow-ups planned per page (one client or staff member each; the "
          "顧客管理台帳 / the 完了 marks in bulk, the next follow-ups in POST records.json; comments one call each)",
          flush=True)
    rows, out = [], []
    for app_key in ("visits", "follow_ups"):
        for n in sizes:
            today = backlog.per_record_backlog_calls(app_key, n)
            paged = backlog.run_backlog(app_key, n)
            timed_today = backlog.run_backlog(app_key, n, per_record=True) if n == sizes[0] else None
            out.append({"backlog": app_key, "records": n, "per_record_calls": dict(today), "per_page": paged,
                        "per_record_timed": timed_today})
            home = {"visits": "6", "follow_ups": "7"}[app_key]  # every comment is on the record itself
            for app in sorted(set(today) | set(paged["calls"]), key=int):
                ours, theirs = paged["calls"].get(app, 0), today.get(app, 0)
                comments = paged["comments"] if app == home else 0  # as many on either path
                rows.append([app_key, n, app, theirs, f"{backlog.quota_share(theirs):.1%}", ours,
                             f"{backlog.quota_share(ours):.2%}", f"{ours / theirs:.1%}" if theirs else "-",
                             f"{(ours - comments) / (theirs - comments):.2%}" if theirs > comments else "-",
                             comments, f"{paged['seconds']:.1f}",
                             f"{timed_today['seconds']:.1f}" if timed_today else "not run", paged["failed"]])
            print(f"{n} {app_key}: {paged['page_jobs']} page jobs, {paged['comments']} comments; requests "
                  + ", ".join(f"{k} ×{v}" for k, v in sorted(paged["requests"].items()))
                  + f"; the next sweep: {paged['next_sweep']['calls']} calls ({paged['next_sweep']['enqueued']} "
                  f"records the pages wrote or added, {paged['next_sweep']['page_jobs']} page jobs)")
    print(table(["backlog", "records", "app", "calls per record (today)", "of quota", "calls per page", "of quota",
                 "per page / today", "reads+writes per page / today", "comments (both)", "seconds per page",
                 "seconds per record", "failed"], rows))
    return out


def print_backlog_applications(sizes: tuple[int, ...]) -> list[dict]:
    """稟議 applications whose notifications were lost (flows/workflow.run_page): calls per app, with the
    comments and the kind's 承認 effects (per application on either path) apart from deciding's reads and
    writes."""
    print("\nA backlog of 稟議 applications (06_1/06_2 in every state; 決裁, 差戻し, 取締役承認依頼 in bulk; "
          "comments one call each; each approval's effects in the page job after its bulk call)", flush=True)
    rows, out = [], []
    for n in sizes:
        today, today_comments, effects = backlog.per_record_application_calls(n)
        paged = backlog.run_applications(n)
        timed_today = backlog.run_applications(n, per_record=True) if n == sizes[0] else None
        out.append({"applications": n, "per_record_calls": dict(today), "per_record_comments": dict(today_comments),
                    "effects": dict(effects), "per_page": paged, "per_record_timed": timed_today})
        comments_here = {"4": paged["comments"]}  # every comment is on an application
        for app in sorted(set(today) | set(paged["calls"]), key=int):
            ours, theirs = paged["calls"].get(app, 0), today.get(app, 0)
            own = ours - comments_here.get(app, 0) - effects.get(app, 0)  # deciding's reads and writes
            own_today = theirs - today_comments.get(app, 0) - effects.get(app, 0)
            rows.append([n, app, theirs, f"{backlog.quota_share(theirs):.1%}", ours, f"{backlog.quota_share(ours):.2%}",
                         f"{ours / theirs:.1%}" if theirs else "-", f"{own_today} / {own}",
                         f"{own / own_today:.2%}" if own_today else "-",
                         f"{today_comments.get(app, 0)} / {comments_here.get(app, 0)}", effects.get(app, 0),
                         f"{paged['seconds']:.1f}", f"{timed_today['seconds']:.1f}" if timed_today else "not run",
                         paged["failed"]])
        print(f"{n} applications: {paged['page_jobs']} page jobs, {paged['comments']} comments; requests "
              + ", ".join(f"{k} ×{v}" for k, v in sorted(paged["requests"].items())))
    print(table(["applications", "app", "calls per record (today)", "of quota", "calls per page", "of quota",
                 "per page / today", "reads+writes today / per page", "reads+writes per page / today",
                 "comments today / per page",
                 "approval effects (both)", "seconds per page", "seconds per record", "failed"], rows))
    return out


def print_follow_up_backlog(sizes: tuple[int, ...]) -> list[dict]:
    """Concluded contracts found in bulk: their follow-up schedules per page (follow_up.run_page)."""
    print("\nConcluded contracts' follow-up schedules (follow_up: 8 follow-ups each, added in bulk, whole contracts "
          "per call; one comment per contract)", flush=True)
    rows, out = [], []
    contracts_app = "5"
    for n in sizes:
        today = backlog.per_record_follow_up_calls(n)
        paged = backlog.run_follow_ups(n)
        timed_today = backlog.run_follow_ups(n, per_record=True) if n == sizes[0] else None
        out.append({"follow_up_contracts": n, "per_record_calls": dict(today), "per_page": paged,
                    "per_record_timed": timed_today})
        for app in sorted(set(today) | set(paged["calls"]), key=int):
            ours, theirs = paged["calls"].get(app, 0), today.get(app, 0)
            comments = n if app == contracts_app else 0  # one per contract either way (no API bulks them)
            rows.append([n, app, theirs, f"{backlog.quota_share(theirs):.1%}", ours, f"{backlog.quota_share(ours):.2%}",
                         f"{ours / theirs:.1%}" if theirs else "-",
                         f"{(ours - comments) / (theirs - comments):.2%}" if theirs > comments else "-",
                         f"{paged['seconds']:.1f}", f"{timed_today['seconds']:.1f}" if timed_today else "not run",
                         paged["failed"]])
        print(f"{n} contracts: {paged['page_jobs']} page jobs, {paged['follow_ups']} follow-ups, "
              f"{paged['comments']} comments; requests " + ", ".join(f"{k} ×{v}" for k, v in sorted(paged["requests"].items())))
        if timed_today:
            print(f"{n} contracts one job each: {timed_today['seconds']:.1f} s, calls "
                  + ", ".join(f"app {a} ×{c}" for a, c in sorted(timed_today["calls"].items())))
    print(table(["contracts", "app", "calls per record (today)", "of quota", "calls per page", "of quota",
                 "per page / today", "reads+writes per page / today", "seconds per page", "seconds per record",
                 "failed"], rows))
    return out


def print_backlog_contracts(sizes: tuple[int, ...]) -> list[dict]:
    """The Contracts app's page flows (docs/benchmarks.md §6f): 発報待ち and 締結済 backlogs."""
    print("\nA backlog of individual contracts on the Contracts app (contract_staffing at 発報待ち: G-Staff per "
          "contract, Gスタッフ個別契約ID in bulk, marketing's comment one call each; master_retention at 締結済: "
          f"{backlog.CONTRACT_CLIENTS} clients' 基本契約 extended once each, in bulk)", flush=True)
    rows, out = [], []
    for kind in backlog.CONTRACT_KINDS:
        for n in sizes:
            today, gstaff_today = backlog.per_record_contract_calls(n, kind)
            paged = backlog.run_contracts(n, kind)
            timed_today = backlog.run_contracts(n, kind, per_record=True) if n == sizes[0] else None
            out.append({"contracts": n, "kind": kind, "per_record_calls": dict(today),
                        "per_record_gstaff": dict(gstaff_today), "per_page": paged, "per_record_timed": timed_today})
            for app in sorted(set(today) | set(paged["calls"]), key=int):
                ours, theirs = paged["calls"].get(app, 0), today.get(app, 0)
                comments = backlog.contract_comments(n, kind)
                rows.append([n, kind, app, theirs, f"{backlog.quota_share(theirs):.1%}", ours,
                             f"{backlog.quota_share(ours):.2%}", f"{ours / theirs:.1%}" if theirs else "-",
                             f"{(ours - paged['comments']) / (theirs - comments):.2%}" if theirs > comments else "-",
                             f"{comments} / {paged['comments']}",
                             f"{sum(gstaff_today.values())} / {sum(paged['gstaff'].values())}",
                             f"{paged['seconds']:.1f}", f"{timed_today['seconds']:.1f}" if timed_today else "not run",
                             paged["failed"]])
            print(f"{n} contracts ({kind}): {paged['page_jobs']} page jobs, {paged['comments']} comments; requests "
                  + ", ".join(f"{k} ×{v}" for k, v in sorted(paged["requests"].items())), flush=True)
    print(table(["contracts", "flow", "app", "calls per record (today)", "of quota", "calls per page", "of quota",
                 "per page / today", "reads+writes per page / today", "comments today / per page",
                 "G-Staff calls today / per page", "seconds per page", "seconds per record", "failed"], rows))
    return out


def print_kintone_calls() -> list[dict]:
    print("\n## 4. kintone API calls per flow", flush=True)
    calls = kintone_calls.run()
    print(table(["flow", "scenario", "outcome", "calls", "fewest", "why that many", "calls made"],
                [[r["flow"], r["scenario"], r["outcome"], r["calls"], r["fewest"], r["why"], r["detail"]]
                 for r in calls]))
    over = [r for r in calls if r["calls"] > r["fewest"]]
    print("every flow at the fewest calls" if not over else
          f"{len(over)} scenario(s) above the fewest: " + "; ".join(f"{r['flow']}: {r['scenario']}" for r in over))
    for r in calls:
        if r["outcome"] != r["expected_outcome"]:
            print(f"SCENARIO DRIFTED: {r['flow']}: {r['scenario']} ended {r['outcome']}, "
                  f"not {r['expected_outcome']}: it no longer measures what it names")
    return calls


if __name__ == "__main__":
    sys.exit(main())
