"""Fuzzing the receivers through gunicorn (issue 16): 10,000 generated bodies per receiver, sent over
keep-alive connections to `kgbridge serve`'s gunicorn on loopback, then the dispatcher and a real RQ
worker over everything accepted.

Each body either gets a 2xx, or a 4xx whose JSON says why; never a 5xx. The bodies come from a
seeded generator (the same every run; ``KGBRIDGE_TEST_FUZZ_SEED`` picks another) mixing valid-looking
notifications and callbacks for the seeded records, the same with one part replaced by a hostile
value, and hostile bodies: random bytes, invalid UTF-8, broken and non-object JSON, NaN and
Infinity, numbers past float range or Python's 4,300-digit limit, lone surrogates, Unicode digits
as ids, deep nesting, bodies past the size limit. What was accepted then runs: no dispatcher error,
nothing set aside, and no flow job that fails for good.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from rq.job import Job
from rq.serializers import JSONSerializer

from connectors.gmosign.fake import FakeGmoSign
from connectors.gstaff.fake import FakeGStaff
from flows import contract_issuance
from kgbridge.inbox import inbox_key
from kgbridge.samples import notification, seed_embedded
from tests.conftest import WEBHOOK_TOKEN, dispatch_inbox, work_queue
from tests.fault_kit import failed_jobs
from tests.pii import GMOSIGN_WEBHOOK_TOKEN
from tests.procs import Gunicorn

BODIES = int(os.environ.get("KGBRIDGE_TEST_FUZZ_BODIES", "10000"))  # per receiver
MAX_BODY = 16_384
SEED = int(os.environ.get("KGBRIDGE_TEST_FUZZ_SEED", "16"))
CONNECTIONS = 8

# 20,000 requests through gunicorn: about a minute on a quiet 2-core machine, several on a busy one.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

# Values that are valid JSON but wrong anywhere an id, a type or a name is expected.
HOSTILE_VALUES = [None, True, 0, -1, 2**63, 1.5, "", " ", "²", "١٢", "３", "12\n", "1e3", "-1", "0x1F", "a" * 5000,
                  "\u0000", "\u202e", "🙂", "ア" * 300, [], {}, [1, [2, [3]]], {"value": "1"}, {"$id": {}},
                  "gmosign:ENV000077:Completed", "../../etc/passwd", "%2F", "<script>", "'; DROP TABLE--"]
# Raw JSON text no Python value prints: what json.loads must refuse, or could only hold badly.
HOSTILE_FRAGMENTS = ["NaN", "-Infinity", "Infinity", "1e99999", "-1e400", "1" * 4301, "-" + "9" * 4500,
                     '"\\ud800"', '"\\udfff x"', '"\\u0000"', "[" * 2000 + "]" * 2000, '{"a":' * 1500 + "1" + "}" * 1500]
HOSTILE_BODIES = [b"", b" ", b"null", b"[]", b"1", b'"x"', b"{", b"}", b'{"a":}', b'{"a" 1}', b"\xff\xfe{}",
                  b"\xef\xbb\xbf{}", b'{"id": "\xe3\x81"}', b'{"id": "\xed\xa0\x80"}', b"{\x00}", b"[" * 100_000,
                  b"{}" * 3, b'{"a": 1}{"b": 2}', b" " * (MAX_BODY + 1), b"{" + b" " * MAX_BODY + b"}"]


def _replace(body: dict, rng: random.Random, paths: list[tuple]) -> dict:
    """``body`` (a copy) with one part replaced by a hostile value, or removed."""
    body = json.loads(json.dumps(body))
    path = rng.choice(paths)
    node = body
    for key in path[:-1]:
        node = node.get(key) if isinstance(node, dict) else None
        if not isinstance(node, (dict, list)):
            return body
    if isinstance(node, list):
        return body
    if rng.random() < 0.2:
        node.pop(path[-1], None)
    else:
        node[path[-1]] = rng.choice(HOSTILE_VALUES)
    return body


def _with_fragment(body: dict, rng: random.Random) -> bytes:
    """``body`` with a field holding raw hostile JSON text (at the top, or inside the record)."""
    text = json.dumps(body, ensure_ascii=rng.random() < 0.3)
    fragment = rng.choice(HOSTILE_FRAGMENTS)
    return (text[:-1] + f', "x{rng.randrange(99)}": {fragment}}}').encode()


def _hostile(rng: random.Random) -> bytes:
    kind = rng.randrange(4)
    if kind == 0:
        return rng.choice(HOSTILE_BODIES)
    if kind == 1:
        return rng.randbytes(rng.randrange(1, 400))
    if kind == 2:
        return json.dumps(rng.choice(HOSTILE_VALUES)).encode()
    return b"{" + rng.randbytes(rng.randrange(1, 200)) + b"}"


def generate(rng: random.Random, valid, paths: list[tuple], count: int) -> list[bytes]:
    """``count`` bodies: a third valid-looking, a third with one part broken, a third hostile."""
    bodies = []
    for n in range(count):
        roll = rng.random()
        body = valid(rng, n)
        if roll < 0.3:
            data = json.dumps(body, ensure_ascii=rng.random() < 0.5).encode()
        elif roll < 0.5:
            data = json.dumps(_replace(body, rng, paths), ensure_ascii=False).encode()
        elif roll < 0.65:
            data = _with_fragment(body, rng)
        else:
            data = _hostile(rng)
        bodies.append(data)
    return bodies


class Sender:
    """POSTs bodies over ``CONNECTIONS`` keep-alive connections; counts the answers."""

    def __init__(self, port: int, path: str) -> None:
        self.port, self.path = port, path

    def _send_all(self, bodies: list[bytes]) -> list[tuple[int, bytes]]:
        answers = []
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        for body in bodies:
            for attempt in range(2):  # the server may close a kept-alive connection after a refusal
                try:
                    conn.request("POST", self.path, body=body, headers={"Content-Type": "application/json"})
                    response = conn.getresponse()
                    answers.append((response.status, response.read()))
                    if response.will_close:
                        conn.close()
                    break
                except (ConnectionError, http.client.RemoteDisconnected, http.client.BadStatusLine):
                    conn.close()
                    if attempt:
                        raise
        conn.close()
        return answers

    def send(self, bodies: list[bytes]) -> list[tuple[int, bytes]]:
        shares = [bodies[i::CONNECTIONS] for i in range(CONNECTIONS)]
        with ThreadPoolExecutor(CONNECTIONS) as pool:
            return [a for part in pool.map(self._send_all, shares) for a in part]


def _check_answers(answers: list[tuple[int, bytes]]) -> Counter:
    codes = Counter(status for status, _ in answers)
    for status, raw in answers:
        assert status < 500, raw[:300]
        body = json.loads(raw)
        if status >= 300:
            assert 400 <= status < 500 and body["ok"] is False and body["error"].strip(), (status, raw[:300])
        else:
            assert body["ok"] is True
    return codes


@pytest.fixture
def fuzz_ctx(ctx, kintone, mappings):
    """The flows' context with GMO Sign and G-Staff fakes, the samples seeded and their contract sent."""
    from datetime import datetime

    ctx.gmosign, ctx.gstaff = FakeGmoSign(), FakeGStaff.with_samples()
    ctx.clock = lambda: datetime.fromisoformat("2026-11-24T10:00:00+09:00")  # a business day
    ids = seed_embedded(kintone, mappings)
    assert contract_issuance.run(ctx, "contracts", ids["contract"]) == "sent_for_signature"
    envelope_id = kintone.record_values(mappings["contracts"].id, ids["contract"])["GMOサイン文書ID"]
    return ids, envelope_id


def test_ten_thousand_generated_bodies_per_receiver_get_a_2xx_or_a_4xx_and_what_was_accepted_runs(
        fuzz_ctx, kintone, mappings, redis_url, redis_conn, settings):
    ids, envelope_id = fuzz_ctx
    rng = random.Random(SEED)
    apps = {m.id: m for m in mappings}
    records = {mappings["orders"].id: [ids["order_complete"], ids["order_incomplete"]],
               mappings["clients"].id: [ids["client_approved"], ids["client_new"]]}
    templates = {(app, rid): notification(kintone, app, rid) for app, rids in records.items() for rid in rids}
    statuses = {app: list((apps[app].process.statuses.values()) if apps[app].process else []) for app in records}

    def kintone_valid(rng: random.Random, n: int) -> dict:
        app, rid = rng.choice(list(templates))
        body = json.loads(json.dumps(templates[(app, rid)]))
        body.update(id=f"fuzz-{SEED}-{n}", type=rng.choice(["ADD_RECORD", "UPDATE_RECORD", "UPDATE_STATUS"]))
        body["record"]["$revision"]["value"] = str(rng.randrange(1, 4))
        for cell in body["record"].values():
            if cell.get("type") == "STATUS" and statuses[app]:
                cell["value"] = rng.choice(statuses[app])
        return body

    def gmosign_valid(rng: random.Random, n: int) -> dict:
        body = {"envelope_xid": envelope_id, "envelope_name": rng.choice(["契約書", "", "x" * 100]),
                "document_list": [{"documentId": f"{envelope_id}-D1", "document_name": "契約書"}]}
        if rng.random() < 0.5:
            body["event"] = rng.choice(["Completed", "Declined", "Sent", "Expired"])
        return body

    kintone_paths = [("id",), ("type",), ("app",), ("app", "id"), ("record",), ("record", "$id"),
                     ("record", "$id", "value"), ("record", "$revision", "value"), ("record", "ステータス", "value"),
                     ("recordId",), ("comment",), ("url",)]
    gmosign_paths = [("envelope_xid",), ("envelope_name",), ("event",), ("document_list",)]
    kintone_bodies = generate(rng, kintone_valid, kintone_paths, BODIES)
    gmosign_bodies = generate(rng, gmosign_valid, gmosign_paths, BODIES)
    env = {"KGBRIDGE_REDIS_URL": redis_url, "KGBRIDGE_CONNECTOR_MODE": "fake", "KGBRIDGE_WEBHOOK_TOKEN": WEBHOOK_TOKEN,
           "KGBRIDGE_GMOSIGN_WEBHOOK_TOKEN": GMOSIGN_WEBHOOK_TOKEN, "KGBRIDGE_MAX_BODY_BYTES": str(MAX_BODY),
           "KGBRIDGE_LOG_LEVEL": "WARNING"}

    started = time.monotonic()
    with Gunicorn(env, name="gunicorn-fuzz") as web:
        kintone_codes = _check_answers(Sender(web.port, f"/webhooks/kintone/{WEBHOOK_TOKEN}").send(kintone_bodies))
        gmosign_codes = _check_answers(Sender(web.port, f"/webhooks/gmosign/{GMOSIGN_WEBHOOK_TOKEN}").send(gmosign_bodies))
    sent_in = time.monotonic() - started
    recorded = redis_conn.llen(inbox_key(settings))

    dispatched = dispatch_inbox(redis_conn, settings, mappings)
    work_queue(redis_conn, settings)

    print(f"\nfuzz (seed {SEED}): kintone {dict(sorted(kintone_codes.items()))}, "
          f"GMO Sign {dict(sorted(gmosign_codes.items()))}, {2 * BODIES} bodies in {sent_in:.1f} s, "
          f"{recorded} events recorded, {dispatched} dispatched")
    assert sum(kintone_codes.values()) == sum(gmosign_codes.values()) == BODIES
    # Both kinds of answer came in numbers: the generator reached the validation, and the flows.
    assert kintone_codes[200] > BODIES // 5 and gmosign_codes[200] > BODIES // 5
    assert {400, 413, 422} <= set(kintone_codes) and {400, 413, 422} <= set(gmosign_codes)
    assert dispatched == recorded > 0
    assert redis_conn.llen(f"{inbox_key(settings)}:unroutable") == 0  # nothing accepted was set aside
    # No job failed for good on a body we accepted. One exception, until issue 15 lands (a callback for
    # an envelope no contract holds is answered from an index and never becomes a job): such a job
    # waits for its contract (ContractNotYetKnown) and fails after its retries.
    failed = [Job.fetch(i, connection=redis_conn, serializer=JSONSerializer) for i in failed_jobs(redis_conn, settings)]
    unexplained = [(j.id, (j.exc_info or "").strip().splitlines()[-1:]) for j in failed
                   if not (j.kwargs.get("flow") == "signature_status" and j.kwargs.get("envelope_id") != envelope_id
                           and "ContractNotYetKnown" in (j.exc_info or ""))]
    print(f"failed jobs: {len(failed)} (for envelopes no contract holds: {len(failed) - len(unexplained)})")
    assert unexplained == []
