"""The alert rules and the Grafana dashboard: they parse, and they name only real metrics.

promtool is not available here: every PromQL expression is parsed by promql-parser (the Rust
parser's Python binding), then each series it selects is checked against the metrics the bot
exports, with the labels those metrics carry.
"""

from __future__ import annotations

import json
import re
from typing import Any

import promql_parser
import pytest
import yaml

from tests.packaging.repo import METRICS, ROOT

RULES = ROOT / "ops" / "prometheus" / "alerts.yml"
DASHBOARD = ROOT / "ops" / "grafana" / "dashboards" / "thunes.json"
# Labels Prometheus adds to every scraped series, and the bucket label of a histogram.
TARGET_LABELS = {"job", "instance"}
HISTOGRAM_SERIES = ("_bucket", "_sum", "_count")


def metric_of(series: str) -> tuple[str, frozenset[str]]:
    """The exported metric a series name belongs to, and the labels the series may carry."""
    for suffix in HISTOGRAM_SERIES:
        base = series.removesuffix(suffix)
        if base != series and METRICS.get(base, ("",))[0] == "histogram":
            return base, METRICS[base][1] | ({"le"} if suffix == "_bucket" else set())
    if series in METRICS and METRICS[series][0] != "histogram":
        return series, METRICS[series][1]
    if series == "up":  # Prometheus's own: whether the scrape worked
        return series, frozenset()
    raise AssertionError(f"{series} is not a metric THUNES exports")


def check_promql(expr: str) -> set[str]:
    """Parse `expr` (ValueError if it does not), check its series and labels; the metrics used."""
    used: set[str] = set()

    def selectors(node: Any) -> list[Any]:
        found: list[Any] = []
        promql_parser.walk(
            node,
            lambda n: found.append(n) if isinstance(n, promql_parser.VectorSelector) else None,
        )
        return found

    def visit(node: Any) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            metric, labels = metric_of(node.name)
            used.add(metric)
            for matcher in node.matchers.matchers:
                assert matcher.name in labels | TARGET_LABELS, f"{node.name} has no {matcher.name}"
        if isinstance(node, promql_parser.AggregateExpr) and node.modifier is not None:
            available = set(TARGET_LABELS)
            for selector in selectors(node.expr):
                available |= metric_of(selector.name)[1]
            missing = set(node.modifier.labels) - available
            assert not missing, f"{expr}: grouped by {missing}, which its series do not carry"

    promql_parser.walk(promql_parser.parse(expr), visit)
    return used


def rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def panels() -> list[dict[str, Any]]:
    return [panel for panel in dashboard()["panels"] if panel["type"] != "row"]


def test_the_checker_refuses_unknown_metrics_labels_and_syntax() -> None:
    assert check_promql("sum by (reason) (rate(thunes_risk_refusals_total[5m]))") == {
        "thunes_risk_refusals_total"
    }
    with pytest.raises(AssertionError, match="thunes_equity is not"):
        check_promql("thunes_equity > 0")
    with pytest.raises(AssertionError, match="has no status"):
        check_promql('thunes_feed_up{status="x"}')
    with pytest.raises(AssertionError, match="grouped by"):
        check_promql("sum by (stream) (thunes_orders_total)")
    with pytest.raises(AssertionError, match="not a metric"):
        check_promql("thunes_equity_quote_bucket")
    with pytest.raises(ValueError):
        check_promql("sum(rate(thunes_orders_total[5m])")


@pytest.mark.parametrize("rule", rules(), ids=lambda rule: rule["alert"])
def test_every_rule_parses_and_says_what_is_wrong(rule: dict[str, Any]) -> None:
    check_promql(rule["expr"])
    assert rule["labels"]["severity"] in ("critical", "warning")
    assert rule["annotations"]["summary"]
    if "for" in rule:
        assert re.fullmatch(r"\d+[smh]", rule["for"])


def test_rules_cover_a_stalled_loop_a_dead_feed_the_kill_switch_and_notifications() -> None:
    watched = {metric for rule in rules() for metric in check_promql(rule["expr"])}
    assert {
        "thunes_last_event_age_seconds",
        "thunes_feed_up",
        "thunes_kill_switch_tripped",
        "thunes_notifications_failed_total",
    } <= watched
    assert len({rule["alert"] for rule in rules()}) == len(rules())


def test_the_dashboard_shows_every_metric_and_only_those() -> None:
    shown: set[str] = set()
    for panel in panels():
        for target in panel["targets"]:
            if target["datasource"]["type"] == "prometheus":
                shown |= check_promql(target["expr"])
    assert shown == set(METRICS)


def test_the_dashboard_uses_the_provisioned_datasources() -> None:
    provisioned = yaml.safe_load(
        (ROOT / "ops/grafana/provisioning/datasources/datasources.yml").read_text()
    )
    uids = {(source["type"], source["uid"]) for source in provisioned["datasources"]}
    for panel in panels():
        for target in panel["targets"]:
            assert (target["datasource"]["type"], target["datasource"]["uid"]) in uids


def test_the_dashboard_has_a_logs_panel_on_the_shipped_logs() -> None:
    (logs,) = [panel for panel in panels() if panel["type"] == "logs"]
    assert logs["datasource"]["type"] == "loki"
    (query,) = [target["expr"] for target in logs["targets"]]
    # The stream selector names the label Alloy gives the bot's log files.
    (job,) = re.findall(r'job="(\w+)"', query)
    shipper = (ROOT / "ops" / "alloy" / "config.alloy").read_text()
    assert f'"job" = "{job}"' in shipper


def test_panels_are_laid_out_without_overlap() -> None:
    ids = [panel["id"] for panel in dashboard()["panels"]]
    assert len(ids) == len(set(ids))
    cells: set[tuple[int, int]] = set()
    for panel in dashboard()["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24
        mine = {
            (x, y)
            for x in range(grid["x"], grid["x"] + grid["w"])
            for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not cells & mine, panel["title"]
        cells |= mine
