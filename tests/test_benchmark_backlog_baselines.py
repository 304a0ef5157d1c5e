"""The backlog benchmark's "today" figures (one job per record, benchmarks/backlog.py ``per_record_*``),
which docs/benchmarks.md §6–§6f divide the page paths' calls by: each runs, and costs per record what
the docs say one job per record costs. 200 records less 100 records leaves the sweep's queries out.

(A helper's name shadowed by another in benchmarks/backlog.py once broke ``per_record_follow_up_calls``
with a TypeError while every test stayed green: these tests run each baseline.)"""

from __future__ import annotations

from collections import Counter

from benchmarks import backlog

ORDERS, CLIENTS, INQUIRIES, WORKFLOW, CONTRACTS, VISITS, FOLLOW_UPS = "3", "1", "2", "4", "5", "6", "7"


def per_100(count) -> Counter:
    """The calls of 100 more records: count(200) − count(100)."""
    return count(200) - count(100)


def test_orders_and_inquiries_one_job_each():
    assert per_100(backlog.per_record_calls) == Counter({ORDERS: 200, CLIENTS: 100, VISITS: 100})
    assert per_100(backlog.per_record_inquiry_calls) == Counter({INQUIRIES: 550, CLIENTS: 200})


def test_follow_ups_of_concluded_contracts_one_job_each():
    # §6c: the contract and its comment on Contracts; its follow-ups, the timeline and one add on Follow-ups
    assert per_100(backlog.per_record_follow_up_calls) == Counter({CONTRACTS: 200, FOLLOW_UPS: 300})


def test_visits_and_next_follow_ups_one_job_each():
    assert per_100(lambda n: backlog.per_record_backlog_calls("visits", n)) == Counter(
        {VISITS: 200, CLIENTS: 200, ORDERS: 100})
    assert per_100(lambda n: backlog.per_record_backlog_calls("follow_ups", n)) == Counter({FOLLOW_UPS: 500})


def test_applications_one_job_each():
    calls = per_100(lambda n: backlog.per_record_application_calls(n)[0])
    comments = per_100(lambda n: backlog.per_record_application_calls(n)[1])
    effects = per_100(lambda n: backlog.per_record_application_calls(n)[2])
    assert calls == Counter({WORKFLOW: 250, CLIENTS: 60, ORDERS: 10})
    assert comments == Counter({WORKFLOW: 70})
    assert effects == Counter({CLIENTS: 40, WORKFLOW: 20, ORDERS: 10})


def test_contracts_one_job_each():
    kintone, gstaff = (per_100(lambda n, i=i: backlog.per_record_contract_calls(n, "staffing")[i]) for i in (0, 1))
    assert (kintone, gstaff) == (Counter({CONTRACTS: 300}), Counter({"share_individual_contract": 100}))
    # §6f: each 締結済 contract reads itself and queries its client's 基本契約 (2 calls); the 100 clients'
    # 基本契約 are each extended once, in G-Staff and in kintone, however many contracts need them
    retention = per_100(lambda n: backlog.per_record_contract_calls(n, "retention")[0])
    assert retention == Counter({CONTRACTS: 200})
    assert backlog.per_record_contract_calls(1000, "retention") == (
        Counter({CONTRACTS: 2203}), Counter({"extend_retention": 100}))


def test_the_backlog_module_defines_each_top_level_name_once():
    """Each helper wrote its scenario into benchmarks/backlog.py; a second ``_contracts`` or
    ``CONTRACT_TOKENS`` silently replaced the first and broke the follow-up scenario at run time."""
    import ast
    from pathlib import Path

    tree = ast.parse(Path(backlog.__file__).read_text(encoding="utf-8"))
    names = Counter(n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.ClassDef))
    names += Counter(t.id for n in tree.body if isinstance(n, ast.Assign) for t in n.targets
                     if isinstance(t, ast.Name))
    assert [name for name, times in names.items() if times > 1] == []


def test_every_backlog_section_returns_its_figures():
    """``print_backlog`` adds up what each scenario's print function returns for the JSON results; one
    that returned nothing (the 稟議 scenario's) ended ``python -m benchmarks --only backlog`` in a TypeError
    after its table."""
    import ast
    from pathlib import Path

    source = Path(backlog.__file__).with_name("__main__.py").read_text(encoding="utf-8")
    sections = [n for n in ast.parse(source).body if isinstance(n, ast.FunctionDef)
                and (n.name.startswith("print_backlog") or n.name == "print_follow_up_backlog")]
    silent = [n.name for n in sections
              if not any(isinstance(r, ast.Return) and r.value is not None for r in ast.walk(n))]
    assert len(sections) >= 5 and silent == []
