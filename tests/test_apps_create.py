"""``kgbridge apps create``: an integrator builds the apps of a mapping folder in an empty kintone,
then ``mapping check`` finds every field, option, lookup, status, action and condition in place.
The fake kintone's app management builds apps as kintone does (preview, then deploy); the live
client's requests are checked with ``responses`` against kintone's documented shapes."""

from __future__ import annotations

import base64
import json
import shutil

import pytest
import responses
import structlog.testing
from click.testing import CliRunner

from cli import main
from connectors.kintone import KintoneValidationError
from connectors.kintone.admin import LiveKintoneAdmin
from connectors.kintone.fake import FakeKintone
from connectors.kintone.fake_admin import FakeKintoneAdmin
from kgbridge.ops import apps_create as ac
from kgbridge.ops.env import OpsEnv
from mappings import load_mappings
from tests.conftest import ROOT


@pytest.fixture
def folder(tmp_path):
    target = tmp_path / "our-mappings"
    shutil.copytree(ROOT / "mappings" / "default", target)
    return target


def _cli(env, *args):
    with structlog.testing.capture_logs():
        return CliRunner().invoke(main, list(args), obj=env, catch_exceptions=False)


def test_the_apps_of_a_mapping_folder_are_built_and_then_pass_mapping_check(folder):
    kintone = FakeKintone()
    for n in range(1, 41):  # a kintone that already has other apps: the new ids come after them
        kintone.add_app(_other(n))
    admin = FakeKintoneAdmin(kintone)
    before = load_mappings(folder)

    result = _cli(OpsEnv(kintone_admin_=admin), "apps", "create", "--mapping-dir", str(folder),
                  "--base-url", "https://example.cybozu.com", "--login", "admin", "--json")

    assert result.exit_code == 0, result.output
    created = {a["key"]: a["app_id"] for a in json.loads(result.stdout)["apps"]}
    assert set(created) == {m.key for m in before}
    assert all(int(app_id) > 40 for app_id in created.values())
    after = load_mappings(folder)  # the ids were written back into the files
    assert {m.key: m.id for m in after} == created
    # the looked-up app came first, and the lookup points at its new id
    order = [a["key"] for a in json.loads(result.stdout)["apps"]]
    assert order.index("clients") < order.index("orders")
    orders_form = kintone.get_form_fields(created["orders"])
    assert orders_form["顧客"]["lookup"]["relatedApp"]["app"] == created["clients"]
    assert orders_form["残業の有無"]["options"].keys() == {"有", "無"}

    check = _cli(OpsEnv(mappings_=after, kintone_=kintone), "mapping", "check", "--json")
    assert check.exit_code == 0, check.stdout
    assert json.loads(check.stdout)["problems"] == 0


def _other(n):
    from connectors.kintone.fake import FakeApp

    return FakeApp(app_id=str(n), fields={"タイトル": "SINGLE_LINE_TEXT"})


def test_the_process_keeps_its_actions_conditions_and_assignee_field(folder):
    kintone = FakeKintone()
    admin = FakeKintoneAdmin(kintone)
    mappings = load_mappings(folder)
    settings = ac.process_settings(mappings["orders"])

    assert settings["enable"] is True
    assert list(settings["states"]) == list(mappings["orders"].process.statuses.values())
    awaiting = settings["states"]["上長承認待ち"]["assignee"]
    assert awaiting == {"type": "ONE", "entities": [{"entity": {"type": "FIELD_ENTITY", "code": "上長"},
                                                     "includeSubs": False}]}
    workflow = ac.process_settings(mappings["workflow"])
    conditions = {a["name"]: a["filterCond"] for a in workflow["actions"]}
    assert any(conditions.values())
    ac.create_apps(admin, mappings, folder, sleep=lambda s: None)
    orders_id = load_mappings(folder)["orders"].id
    [request] = [a for a in kintone.apps[orders_id].actions if a.name == "上長承認依頼"]
    assert request.needs_assignee


def test_an_interrupted_run_resumes_without_creating_an_app_twice(folder):
    kintone = FakeKintone()

    class FailsOnce(FakeKintoneAdmin):
        failed = False

        def set_process(self, app, settings):
            if not self.failed and self.previews[app].name == "オーダー":
                self.failed = True
                raise KintoneValidationError("status name too long", status=400, code="CB_VA01")
            return super().set_process(app, settings)

    admin = FailsOnce(kintone)
    mappings = load_mappings(folder)
    with pytest.raises(ac.AppsCreateError, match=r"orders: .*run the command again"):
        ac.create_apps(admin, mappings, folder, sleep=lambda s: None)
    done_before = {m.key for m in load_mappings(folder)} & set(json.loads((folder / ac.PROGRESS_FILE).read_text()))

    created = ac.create_apps(admin, load_mappings(folder), folder, sleep=lambda s: None)

    assert admin.calls.count("create_app") == len(list(mappings))
    assert admin.calls.count("add_fields") == len(list(mappings))
    assert {c.key for c in created if c.resumed} <= done_before
    assert len(kintone.apps) == len(list(mappings))


def test_a_radio_button_without_options_is_refused_before_anything_is_created(folder):
    path = folder / "inquiries.toml"
    path.write_text(path.read_text(encoding="utf-8").replace(', options = ["HP", "電話"]', ""), encoding="utf-8")
    admin = FakeKintoneAdmin(FakeKintone())
    from mappings import MappingError

    with pytest.raises(MappingError, match="RADIO_BUTTON needs its options"):
        ac.form_properties(load_mappings(folder)["inquiries"], load_mappings(folder), {})
    assert admin.calls == []


def test_a_failed_deployment_stops_with_the_app_named(folder):
    class DeployFails(FakeKintoneAdmin):
        def deploy_status(self, apps):
            return {a: "FAIL" for a in apps}

    with pytest.raises(ac.AppsCreateError, match="deployment FAIL"):
        ac.create_apps(DeployFails(FakeKintone()), load_mappings(folder), folder, sleep=lambda s: None)


def test_the_output_says_what_kintone_has_no_api_for():
    text = ac.render([ac.Created("orders", "51", "オーダー", webhook_events=["ADD_RECORD", "UPDATE_STATUS"])],
                     "https://kgb.example.jp/webhooks/kintone/<KGBRIDGE_WEBHOOK_TOKEN>")
    assert "kintone has no API for webhooks or API tokens" in text
    assert "オーダー (app 51): Webhook → https://kgb.example.jp/webhooks/kintone/<KGBRIDGE_WEBHOOK_TOKEN> on " \
           "ADD_RECORD, UPDATE_STATUS" in text
    assert "kgbridge mapping check" in text


# -- the live client, as kintone documents the calls ---------------------------------------------

BASE = "https://example.cybozu.com"


@responses.activate
def test_the_live_admin_sends_kintones_documented_requests_with_password_authentication():
    auth = base64.b64encode(b"admin:s3cret-pass").decode()
    match_auth = responses.matchers.header_matcher({"X-Cybozu-Authorization": auth})
    responses.post(f"{BASE}/k/v1/preview/app.json", json={"app": "51", "revision": "2"},
                   match=[match_auth, responses.matchers.json_params_matcher({"name": "オーダー"})])
    properties = {"案件名": {"type": "SINGLE_LINE_TEXT", "code": "案件名", "label": "案件名"}}
    responses.post(f"{BASE}/k/v1/preview/app/form/fields.json", json={"revision": "3"},
                   match=[match_auth, responses.matchers.json_params_matcher({"app": "51", "properties": properties})])
    process = {"enable": True, "states": {"未処理": {"name": "未処理", "index": "0"}}, "actions": []}
    responses.put(f"{BASE}/k/v1/preview/app/status.json", json={"revision": "4"},
                  match=[match_auth, responses.matchers.json_params_matcher({"app": "51", **process})])
    responses.post(f"{BASE}/k/v1/preview/app/deploy.json", json={},
                   match=[match_auth, responses.matchers.json_params_matcher({"apps": [{"app": "51"}]})])
    responses.get(f"{BASE}/k/v1/preview/app/deploy.json", json={"apps": [{"app": "51", "status": "SUCCESS"}]},
                  match=[match_auth, responses.matchers.query_param_matcher({"apps[0]": "51"})])

    admin = LiveKintoneAdmin(BASE, "admin", "s3cret-pass", sleep=lambda s: None)
    assert admin.create_app("オーダー") == "51"
    assert admin.add_fields("51", properties) == "3"
    assert admin.set_process("51", process) == "4"
    admin.deploy(["51"])
    assert admin.deploy_status(["51"]) == {"51": "SUCCESS"}
    assert "s3cret" not in repr(admin)


@responses.activate
def test_a_refused_creation_is_the_connectors_error_and_never_repeated():
    responses.post(f"{BASE}/k/v1/preview/app.json", status=403,
                   json={"code": "CB_NO02", "id": "x", "message": "権限がありません。"})
    admin = LiveKintoneAdmin(BASE, "sales", "pw", sleep=lambda s: None)
    from connectors.kintone import KintoneError

    with pytest.raises(KintoneError) as exc:
        admin.create_app("オーダー")
    assert exc.value.code == "CB_NO02"
    assert len(responses.calls) == 1
