"""Bad input thrown at the receivers (hypothesis): malformed, oversized, wrongly typed and deeply
nested bodies. Never a 500; a refused body enqueues nothing, writes nothing to Redis, and the answer
says why.

The receivers are cases of ``RECEIVERS``: kintone's notifications and GMO Sign's callbacks. A new
receiver is a new case with a function that builds a valid body for it and the parts of that body
worth breaking. Everything goes through the receiver's HTTP interface (Flask's test client).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from pydantic import SecretStr

from connectors.gmosign import Signer, TemplateSend
from connectors.gmosign.fake import FakeGmoSign
from kgbridge.samples import notification, seed_embedded
from tests.conftest import WEBHOOK_TOKEN
from tests.fault_kit import queued
from tests.pii import COMPANY_NAME, GMOSIGN_WEBHOOK_TOKEN, PERSON_EMAIL, PERSON_NAME, PERSON_PHONE
from webhooks import create_app

MAX_BODY = 4096  # a small limit so oversized bodies stay cheap to generate
EXAMPLES = hsettings(max_examples=60, deadline=None, derandomize=True,
                     suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@dataclass(frozen=True)
class Receiver:
    name: str
    path: str
    valid_body: Callable  # (fake kintone, ids) -> dict
    parts: tuple[tuple[str | int, ...], ...]  # where in the valid body the mutations strike


def _kintone_body(fake, ids) -> dict:
    return notification(fake, "3", ids["order_complete"])


def _gmosign_body(fake, ids) -> dict:
    """The documented completion callback for the sample contract, as GMO Sign would post it."""
    gmosign = FakeGmoSign()
    sent = gmosign.send_from_template(TemplateSend(
        template_id="TPL-INDIVIDUAL", envelope_name=f"労働者派遣個別契約書（{COMPANY_NAME}）",
        document_code=f"kintone-contracts-{ids['contract']}", signers=[Signer(PERSON_NAME, PERSON_EMAIL)]))
    return gmosign.complete(sent.envelope_id)


RECEIVERS = [
    Receiver("kintone", f"/webhooks/kintone/{WEBHOOK_TOKEN}", _kintone_body,
             (("id",), ("type",), ("app",), ("app", "id"), ("record",), ("record", "$id"), ("record", "$id", "value"),
              ("record", "$revision", "value"), ("record", "ステータス", "value"), ("recordId",), ("comment",))),
    Receiver("gmosign", f"/webhooks/gmosign/{GMOSIGN_WEBHOOK_TOKEN}", _gmosign_body,
             (("envelope_xid",), ("envelope_name",), ("event",), ("document_list",), ("document_list", 0),
              ("document_list", 0, "documentId"), ("document_list", 0, "document_name"))),
]


def _app(settings, redis_conn, **update):
    """The receiver, taking kintone's notifications and GMO Sign's callbacks."""
    update["gmosign_webhook_token"] = SecretStr(GMOSIGN_WEBHOOK_TOKEN)
    return create_app(settings.model_copy(update=update), connection=redis_conn)

# JSON values of every type, nested; text includes personal data so the log scan sees it tried.
_leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                  st.text(max_size=40), st.sampled_from([PERSON_NAME, PERSON_PHONE, PERSON_EMAIL, "", "3", "$id"]))
json_values = st.recursive(_leaf, lambda inner: st.one_of(st.lists(inner, max_size=5),
                                                           st.dictionaries(st.text(max_size=10), inner, max_size=5)),
                           max_leaves=30)


@pytest.fixture
def setup(settings, redis_conn, ctx, kintone, mappings):
    from kgbridge import envelopes

    envelopes.remember(redis_conn, "ENV000001", "contracts", "1")  # the sample contract's envelope (_gmosign_body)
    return _app(settings, redis_conn, max_body_bytes=MAX_BODY).test_client(), seed_embedded(kintone, mappings)


def _check(client, path, data: bytes, redis_conn, settings, content_type="application/json"):
    """Post; assert the answer is never a 500 and a refusal changes nothing. Return the response."""
    keys_before, queued_before = redis_conn.dbsize(), queued(redis_conn, settings)
    response = client.post(path, data=data, content_type=content_type)
    assert response.status_code < 500, response.get_data(as_text=True)
    if response.status_code != 200:
        assert response.status_code in (400, 404, 413, 415, 422)
        body = response.get_json()
        assert body["ok"] is False and body["error"].strip()
        assert redis_conn.dbsize() == keys_before and queued(redis_conn, settings) == queued_before
    return response


def _mutations(valid: dict, paths):
    """A valid body (as bytes) with one part replaced by any JSON value, removed, or buried deep.

    A path walks dicts by key and lists by index; a part the body lacks is added.
    """
    hole = "\u0000HOLE\u0000"

    def step(node, key):
        if isinstance(node, list):
            return node[key] if isinstance(key, int) and key < len(node) else {}
        return node.setdefault(key, {}) if isinstance(node, dict) else {}

    def apply(path, action, value) -> bytes:
        body = json.loads(json.dumps(valid))
        node = body
        for key in path[:-1]:
            node = step(node, key)
        last = path[-1]
        if isinstance(node, list) and not (isinstance(last, int) and last < len(node)):
            node, last = {}, "-"  # nothing there to strike: the body stays valid
        if action == "drop":
            if isinstance(node, list):
                del node[last]
            else:
                node.pop(last, None)
            return json.dumps(body, ensure_ascii=False).encode()
        if action == "replace":
            node[last] = value
            return json.dumps(body, ensure_ascii=False).encode()
        # bury the current value under ``value`` levels of lists (written as text: too deep to build)
        current = json.dumps(node[last] if isinstance(node, list) else node.get(last), ensure_ascii=False)
        node[last] = hole
        text = json.dumps(body, ensure_ascii=False)
        return text.replace(json.dumps(hole), "[" * value + current + "]" * value).encode()

    # Any depth, and always some at the parser's nesting limit and past the size limit (a small body
    # like GMO Sign's needs ~2,000 levels to outgrow MAX_BODY; hypothesis favours small integers).
    depths = st.one_of(st.integers(min_value=1, max_value=3000), st.sampled_from([999, 1000, MAX_BODY // 2, MAX_BODY]))
    return st.one_of(
        st.builds(apply, st.sampled_from(paths), st.sampled_from(["drop", "replace"]), json_values),
        st.builds(apply, st.sampled_from(paths), st.just("bury"), depths),
    )


@pytest.mark.parametrize("receiver", RECEIVERS, ids=[r.name for r in RECEIVERS])
def test_arbitrary_bytes_never_cause_a_500_or_an_enqueue(receiver, setup, redis_conn, settings):
    client, _ = setup

    @EXAMPLES
    @given(data=st.binary(max_size=600))
    def run(data):
        response = _check(client, receiver.path, data, redis_conn, settings)
        assert response.status_code != 200 or data.strip().startswith(b"{")

    run()


@pytest.mark.parametrize("receiver", RECEIVERS, ids=[r.name for r in RECEIVERS])
def test_any_json_value_is_refused_with_a_reason(receiver, setup, redis_conn, settings):
    client, _ = setup

    @EXAMPLES
    @given(value=json_values)
    def run(value):
        data = json.dumps(value, ensure_ascii=False).encode()
        response = _check(client, receiver.path, data, redis_conn, settings)
        assert response.status_code in (400, 413, 422)

    run()


@pytest.mark.parametrize("receiver", RECEIVERS, ids=[r.name for r in RECEIVERS])
def test_wrongly_typed_or_missing_fields_are_refused_or_handled_never_a_500(receiver, setup, kintone, redis_conn,
                                                                            settings):
    client, ids = setup
    valid = receiver.valid_body(kintone, ids)
    seen = set()

    @EXAMPLES
    @given(data=_mutations(valid, receiver.parts))
    def run(data):
        response = _check(client, receiver.path, data, redis_conn, settings)
        seen.add(response.status_code)
        if response.status_code == 200:
            assert response.get_json()["ok"] is True

    run()
    assert {422, 413} <= seen  # the mutations did reach the validation, not only the size check


@pytest.mark.parametrize("receiver", RECEIVERS, ids=[r.name for r in RECEIVERS])
def test_oversized_bodies_get_413_before_anything_is_read(receiver, setup, redis_conn, settings):
    client, _ = setup

    @hsettings(max_examples=15, deadline=None, derandomize=True,
               suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(extra=st.integers(min_value=1, max_value=MAX_BODY * 4), filler=st.sampled_from([b" ", b"a", b"\xff", b"["]))
    def run(extra, filler):
        response = _check(client, receiver.path, filler * (MAX_BODY + extra), redis_conn, settings)
        assert response.status_code == 413

    run()


@pytest.mark.parametrize("receiver", RECEIVERS, ids=[r.name for r in RECEIVERS])
@pytest.mark.parametrize("depth", [10, 500, 999, 1000, 5000, 100000])
def test_deeply_nested_bodies_are_refused_without_a_500(receiver, depth, settings, redis_conn, ctx):
    # Room for the deepest body: the nesting, not the size, is what is tested here.
    client = _app(settings, redis_conn).test_client()
    for opener, closer in ((b"[", b"]"), (b'{"a":', b"}")):
        _check(client, receiver.path, opener * depth + b"1" + closer * depth, redis_conn, settings)


@pytest.mark.parametrize("receiver", RECEIVERS, ids=[r.name for r in RECEIVERS])
@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"])
def test_a_valid_body_under_another_content_type_is_still_read_once(receiver, content_type, setup, kintone, redis_conn,
                                                                    settings):
    client, ids = setup
    data = json.dumps(receiver.valid_body(kintone, ids), ensure_ascii=False).encode()
    response = _check(client, receiver.path, data, redis_conn, settings, content_type=content_type)
    assert response.status_code == 200 and response.get_json()["jobs"] == 1
