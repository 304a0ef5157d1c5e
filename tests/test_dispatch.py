"""From webhook to job in two halves: the receiver records an event with one Redis call, the
worker's dispatcher turns it into flow jobs, and neither half loses or doubles anything.

Real Redis, the real receiver (Flask's test client) and real RQ workers; a dispatcher "killed" is
one that stops between two of its steps and never beats again, which is all a SIGKILL leaves behind.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import fakeredis
import pytest
from rq import Queue
from rq.serializers import JSONSerializer

from kgbridge.dispatch import Dispatcher, alive_key, processing_key, running
from kgbridge.inbox import InboxEvent, inbox_key, route
from kgbridge.jobs import enqueue_flow
from kgbridge.samples import notification
from mappings import Mappings
from tests.fault_kit import (
    CLIENTS,
    ORDERS,
    failed_jobs,
    finished_jobs,
    post_webhook,
    queued,
    seed_client,
    seed_order,
    webhook_body,
)
from tests.pii import PERSONAL_DATA
from tests.procs import wait_until
from webhooks import create_app

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def app(settings, redis_conn, ctx):
    return create_app(settings, connection=redis_conn)


@pytest.fixture
def order(kintone):
    """A new complete order of a client with approved credit, full of personal data."""
    return seed_order(kintone, seed_client(kintone))


def job_for(record_id: str) -> str:
    return f"order_registration-orders-{record_id}-r1"


def inbox(redis_conn, settings) -> list[dict]:
    return [json.loads(raw) for raw in redis_conn.lrange(inbox_key(settings), 0, -1)]


def data_commands(redis_conn) -> dict[str, int]:
    """Redis commands run since the last CONFIG RESETSTAT, by name (inside scripts too), without
    the connection's own housekeeping and these statistics' own commands."""
    housekeeping = ("client", "hello", "ping", "select", "info", "config")
    return {name.removeprefix("cmdstat_"): stat["calls"] for name, stat in redis_conn.info("commandstats").items()
            if not name.removeprefix("cmdstat_").startswith(housekeeping)}


def everything_in(redis_conn) -> str:
    """Every key and value in Redis, as text."""
    values = []
    for key in redis_conn.keys("*"):
        kind = redis_conn.type(key)
        if kind == b"string":
            values.append(redis_conn.get(key))
        elif kind == b"list":
            values += redis_conn.lrange(key, 0, -1)
        elif kind == b"set":
            values += redis_conn.smembers(key)
        elif kind == b"hash":
            values += [v for pair in redis_conn.hgetall(key).items() for v in pair]
        else:
            raise AssertionError(f"a {kind} in Redis: read it here too")
        values.append(key)
    return "\n".join(v.decode("utf-8", "replace") for v in values)


# -- the receiver's half ---------------------------------------------------------------------------


def test_an_accepted_webhook_is_one_redis_call_that_marks_it_seen_and_records_it(app, kintone, order, redis_conn,
                                                                                 settings):
    client = app.test_client()
    post_webhook(client, webhook_body(kintone, seed_order(kintone, seed_client(kintone))))  # Redis knows the script
    redis_conn.config_resetstat()

    body = webhook_body(kintone, order)
    first = post_webhook(client, body)
    counted = data_commands(redis_conn)
    redis_conn.config_resetstat()
    again = post_webhook(client, body)

    assert first.get_json() == {"ok": True, "duplicate": False, "jobs": 1}
    # One round trip; inside it the pre-namespace mark's EXISTS (kgbridge.inbox), SET and RPUSH.
    assert counted == {"evalsha": 1, "exists": 1, "set": 1, "rpush": 1}
    assert again.get_json() == {"ok": True, "duplicate": True, "jobs": 0}
    assert data_commands(redis_conn) == {"evalsha": 1, "exists": 1, "set": 1}  # seen before: nothing appended
    assert len(inbox(redis_conn, settings)) == 2 and queued(redis_conn, settings) == 0


def test_the_inbox_holds_the_routing_facts_only_and_no_personal_data(app, kintone, mappings, order, redis_conn,
                                                                    settings):
    body = webhook_body(kintone, order, event_id="8d3c2a5e-0c55-4b8e-9a3f-2f6f1c1d9e01")

    post_webhook(app.test_client(), body)

    assert inbox(redis_conn, settings) == [{
        "v": 1, "origin": "kintone", "event_id": "8d3c2a5e-0c55-4b8e-9a3f-2f6f1c1d9e01", "app": "orders",
        "record_id": order, "marker": "r1", "type": "ADD_RECORD",
        "status": mappings["orders"].status_key(kintone.record_values(ORDERS, order)["ステータス"]),
        "flow": None, "params": {}, "source": "webhook"}]
    assert any(person in body for person in PERSONAL_DATA)  # the notification carried some
    stored = everything_in(redis_conn)
    assert [person for person in PERSONAL_DATA if person in stored or json.dumps(person)[1:-1] in stored] == []


def test_after_redis_forgot_the_script_the_event_is_still_recorded_once(app, kintone, order, redis_conn, settings):
    redis_conn.script_flush()  # what a Redis restart does to its script cache

    answers = [post_webhook(app.test_client(), webhook_body(kintone, order, event_id="after-restart"))
               for _ in range(2)]

    assert [a.get_json()["duplicate"] for a in answers] == [False, True]
    assert len(inbox(redis_conn, settings)) == 1


def test_the_same_notification_delivered_many_times_at_once_is_recorded_once(app, kintone, order, redis_conn,
                                                                             settings, drain):
    body = webhook_body(kintone, order)

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda _: post_webhook(app.test_client(), body), range(16)))
    recorded = len(inbox(redis_conn, settings))
    drain()

    assert sorted(a.get_json()["duplicate"] for a in answers) == [False] + [True] * 15
    assert recorded == 1
    assert finished_jobs(redis_conn, settings) == [job_for(order)]
    assert kintone.calls[("update_status", ORDERS)] == 1


# -- the dispatcher's half -------------------------------------------------------------------------

KILL_POINTS = {
    "after taking the event, before enqueueing its job": False,
    "after enqueueing its job, before dropping the event": True,
}


@pytest.mark.parametrize("enqueued", KILL_POINTS.values(), ids=KILL_POINTS.keys())
def test_a_dispatcher_killed_midway_loses_nothing_and_its_event_becomes_one_job(enqueued, app, kintone, mappings,
                                                                                order, redis_conn, settings, drain):
    quick = settings.model_copy(update={"worker_heartbeat_seconds": 1, "worker_dead_after_seconds": 2})
    post_webhook(app.test_client(), webhook_body(kintone, order))
    killed = Dispatcher(redis_conn, quick, mappings, name="killed")
    killed.beat()
    raw = killed.take()
    if enqueued:
        for request in route(mappings, InboxEvent.loads(raw)):
            enqueue_flow(killed.queue, quick, request)
    # ... and nothing more from it: no LREM, no heartbeat.
    survivor = Dispatcher(redis_conn, quick, mappings, name="survivor")

    assert survivor.recover() == 0  # its heartbeat is fresh: it may only be slow
    assert survivor.take() is None  # the event is in nobody's way but the killed one's
    assert wait_until(survivor.recover, 10, "the killed dispatcher's heartbeat to lapse") == 1
    drain()

    assert finished_jobs(redis_conn, settings) == [job_for(order)]
    assert failed_jobs(redis_conn, settings) == []
    assert kintone.record_values(ORDERS, order)["ステータス"] == "上長承認待ち"
    assert kintone.calls[("update_status", ORDERS)] == 1
    assert redis_conn.llen(processing_key("killed")) == 0 and inbox(redis_conn, settings) == []
    assert redis_conn.smembers(survivor.registry) == set()  # the killed one is forgotten, the drain deregistered


def test_a_dispatcher_that_stops_cleanly_gives_back_what_it_held(app, kintone, mappings, order, redis_conn, settings):
    post_webhook(app.test_client(), webhook_body(kintone, order))
    dispatcher = Dispatcher(redis_conn, settings, mappings)
    dispatcher.beat()
    dispatcher.take()

    dispatcher.close()

    assert [entry["record_id"] for entry in inbox(redis_conn, settings)] == [order]
    assert not redis_conn.exists(alive_key(dispatcher.name), processing_key(dispatcher.name))
    assert redis_conn.smembers(dispatcher.registry) == set()


def _an_app_no_longer_mapped(client, kintone, mappings, redis_conn, settings, order) -> Mappings:
    """The receiver recorded an Orders event; the worker's mappings no longer have the Orders app."""
    post_webhook(client, webhook_body(kintone, order))
    return Mappings([m for m in mappings if m.key != "orders"])


def _an_unknown_format(client, kintone, mappings, redis_conn, settings, order) -> Mappings:
    """A newer receiver recorded an entry in a format this dispatcher does not know."""
    redis_conn.rpush(inbox_key(settings), json.dumps({"v": 2, "event_id": "from-a-newer-receiver"}))
    return mappings


UNROUTABLE = {"an app the worker no longer maps": _an_app_no_longer_mapped,
              "an entry in a format the worker does not know": _an_unknown_format}


@pytest.mark.parametrize("arrange", UNROUTABLE.values(), ids=UNROUTABLE.keys())
def test_an_event_that_cannot_be_routed_is_set_aside_and_the_next_one_goes_on(arrange, app, kintone, mappings,
                                                                              order, redis_conn, settings):
    client = app.test_client()
    workers_mappings = arrange(client, kintone, mappings, redis_conn, settings, order)
    [unroutable] = redis_conn.lrange(inbox_key(settings), 0, -1)
    new_client = seed_client(kintone)
    post_webhook(client, json.dumps(notification(kintone, CLIENTS, new_client), ensure_ascii=False))

    Dispatcher(redis_conn, settings, workers_mappings).drain()

    assert redis_conn.lrange(f"{inbox_key(settings)}:unroutable", 0, -1) == [unroutable]  # kept, not lost
    assert inbox(redis_conn, settings) == []
    queue = Queue(settings.queue_name, connection=redis_conn, serializer=JSONSerializer)
    assert queue.job_ids == [f"client_lookup-clients-{new_client}-r1"]


@pytest.mark.parametrize("redis_kind", ["real Redis", "the embedded mode's in-process Redis"])
def test_a_running_dispatcher_enqueues_a_recorded_event_at_once_and_deregisters_when_stopped(
        redis_kind, settings, mappings, redis_conn, kintone, ctx, order):
    connection = redis_conn if redis_kind == "real Redis" else fakeredis.FakeRedis(server=fakeredis.FakeServer())
    client = create_app(settings, connection=connection).test_client()
    queue = Queue(settings.queue_name, connection=connection, serializer=JSONSerializer)

    with running(connection, settings, mappings) as dispatcher:
        assert post_webhook(client, webhook_body(kintone, order)).status_code == 200
        wait_until(lambda: job_for(order) in queue.job_ids, 10, "the dispatcher to enqueue the job")
        assert connection.smembers(dispatcher.registry) == {dispatcher.name.encode()}

    assert connection.smembers(dispatcher.registry) == set()
    assert connection.llen(inbox_key(settings)) == 0 and not connection.exists(alive_key(dispatcher.name))
