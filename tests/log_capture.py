"""Every log line the suite writes, kept in files and scanned at the end for secrets and personal data.

- In the test process, structlog is configured with the production chain (``kgbridge.logs``,
  redaction included) at DEBUG, writing JSON lines to a file; stdlib logging (werkzeug, rq,
  gunicorn, urllib3 …) goes to the same file through a root handler.
- Processes the tests start (workers, gunicorn) write their output to files from ``log_file()``.
- When the session ends, ``scan()`` looks for every seeded personal datum and every test secret in
  all of them; a finding fails the run and names the file, line and kind of datum.

conftest.py imports ``capture_logs`` and ``pytest_sessionfinish`` from here.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from kgbridge import logs

_state: dict = {}
_SECRET_NAME = re.compile(r"(TOKEN|SECRET|PASSWORD|API_KEY)", re.IGNORECASE)
# Fields of the sample records that hold a person's name or address (GMO Sign's signer and approver).
_PERSONAL_FIELDS = ("会社名", "顧客", "電話番号", "住所", "担当者名", "署名者氏名", "署名者メール", "担当営業メール")


def log_dir() -> Path:
    if "dir" not in _state:
        _state["dir"] = Path(tempfile.mkdtemp(prefix="kgbridge-test-logs-"))
    return _state["dir"]


def log_file(name: str) -> Path:
    """A fresh file in the scanned folder for a process's output."""
    stem = re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:80]
    n = len(list(log_dir().glob(f"{stem}*")))
    return log_dir() / f"{stem}-{n}.log"


def _sink():
    if "sink" not in _state:
        _state["sink"] = open(log_dir() / "test-process.log", "a", encoding="utf-8", buffering=1)
        handler = logging.StreamHandler(_state["sink"])
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
        root = logging.getLogger()
        root.addHandler(handler)
        root.setLevel(logging.DEBUG)
    return _state["sink"]


@pytest.fixture(autouse=True)
def capture_logs():
    """Log as production does (JSON, redaction), at DEBUG, into the scanned file."""
    logs.configure("DEBUG", "json", stream=_sink())
    yield


# -- what must never appear ------------------------------------------------------------------


@dataclass(frozen=True)
class Needle:
    kind: str
    text: str


def _sample_personal_data() -> set[str]:
    """Names, phones and company names from kgbridge/samples.py, read from the seeded records."""
    from connectors.kintone.fake import FakeKintone
    from kgbridge.samples import seed_embedded
    from mappings import load_mappings

    mappings = load_mappings(Path(__file__).resolve().parent.parent / "mappings" / "default")
    fake = FakeKintone.from_mappings(mappings)
    seed_embedded(fake, mappings)
    found: set[str] = set()
    for app in fake.apps.values():
        for record in app.records.values():
            for code, cell in record.items():
                value = cell.get("value")
                if cell.get("type") == "USER_SELECT":
                    found.update(u["name"] for u in value or [] if u.get("name"))
                elif code in _PERSONAL_FIELDS or (isinstance(value, str) and "@" in value):
                    if isinstance(value, str) and len(value) >= 4:
                        found.add(value)
    return found


def _test_secrets() -> set[str]:
    secrets: set[str] = set()
    for name, module in list(sys.modules.items()):
        if not name.startswith("tests"):
            continue
        for attr, value in vars(module).items():
            if _SECRET_NAME.search(attr) and isinstance(value, str) and len(value) >= 12:
                secrets.add(value)
            if attr == "API_TOKENS" and isinstance(value, dict):
                secrets.update(v for v in value.values() if isinstance(v, str))
            elif isinstance(value, dict):  # e.g. LIVE_ENV: the GMO Sign secret key, the webhook tokens
                for key, item in value.items():
                    if isinstance(key, str) and _SECRET_NAME.search(key) and isinstance(item, str):
                        secrets.update(s for s in _strings_in(item) if len(s) >= 12)
    return secrets


def _strings_in(value: str) -> list[str]:
    """The value, or the strings inside it when it is a JSON object (a token map in one setting)."""
    try:
        parsed = json.loads(value)
    except ValueError:
        return [value]
    return [v for v in parsed.values() if isinstance(v, str)] if isinstance(parsed, dict) else [value]


def needles() -> list[Needle]:
    from tests.pii import PERSONAL_DATA

    out = [Needle("personal data", t) for t in sorted(set(PERSONAL_DATA) | _sample_personal_data())]
    out += [Needle("secret", t) for t in sorted(_test_secrets())]
    variants = []
    for needle in out:
        escaped = json.dumps(needle.text)[1:-1]
        if escaped != needle.text:
            variants.append(Needle(needle.kind, escaped))
        digits = re.sub(r"\D", "", needle.text)
        if re.fullmatch(r"[\d\- ()+]+", needle.text) and len(digits) >= 10:
            variants.append(Needle(needle.kind, digits))
    return out + variants


def scan(paths: list[Path], wanted: list[Needle]) -> list[str]:
    """Each line of ``paths`` that contains a needle, described as ``file:line: kind 'text'``."""
    findings = []
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        for number, line in enumerate(text.splitlines(), 1):
            for needle in wanted:
                if needle.text in line:
                    findings.append(f"{path.name}:{number}: {needle.kind} {needle.text!r}: {line[:300]}")
    return findings


def pytest_sessionfinish(session, exitstatus):
    if "dir" not in _state:
        return
    if "sink" in _state:
        _state["sink"].flush()
    findings = scan(sorted(log_dir().glob("*.log")), needles())
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter:
        reporter.ensure_newline()
    if findings:
        lines = ["", f"LOG SCAN: {len(findings)} log line(s) carry a secret or personal datum "
                     f"(logs kept in {log_dir()}):"] + [f"  {f}" for f in findings[:50]]
        if reporter:
            for line in lines:
                reporter.write_line(line, red=True)
        else:
            print("\n".join(lines), file=sys.stderr)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        return
    if reporter:
        size = sum(p.stat().st_size for p in log_dir().glob("*.log"))
        reporter.write_line(f"log scan: no secret or personal datum in {size} bytes of captured logs")
    if not os.environ.get("KGBRIDGE_TEST_KEEP_LOGS"):
        shutil.rmtree(log_dir(), ignore_errors=True)
    elif reporter:
        reporter.write_line(f"captured logs kept in {log_dir()}")
