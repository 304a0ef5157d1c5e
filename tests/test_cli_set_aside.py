"""`kgbridge events set-aside`: the events the dispatcher could not route are shown, and put back
once the mapping is fixed — never lost."""

from __future__ import annotations

import json

from rq.job import Job
from rq.serializers import JSONSerializer

from kgbridge.dispatch import Dispatcher
from kgbridge.samples import notification, seed_embedded
from mappings import Mappings
from tests.conftest import dispatch_inbox
from webhooks.intake import accept_kintone, parse_kintone

ORDERS = "3"


def test_an_event_for_an_app_no_longer_mapped_is_listed_and_dispatched_after_requeue(cli, ops_env, kintone,
                                                                                      mappings):
    ids = seed_embedded(kintone, mappings)
    body = json.dumps(notification(kintone, ORDERS, ids["order_complete"])).encode()
    [job_id] = accept_kintone(parse_kintone(body), **ops_env.intake()).jobs
    # The orders mapping was removed from the workers' folder by mistake: the dispatcher sets it aside.
    without_orders = Mappings([m for m in mappings if m.key != "orders"])
    Dispatcher(ops_env.connection, ops_env.settings, without_orders).drain()

    listed = cli("events", "set-aside", "--json")
    assert listed.exit_code == 1
    [row] = json.loads(listed.stdout)["set_aside"]
    assert row["app"] == "orders" and row["record_id"] == ids["order_complete"]
    assert "set aside" in cli("events", "set-aside").stdout

    requeued = cli("events", "set-aside", "--requeue", "--json")
    assert requeued.exit_code == 0 and json.loads(requeued.stdout) == {"requeued": 1}
    dispatch_inbox(ops_env.connection, ops_env.settings, mappings)  # the mapping is back

    assert Job.fetch(job_id, connection=ops_env.connection, serializer=JSONSerializer).get_status() == "queued"
    assert cli("events", "set-aside").exit_code == 0
