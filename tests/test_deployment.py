"""Deployment from one file: docker-compose.yml, .env.example, the Dockerfile, requirements.lock and
the systemd units say what README "Running in production" requires. (No Docker engine runs on the
test machines, so the files are checked as data; every setting and command they name must exist.)"""

from __future__ import annotations

import re
import shlex
import tomllib

import pytest
import yaml

from cli import main
from kgbridge.settings import OTHER_VARIABLES, Settings, known_variables
from tests.conftest import ROOT

JOB_TIMEOUT = Settings.model_fields["job_timeout_seconds"].default


def _seconds(text: str) -> int:
    match = re.fullmatch(r"(?:(\d+)m)?(?:(\d+)s)?", str(text))
    assert match and any(match.groups()), text
    return int(match[1] or 0) * 60 + int(match[2] or 0)


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))


def test_compose_runs_redis_as_the_readme_requires(compose):
    command = compose["services"]["redis"]["command"]
    pairs = dict(zip(command[1::2], command[2::2], strict=False))
    assert pairs["--maxmemory-policy"] == "noeviction"
    assert pairs["--appendonly"] == "yes"
    assert pairs["--appendfsync"] == "always"
    assert pairs["--requirepass"].startswith("${REDIS_PASSWORD")
    assert "ports" not in compose["services"]["redis"]  # never published outside the compose network
    assert compose["services"]["redis"]["volumes"]


def test_compose_web_and_worker_are_health_checked_and_stop_gracefully(compose):
    web, worker = compose["services"]["web"], compose["services"]["worker"]
    assert web["command"] == ["kgbridge", "serve"]
    assert worker["command"] == ["kgbridge", "worker"]
    assert web["ports"] == ["127.0.0.1:8000:8000"]  # a reverse proxy in front, never the open port
    for service in (web, worker, compose["services"]["redis"]):
        assert service["healthcheck"]["test"]
        assert service["restart"] == "unless-stopped"
    assert _seconds(worker["stop_grace_period"]) > JOB_TIMEOUT
    for service in (web, worker):
        assert service["depends_on"]["redis"]["condition"] == "service_healthy"
        assert "${REDIS_PASSWORD" in service["environment"]["KGBRIDGE_REDIS_URL"]
        assert service["env_file"] == ".env"


def test_every_command_the_deployment_files_run_exists(compose):
    commands = [compose["services"]["web"]["command"], compose["services"]["worker"]["command"],
                compose["services"]["worker"]["healthcheck"]["test"][1:]]
    for unit in ("kgbridge-web.service", "kgbridge-worker@.service"):
        text = (ROOT / "deploy" / "systemd" / unit).read_text(encoding="utf-8")
        commands.append(shlex.split(re.search(r"^ExecStart=(.+)$", text, re.M)[1])[0:2])
    for command in commands:
        assert command[0].endswith("kgbridge"), command
        assert command[1] in main.commands, f"`kgbridge {command[1]}` does not exist"


def test_env_example_lists_every_setting_and_only_real_ones():
    text = (ROOT / ".env.example").read_text(encoding="utf-8")
    named = set(re.findall(r"^#?\s*(KGBRIDGE_[A-Z0-9_]+)=", text, re.M))
    expected = known_variables() - {v for v in OTHER_VARIABLES if v.startswith("KGBRIDGE_TEST_")}
    assert not expected - named, f"add to .env.example: {sorted(expected - named)}"
    assert not named - known_variables(), f"not kgbridge settings: {sorted(named - known_variables())}"


def test_the_image_installs_pinned_dependencies_in_their_own_layer():
    lines = [line for line in (ROOT / "Dockerfile").read_text(encoding="utf-8").splitlines()
             if line and not line.startswith("#")]
    lock_copy = next(i for i, line in enumerate(lines) if line.startswith("COPY requirements.lock"))
    first_code_copy = next(i for i, line in enumerate(lines) if line.startswith("COPY connectors"))
    assert lock_copy < first_code_copy
    assert any(line.startswith("RUN pip install --no-deps -r requirements.lock") for line in lines)
    assert any(line.startswith("HEALTHCHECK") for line in lines)
    assert "USER 10001" in lines


def _name(requirement: str) -> str:
    return re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def test_the_lock_pins_every_production_dependency_and_nothing_of_the_demo():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    pinned = {}
    for line in (ROOT / "requirements.lock").read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"not pinned: {line}"
            pinned[_name(name)] = version
    missing = {_name(d) for d in project["dependencies"]} - set(pinned)
    assert not missing, f"requirements.lock lacks {sorted(missing)}: run `make lock`"
    assert "fakeredis" not in pinned


def test_systemd_units_stop_after_the_longest_job_and_do_not_loop_on_bad_settings():
    worker = (ROOT / "deploy" / "systemd" / "kgbridge-worker@.service").read_text(encoding="utf-8")
    assert int(re.search(r"^TimeoutStopSec=(\d+)$", worker, re.M)[1]) > JOB_TIMEOUT
    for unit in ("kgbridge-web.service", "kgbridge-worker@.service"):
        text = (ROOT / "deploy" / "systemd" / unit).read_text(encoding="utf-8")
        assert "RestartPreventExitStatus=2" in text  # exit 2 = bad settings: a restart repeats it
        assert "EnvironmentFile=/etc/kgbridge/kgbridge.env" in text


def test_the_production_install_carries_neither_fakeredis_nor_its_lua_engine():
    """fakeredis and lupa (its Lua scripting, for the in-process Redis) belong to the demo extra only."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    pinned = (ROOT / "requirements.lock").read_text(encoding="utf-8").lower()
    for dev_only in ("fakeredis", "lupa"):
        assert not any(_name(d).startswith(dev_only) for d in project["dependencies"]), dev_only
        assert not re.search(rf"^{dev_only}\b", pinned, re.M), f"requirements.lock pins {dev_only}"
    assert any(_name(d).startswith("fakeredis") for d in project["optional-dependencies"]["demo"])


@pytest.mark.parametrize("doc", ["README.md", *sorted(p.relative_to(ROOT).as_posix()
                                                       for p in (ROOT / "docs").glob("*.md"))])
def test_every_relative_link_of_the_docs_leads_to_a_file_in_the_repository(doc):
    path = ROOT / doc
    for target in re.findall(r"\]\(([^)\s]+)\)", path.read_text(encoding="utf-8")):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue  # a web address, or an anchor in the same page
        linked = (path.parent / target.split("#")[0]).resolve()
        assert linked.is_relative_to(ROOT.resolve()), f"{doc} links outside the repository: {target}"
        assert linked.exists(), f"{doc} links to a missing file: {target}"
