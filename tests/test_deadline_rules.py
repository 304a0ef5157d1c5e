"""deadlines.toml is data: checked against the app mappings when the folder loads."""

from __future__ import annotations

import shutil

import pytest

from mappings import MappingError, load_mappings
from tests.conftest import ROOT

RULE = '''
[[rules]]
name = "broken"
app = "inquiries"
subject = "HPからのお問い合わせ"
task = "初回連絡"
start = "received_at"
limit = {{ business_days = 1 }}
done_when = [{{ field = "{done_field}", filled = true }}]
responsible = "{responsible}"
remind_text = "「{{first_contact_at}}」を入力してください。"
overdue_text = "至急ご連絡ください。"
'''


@pytest.fixture
def folder(tmp_path):
    target = tmp_path / "mappings"
    shutil.copytree(ROOT / "mappings" / "default", target)
    return target


def add_rule(folder, **names) -> None:
    values = {"done_field": "first_contact_at", "responsible": "sales_rep", **names}
    with open(folder / "deadlines.toml", "a", encoding="utf-8") as out:
        out.write(RULE.format(**values))


def test_the_default_rules_load_with_the_app_mappings():
    mappings = load_mappings(ROOT / "mappings" / "default")
    assert {r.app for r in mappings.deadlines.rules} <= {m.key for m in mappings}
    assert "deadlines" not in {m.key for m in mappings}


def test_a_rule_naming_an_unknown_field_stops_the_load_with_its_name(folder):
    add_rule(folder, done_field="first_contakt_at")
    with pytest.raises(MappingError, match="rule 'broken': app 'inquiries' has no field 'first_contakt_at'"):
        load_mappings(folder)


def test_a_rule_whose_responsible_is_not_a_user_field_is_refused(folder):
    add_rule(folder, responsible="company_name")
    with pytest.raises(MappingError, match="'company_name' must be a user field"):
        load_mappings(folder)


def test_emptiness_of_a_user_field_cannot_be_queried_and_is_refused(folder):
    add_rule(folder, done_field="sales_rep")
    with pytest.raises(MappingError, match="cannot test the USER_SELECT field 'sales_rep' for emptiness"):
        load_mappings(folder)


def test_a_folder_without_deadline_rules_has_none(folder):
    (folder / "deadlines.toml").unlink()
    assert load_mappings(folder).deadlines.rules == []


def test_a_digest_cannot_go_with_the_list_of_each_records_missing_items(folder):
    text = (folder / "deadlines.toml").read_text(encoding="utf-8")
    marker = 'name = "contract_items"\n'
    (folder / "deadlines.toml").write_text(text.replace(marker, marker + "digest_from = 5\n"), encoding="utf-8")
    with pytest.raises(MappingError, match="rule 'contract_items': digest_from cannot go with list_missing"):
        load_mappings(folder)


def test_a_digest_of_one_record_is_refused(folder):
    text = (folder / "deadlines.toml").read_text(encoding="utf-8")
    (folder / "deadlines.toml").write_text(text.replace("digest_from = 5\n", "digest_from = 1\n", 1), encoding="utf-8")
    with pytest.raises(MappingError, match="digest_from"):
        load_mappings(folder)


def test_the_default_rules_digest_nudges_and_keep_legal_notices_per_record():
    rules = {r.name: r.digest_from for r in load_mappings(ROOT / "mappings" / "default").deadlines.rules}
    assert rules["inquiry_assignment"] == rules["inquiry_first_contact"] == 5
    for legal in ("conflict_date_plan", "conflict_date_notice", "personal_conflict_date_plan",
                  "personal_conflict_date_notice", "master_contract_retention", "renewal_decision",
                  "contract_conclusion", "contract_items"):
        assert rules[legal] is None, legal
