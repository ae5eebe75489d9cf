"""compose.yaml: valid against the Compose specification, and wired the way the bot runs.

No Docker engine runs here, so `docker compose config` cannot: the file is checked against the
compose-spec JSON schema that check-jsonschema ships, then for what the schema cannot know.
"""

from __future__ import annotations

import json
import re
from importlib import resources
from typing import Any

import jsonschema
import pytest
import yaml

from tests.packaging.repo import ROOT

SERVICES = {"thunes", "prometheus", "grafana", "mlflow", "loki", "alloy"}


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
    return loaded


def compose_schema() -> dict[str, Any]:
    vendored = resources.files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json"
    loaded: dict[str, Any] = json.loads(vendored.read_text())
    return loaded


def validation_errors(document: dict[str, Any]) -> list[str]:
    schema = compose_schema()
    validator = jsonschema.validators.validator_for(schema)(schema)
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(document)]


def bind_mounts(service: dict[str, Any]) -> list[tuple[str, str]]:
    """(host path, container path) of every ./relative bind mount."""
    pairs = []
    for volume in service.get("volumes", []):
        host, container, *_ = volume.split(":")
        if host.startswith("./"):
            pairs.append((host[2:], container))
    return pairs


def test_the_compose_specification_accepts_it() -> None:
    assert validation_errors(compose()) == []


def test_the_schema_check_refuses_a_misspelt_key() -> None:
    broken = compose()
    broken["services"]["thunes"]["enviroment"] = {"A": "b"}
    broken["services"]["prometheus"]["ports"] = "9090:9090"
    errors = validation_errors(broken)
    assert any("enviroment" in e for e in errors) and any("ports" in e for e in errors)


def test_it_runs_the_bot_with_its_monitoring() -> None:
    services = compose()["services"]
    assert set(services) == SERVICES
    assert services["thunes"]["build"] == "."
    assert services["thunes"]["command"].startswith("mode=paper")


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_mounted_file_is_in_the_repository(name: str) -> None:
    for host, _ in bind_mounts(compose()["services"][name]):
        if host.split("/")[0] not in ("experiments", "mlruns", "state"):  # the bot's output
            assert (ROOT / host).exists(), host


def test_ports_are_published_on_the_loopback_only() -> None:
    for name, service in compose()["services"].items():
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), (name, port)


def test_no_secret_has_a_value_in_the_file() -> None:
    for service in compose()["services"].values():
        environment = service.get("environment", {})
        for key, value in environment.items():
            if re.search(r"KEY|SECRET|TOKEN|PASSWORD", key):
                assert str(value).startswith("${"), key
    env_files = compose()["services"]["thunes"]["env_file"]
    assert env_files == [{"path": ".env", "required": False}]
    assert ".env" in (ROOT / ".gitignore").read_text().split()


def test_prometheus_scrapes_the_bot_on_its_metrics_port() -> None:
    config = yaml.safe_load((ROOT / "ops" / "prometheus" / "prometheus.yml").read_text())
    (job,) = config["scrape_configs"]
    command = compose()["services"]["thunes"]["command"]
    (port,) = (int(a.split("=")[1]) for a in command.split() if a.startswith("ops.metrics_port="))
    assert "ops.metrics_host=0.0.0.0" in command  # reachable from Prometheus's container
    assert job["static_configs"][0]["targets"] == [f"thunes:{port}"]
    assert str(port) in compose()["services"]["thunes"]["expose"]
    # The rule files it loads are the repository's, through the compose mount.
    mounts = dict(bind_mounts(compose()["services"]["prometheus"]))
    for rule_file in config["rule_files"]:
        assert rule_file.startswith(mounts["ops/prometheus"] + "/")
        assert (ROOT / "ops" / "prometheus" / rule_file.rsplit("/", 1)[1]).exists()


def test_alloy_reads_the_logs_where_the_bot_writes_them() -> None:
    services = compose()["services"]
    bot = dict(bind_mounts(services["thunes"]))["experiments"]
    shipper = dict(bind_mounts(services["alloy"]))["experiments"]
    assert bot == shipper
    config = (ROOT / "ops" / "alloy" / "config.alloy").read_text()
    (path,) = re.findall(r'"__path__"\s*=\s*"([^"]+)"', config)
    assert path == f"{shipper}/**/logs/*.jsonl"
    assert re.search(r'url\s*=\s*"http://loki:3100/loki/api/v1/push"', config)
    assert config.count("{") == config.count("}")
    # Every field of a log line is extracted; only the few-valued ones become labels.
    fields = {"time", "level", "event", "run_id", "symbol", "client_order_id"}
    assert fields <= set(re.findall(r"(\w+)\s*=\s*\"\1\"", config))


def test_grafana_is_provisioned_with_both_datasources_and_the_dashboard() -> None:
    mounts = dict(bind_mounts(compose()["services"]["grafana"]))
    provisioning = ROOT / "ops" / "grafana" / "provisioning"
    sources = yaml.safe_load((provisioning / "datasources" / "datasources.yml").read_text())
    urls = {s["type"]: s["url"] for s in sources["datasources"]}
    assert urls == {"prometheus": "http://prometheus:9090", "loki": "http://loki:3100"}
    providers = yaml.safe_load((provisioning / "dashboards" / "dashboards.yml").read_text())
    assert providers["providers"][0]["options"]["path"] == mounts["ops/grafana/dashboards"]
