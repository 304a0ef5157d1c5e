"""``kgbridge mapping check [APP]``: our mappings against the app's form and process settings,
read from the fake kintone (which answers the same two API calls as the live one)."""

from __future__ import annotations

import json
import shutil

import structlog.testing
from click.testing import CliRunner

from cli import main
from connectors.kintone import KintoneAuthError
from connectors.kintone.fake import FakeAction, FakeKintone
from kgbridge.ops.env import OpsEnv
from mappings import load_mappings
from tests.conftest import ROOT

ORDERS, CLIENTS = "3", "1"


def test_apps_that_match_their_mappings_pass_with_two_calls_per_process_app(cli, kintone, mappings):
    result = cli("mapping", "check")

    assert result.exit_code == 0, result.stdout
    for m in mappings:
        assert f"{m.key} (app {m.id} {m.app.label})" in result.stdout
    assert result.stdout.count("all match") == len(list(mappings))
    orders = mappings["orders"]
    assert f"{len(orders.fields)} fields, {len(orders.process.statuses)} statuses" in result.stdout
    expected = {("get_form_fields", m.id): 1 for m in mappings}
    expected.update({("get_process_settings", m.id): 1 for m in mappings if m.process})
    assert kintone.calls == expected
    assert ("get_process_settings", CLIENTS) not in kintone.calls  # no process management: one call


def test_a_table_column_missing_from_the_app_is_reported_with_its_table(cli, kintone, mappings):
    follow_ups = mappings["follow_ups"]
    table = follow_ups.field("issues").code
    del kintone.apps[follow_ups.id].tables[table]["対応期限"]

    result = cli("mapping", "check", "follow_ups", "--json")

    assert result.exit_code == 1
    [report] = json.loads(result.stdout)["apps"]
    assert [(p["name"], p["code"], p["problem"]) for p in report["problems"]] == [
        ("issues.issue_due", "対応期限", f"no field with this code in table {table}")]


def test_every_missing_or_mistyped_field_status_and_action_is_reported(cli, kintone):
    app = kintone.apps[ORDERS]
    del app.fields["募集背景"]
    app.fields["請求単価"] = "SINGLE_LINE_TEXT"
    app.actions = [a for a in app.actions if a.name != "上長承認依頼"]  # renamed in the app
    app.actions.append(FakeAction("承認依頼", "未処理", "上長承認待ち"))
    app.actions = [FakeAction("差戻し", "上長承認待ち", "終了") if a.name == "差戻し" else a for a in app.actions]
    app.actions = [a for a in app.actions if a.to_status != "受付済" and a.from_status != "受付済"]
    app.actions.append(FakeAction("承認", "上長承認待ち", "承認済"))

    result = cli("mapping", "check", "orders", "--json")

    assert result.exit_code == 1
    [report] = json.loads(result.stdout)["apps"]
    problems = {(p["what"], p["code"]): p["problem"] for p in report["problems"]}
    assert problems == {
        ("field", "募集背景"): "no field with this code",
        ("field", "請求単価"): "type is SINGLE_LINE_TEXT in the app, NUMBER in the mapping",
        ("status", "受付済"): "no such status",
        ("action", "上長承認依頼"): "no such action",
        ("action", "承認"): "goes 上長承認待ち → 承認済 in the app; the mapping says 上長承認待ち → 受付済",
        ("action", "差戻し"): "goes 上長承認待ち → 終了 in the app; the mapping says 上長承認待ち → 未処理",
        ("action", "終了"): "no such action",
    }
    table = cli("mapping", "check", "orders").stdout
    assert "7 problem(s)" in table and "募集背景" in table


def test_process_management_turned_off_is_reported(cli, kintone):
    kintone.apps[ORDERS].status_field = None

    result = cli("mapping", "check", "3")

    assert result.exit_code == 1
    assert "process management is turned off" in result.stdout


def test_an_app_that_cannot_be_read_is_reported_and_the_others_still_checked(cli, kintone, mappings):
    kintone.fail_next("get_form_fields", KintoneAuthError("GET app/form/fields.json: no permission", status=401,
                                                          code="CB_AU01"))

    data = json.loads(cli("mapping", "check", "--json").stdout)

    first, *others = data["apps"]
    assert [p["problem"][:20] for p in first["problems"]] == ["cannot read the form"]
    assert others and all(r["problems"] == [] for r in others)
    assert data["problems"] == 1
    assert all(kintone.calls[("get_form_fields", m.id)] == 1 for m in mappings)


def test_an_unknown_app_is_bad_usage(cli, mappings):
    result = cli("mapping", "check", "invoices")
    assert result.exit_code == 2
    known = ", ".join(f"{m.key} ({m.id})" for m in mappings)
    assert f"known apps: {known}" in result.stderr
    assert "orders (3)" in known and "contracts (5)" in known


def test_a_trigger_naming_an_unknown_flow_or_status_is_reported(tmp_path, settings, redis_conn):
    folder = tmp_path / "mappings"
    shutil.copytree(ROOT / "mappings" / "default", folder)
    orders = folder / "orders.toml"
    orders.write_text(orders.read_text(encoding="utf-8").replace(
        'flow = "order_registration"\nevents = ["ADD_RECORD", "UPDATE_RECORD", "UPDATE_STATUS"]',
        'flow = "order_registration"\nevents = ["UPDATE_STATUS"]\nstatuses = ["approved"]\n\n'
        '[[triggers]]\nflow = "order_archiving"\nevents = ["UPDATE_STATUS"]'), encoding="utf-8")
    mappings = load_mappings(folder)
    env = OpsEnv(settings_=settings, connection_=redis_conn, mappings_=mappings,
                 kintone_=FakeKintone.from_mappings(mappings))
    with structlog.testing.capture_logs():
        result = CliRunner().invoke(main, ["mapping", "check", "orders", "--json"], obj=env)

    assert result.exit_code == 1
    problems = {(p["name"], p["code"]): p["problem"] for p in json.loads(result.stdout)["apps"][0]["problems"]}
    assert problems == {
        ("order_registration", "approved"): "the trigger names a status the mapping does not define",
        ("order_archiving", ""): "no flow of this name",
    }


# -- options, lookups, execution conditions (issue 14) ---------------------------------------------


def _with(mappings_dir, tmp_path, file: str, old: str, new: str):
    folder = tmp_path / "mappings"
    shutil.copytree(mappings_dir, folder)
    path = folder / file
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return load_mappings(folder)


def _check(mappings, kintone, app):
    env = OpsEnv(mappings_=mappings, kintone_=kintone)
    with structlog.testing.capture_logs():
        result = CliRunner().invoke(main, ["mapping", "check", app, "--json"], obj=env, catch_exceptions=False)
    return result.exit_code, [(p["name"], p["code"], p["problem"]) for p in json.loads(result.stdout)["apps"][0]["problems"]]


def test_an_option_the_flows_write_that_the_app_lacks_is_reported(tmp_path):
    mappings = _with(ROOT / "mappings" / "default", tmp_path, "clients.toml",
                     'credit_status = { code = "与信状態", type = "DROP_DOWN", label = "与信状態"',
                     'credit_status = { code = "与信状態", type = "DROP_DOWN", label = "与信状態", '
                     'options = ["未申請", "審査中", "承認", "否認"]')
    kintone = FakeKintone.from_mappings(mappings)
    assert _check(mappings, kintone, "clients") == (0, [])

    live = kintone.apps[mappings["clients"].id].form_properties["与信状態"]["options"]
    del live["否認"]
    live["却下"] = {"label": "却下", "index": "3"}
    code, problems = _check(mappings, kintone, "clients")
    assert code == 1
    assert problems == [("credit_status", "与信状態", "no option 否認 (the app has: 却下, 審査中, 承認, 未申請)")]


def test_a_lookup_to_the_wrong_app_or_no_lookup_is_reported(mappings):
    kintone = FakeKintone.from_mappings(mappings)
    orders = mappings["orders"]
    assert _check(mappings, kintone, "orders") == (0, [])

    kintone.apps[orders.id].form_properties["顧客"]["lookup"]["relatedApp"]["app"] = "99"
    assert _check(mappings, kintone, "orders") == (1, [
        ("client", "顧客", f"looks up app 99 in the app; the mapping says clients (app {mappings['clients'].id})")])

    kintone.apps[orders.id].form_properties["顧客"]["lookup"]["relatedApp"]["app"] = mappings["clients"].id
    kintone.apps[orders.id].form_properties["顧客"]["lookup"]["relatedKeyField"] = "法人番号"
    assert _check(mappings, kintone, "orders") == (1, [
        ("client", "顧客", "looks up by 法人番号 in the app; the mapping says by 会社名")])

    del kintone.apps[orders.id].form_properties["顧客"]
    assert _check(mappings, kintone, "orders") == (1, [
        ("client", "顧客", "not a lookup in the app; the mapping looks up clients by 会社名")])


def test_an_action_whose_execution_condition_differs_is_reported(mappings, kintone):
    workflow = mappings["workflow"]
    key, action = next((k, a) for k, a in workflow.process.actions.items() if a.condition)
    app = kintone.apps[workflow.id]
    assert _check(mappings, kintone, "workflow") == (0, [])

    for live in app.actions:
        if live.name == action.name and live.condition == action.condition:
            live.condition = ""  # an administrator removed the condition in kintone
    code, problems = _check(mappings, kintone, "workflow")
    assert code == 1
    assert problems == [(key, action.name, f"execution condition is '(none)' in the app; the mapping says "
                                          f"{action.condition!r}")]


def test_options_on_a_text_field_are_a_mapping_error(tmp_path):
    import pytest

    from mappings import MappingError

    with pytest.raises(MappingError, match="options are for"):
        _with(ROOT / "mappings" / "default", tmp_path, "orders.toml",
              'client = { code = "顧客", type = "SINGLE_LINE_TEXT", label = "顧客"',
              'client = { code = "顧客", type = "SINGLE_LINE_TEXT", label = "顧客", options = ["a"]')
