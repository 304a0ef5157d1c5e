"""Webhook intake under gunicorn: kgbridge's receiver beside the bare Flask+Redis floor.

Both apps run under `kgbridge serve`'s gunicorn settings against the same kind of Redis, side by
side. Two loads:
- saturation: wrk with keep-alive connections as fast as it can, in rounds that alternate between
  the two (the ratio is the median of the rounds' ratios), every request a new
  notification (new id, new record) so kgbridge does its full path: validate, route, de-duplicate
  and record the event in the inbox (no worker runs: the dispatcher's side is not measured here);
- a fixed 200 requests per second (open loop, latency counted from the planned send time, so a
  slow answer cannot hide the requests queued behind it).

Each saturation round also takes the CPU time the gunicorn processes and their Redis spent
(``/proc/<pid>/stat``) per answered request: on a machine shared with other work the req/s of a
round moves with the neighbours' load, the CPU time per request much less, so it is the figure to
compare changes of the receiver by.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import requests

from benchmarks.common import TOKEN, Gunicorn, RedisProcess, base_env, median, memory_mb, percentile

WRK_HINT = "wrk is not installed: apt-get install -y wrk (Debian/Ubuntu) or brew install wrk (macOS)"


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def notification_template() -> str:
    """A kintone ADD_RECORD notification for the Orders app, with placeholders for id and record."""
    from connectors.kintone.fake import FakeKintone
    from kgbridge.samples import notification, seed_embedded
    from mappings import load_mappings

    mappings = load_mappings(Path(__file__).resolve().parent.parent / "mappings" / "default")
    fake = FakeKintone.from_mappings(mappings)
    ids = seed_embedded(fake, mappings)
    body = notification(fake, "3", ids["order_complete"], event_id="__EVENT__")
    body["record"]["$id"]["value"] = "__RECORD__"
    return json.dumps(body, ensure_ascii=False)


def run_id(prefix: str) -> str:
    """A prefix for one run's notification ids. kintone's ids are UUIDs (hex and hyphens); a decimal
    nanosecond clock would put a 19-digit run in every body, which sends the receiver's JSON parse to its
    strict path (webhooks.intake.parse_json_object) as no kintone body does."""
    return f"{prefix}{time.time_ns():x}"


def body_for(template: str, n: int, run: str) -> bytes:
    return template.replace("__EVENT__", f"{run}-{n}").replace('"__RECORD__"', f'"{n}"').encode()


_LUA = r"""
local template = [==[%s]==]
local run = "%s"
local threads = 0
function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end
local counter = 0
function request()
  counter = counter + 1
  local n = counter * 16 + tid
  local body = template:gsub("__EVENT__", run .. "-" .. n):gsub('"__RECORD__"', '"' .. n .. '"')
  return wrk.format("POST", "%s", {["Content-Type"] = "application/json"}, body)
end
"""


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of the processes so far (/proc/<pid>/stat; children not included)."""
    import os

    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return total


def run_wrk(url: str, path: str, template: str, seconds: int, connections: int) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False, encoding="utf-8") as script:
        script.write(_LUA % (template, run_id("wrk"), path))
    out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", script.name, url],
                         capture_output=True, text=True, check=True).stdout
    Path(script.name).unlink()
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    answered = int(re.search(r"(\d+) requests in", out).group(1))
    lat = {m.group(1): _ms(m.group(2)) for m in re.finditer(r"^\s+(50|75|90|99)%\s+([\d.]+\w+)", out, re.M)}
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    return {"rps": rps, "requests": answered, "p50": lat.get("50"), "p99": lat.get("99"),
            "non2xx": int(errors.group(1)) if errors else 0,
            "socket_errors": socket_errors.group(1) if socket_errors else ""}


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(\w+)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def fixed_rate(url: str, template: str, rate: int, seconds: float, senders: int = 8) -> dict:
    """Open-loop load: request k is due at start + k/rate; latency is measured from that moment."""
    total = int(rate * seconds)
    latencies: list[float] = []
    failures = [0]
    lock = threading.Lock()
    start = time.perf_counter() + 0.2
    run = run_id("fixed")

    def sender(offset: int) -> None:
        with requests.Session() as session:
            for k in range(offset, total, senders):
                due = start + k / rate
                delay = due - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                ok = session.post(url, data=body_for(template, k, run),
                                  headers={"Content-Type": "application/json"}, timeout=10).status_code == 200
                elapsed = (time.perf_counter() - due) * 1000
                with lock:
                    latencies.append(elapsed)
                    failures[0] += not ok

    threads = [threading.Thread(target=sender, args=(i,)) for i in range(senders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    achieved = total / (time.perf_counter() - start)
    return {"rps": achieved, "p50": median(latencies), "p99": percentile(latencies, 99), "failures": failures[0]}


BARE, OURS = "bare Flask + Redis RPUSH", "kgbridge receiver"


def run(seconds: int, web_workers: int, connections: int, rate: int, rate_seconds: float, rounds: int = 5) -> dict:
    """Both servers up side by side; ``rounds`` saturation runs each, alternating which goes first,
    so a neighbour's load on a shared machine lands on both; the ratio is the median of the rounds'."""
    template = notification_template()
    path = f"/webhooks/kintone/{TOKEN}"
    results: dict = {"settings": {"web_workers": web_workers, "connections": connections, "seconds": seconds,
                                  "rounds": rounds, "rate": rate, "rate_seconds": rate_seconds}}
    apps = {
        BARE: ("benchmarks.bare_app:create_app()", lambda url: {"BENCH_REDIS_URL": url}),
        OURS: ("webhooks:create_app()", lambda url: {}),
    }
    servers: dict[str, tuple[RedisProcess, Gunicorn]] = {}
    try:
        for name, (app, extra) in apps.items():
            redis_proc = RedisProcess()
            env = base_env(redis_url=redis_proc.url, connector_mode="fake", webhook_token=TOKEN, log_level="INFO")
            env.update(extra(redis_proc.url))
            try:
                servers[name] = (redis_proc, Gunicorn(app, env, web_workers))
            except RuntimeError:
                redis_proc.stop()
                raise
            fixed_rate(servers[name][1].url + path, template, 50, 1.0)  # warm up every worker
        runs: dict[str, list[dict]] = {name: [] for name in apps}
        for k in range(rounds):
            for name in (list(apps) if k % 2 == 0 else list(reversed(apps))):
                redis_proc, server = servers[name]
                pids = server.pids()
                web0, redis0 = cpu_seconds(pids), cpu_seconds([redis_proc.proc.pid])
                result = run_wrk(server.url, path, template, seconds, connections)
                web1, redis1 = cpu_seconds(pids), cpu_seconds([redis_proc.proc.pid])
                result["web_cpu_us"] = (web1 - web0) / result["requests"] * 1e6
                result["redis_cpu_us"] = (redis1 - redis0) / result["requests"] * 1e6
                runs[name].append(result)
        for name, (redis_proc, server) in servers.items():
            steady = fixed_rate(server.url + path, template, rate, rate_seconds)
            rss = [memory_mb(pid) for pid in server.pids()]
            results[name] = {
                "saturated": {"rps": median([r["rps"] for r in runs[name]]),
                              "p50": median([r["p50"] for r in runs[name]]),
                              "p99": median([r["p99"] for r in runs[name]]),
                              "non2xx": sum(r["non2xx"] for r in runs[name]),
                              "socket_errors": [r["socket_errors"] for r in runs[name] if r["socket_errors"]]},
                "rounds_rps": [r["rps"] for r in runs[name]], "steady": steady,
                "web_cpu_us": median([r["web_cpu_us"] for r in runs[name]]),
                "redis_cpu_us": median([r["redis_cpu_us"] for r in runs[name]]),
                "rounds_web_cpu_us": [r["web_cpu_us"] for r in runs[name]],
                "rss_mb": sum(r for r, _ in rss), "pss_mb": sum(p for _, p in rss), "processes": len(rss),
                "recorded": sum(redis_proc.client().llen(key) for key in ("kgbridge:inbox:kgbridge", "bare:bodies"))}
        ratios = [o["rps"] / b["rps"] for o, b in zip(runs[OURS], runs[BARE], strict=True)]
        results["ratio"] = {"median": median(ratios), "rounds": ratios}
    finally:
        for redis_proc, server in servers.values():
            server.stop()
            redis_proc.stop()
    return results
