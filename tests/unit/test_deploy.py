"""The deploy/ files: the Prometheus alert rules pass ``promtool check rules`` (or, where
promtool is not installed, a check of the rule-file schema), the Grafana dashboard passes the
dashboard JSON schema (vendored in ``tests/deploy/``, its source noted there), and every
expression of both names only metrics the engine, dramatiq's middleware or Prometheus export."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from datetime import datetime
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
import yaml

from claims_engine.observability import metrics

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "claims-engine.json"
DASHBOARD_SCHEMA = ROOT / "tests" / "deploy" / "grafana-dashboard.schema.json"

# dramatiq.middleware.prometheus's metrics (checked against its source below)
DRAMATIQ_METRICS = {
    "dramatiq_messages_total": "counter",
    "dramatiq_message_errors_total": "counter",
    "dramatiq_message_retries_total": "counter",
    "dramatiq_message_rejects_total": "counter",
    "dramatiq_messages_inprogress": "gauge",
    "dramatiq_delayed_messages_inprogress": "gauge",
    "dramatiq_message_duration_milliseconds": "histogram",
}
PROMETHEUS_SERIES = {"up"}  # written by Prometheus for every scrape target
PROMQL_WORDS = {
    # aggregations, functions and keywords the files use
    "sum",
    "max",
    "min",
    "avg",
    "count",
    "topk",
    "rate",
    "increase",
    "irate",
    "absent",
    "clamp_min",
    "histogram_quantile",
    "by",
    "without",
    "and",
    "or",
    "unless",
    "on",
    "ignoring",
    "offset",
    "bool",
}


def exported_series() -> set[str]:
    """Every series name a scrape of the engine can hold."""
    names: set[str] = set(PROMETHEUS_SERIES)
    families: dict[str, str] = {}
    for value in vars(metrics).values():
        describe = getattr(value, "describe", None)
        if describe is not None and not isinstance(value, type) and hasattr(value, "_name"):
            for family in describe():
                families[family.name] = family.type
    for family in metrics.QueueCollector(broker=_EmptyBroker()).collect():
        families[family.name] = family.type
    for family in metrics.PendedCollector(None, datetime.now).describe():
        families[family.name] = family.type
    families.update(DRAMATIQ_METRICS)
    for name, kind in families.items():
        if kind == "counter":
            names.add(f"{name}_total" if not name.endswith("_total") else name)
        elif kind == "histogram":
            names.update(f"{name}_{s}" for s in ("bucket", "sum", "count"))
        else:
            names.add(name)
    return names


class _EmptyBroker:
    def __init__(self) -> None:
        self.queues: dict[str, Any] = {}


def series_in(expr: str) -> set[str]:
    """The metric names of a PromQL expression: what is left once strings, label matchers,
    ranges, grouping clauses, numbers and functions are taken out."""
    text = re.sub(r'"[^"]*"', "", expr)
    text = re.sub(r"\{[^}]*\}", "", text)
    text = re.sub(r"\[[^\]]*\]", "", text)
    text = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", "", text)
    text = re.sub(r"\b\d+(\.\d+)?(e[+-]?\d+)?\b", "", text)  # numbers, 1e-9 included
    found = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", text):
        word = match.group(0)
        rest = text[match.end() :].lstrip()
        if word in PROMQL_WORDS or rest.startswith("("):
            continue
        if re.fullmatch(r"e\d+|\d+\w*", word):
            continue
        found.add(word)
    return found


def test_metric_names_of_dramatiq_are_its_own() -> None:
    import dramatiq.middleware.prometheus as prom

    source = Path(prom.__file__).read_text()
    for name in DRAMATIQ_METRICS:
        assert f'"{name}"' in source


def test_alert_rules_pass_promtool_or_the_rule_schema() -> None:
    promtool = shutil.which("promtool")
    if promtool is not None:
        done = subprocess.run(
            [promtool, "check", "rules", str(ALERTS)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert "SUCCESS" in done.stdout
    # the schema of a rule file (what promtool checks besides PromQL), always
    document = yaml.safe_load(ALERTS.read_text())
    assert set(document) == {"groups"}
    names = set()
    for group in document["groups"]:
        assert set(group) <= {"name", "interval", "rules", "limit"}
        assert group["name"] not in names
        names.add(group["name"])
        for rule in group["rules"]:
            assert ("alert" in rule) != ("record" in rule), rule
            allowed = {"alert", "expr", "for", "keep_firing_for", "labels", "annotations"}
            assert set(rule) <= (allowed if "alert" in rule else {"record", "expr", "labels"})
            assert isinstance(rule["expr"], str) and rule["expr"].strip()
            if "for" in rule:
                assert re.fullmatch(r"(\d+(ms|s|m|h|d|w|y))+", rule["for"]), rule["for"]
            assert all(isinstance(v, str) for v in rule.get("labels", {}).values())


def _alert_exprs() -> list[str]:
    document = yaml.safe_load(ALERTS.read_text())
    return [r["expr"] for g in document["groups"] for r in g["rules"]]


def test_alert_rules_name_only_exported_metrics() -> None:
    exported = exported_series()
    exprs = _alert_exprs()
    assert len(exprs) >= 6
    for expr in exprs:
        unknown = series_in(expr) - exported
        assert not unknown, f"{expr}: {unknown}"
    used = set().union(*(series_in(e) for e in exprs))
    # what the issue asks to alert on: rejection rate, queue age, pended growth, workers down
    assert {"claims_rejected_total", "claims_queue_oldest_message_age_seconds"} <= used
    assert {"claims_adjudicated_total", "up", "dramatiq_message_errors_total"} <= used
    # and pended claims about to pass, or past, their due date
    assert {"claims_pended_due_soon", "claims_pended_past_due"} <= used


def _promtool_or_skip() -> str:
    promtool = shutil.which("promtool")
    if promtool is None:
        message = "promtool is not installed (tests/services.sh installs it)"
        if os.environ.get("CI", "").lower() not in ("", "0", "false"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return promtool


def _alert(name: str) -> dict[str, Any]:
    document = yaml.safe_load(ALERTS.read_text())
    return next(r for g in document["groups"] for r in g["rules"] if r.get("alert") == name)


def test_the_due_date_alert_says_the_days_the_queues_call_due_soon() -> None:
    from claims_engine.services.examination import DUE_SOON_DAYS

    text = _alert("ClaimsPendedDueSoon")["annotations"]["description"]
    assert f"due within {DUE_SOON_DAYS} days" in text


def test_pended_claim_alerts_fire_as_promtool_evaluates_them(tmp_path: Path) -> None:
    """The pended-claim alerts on series as the API and the workers both serve them (the same
    store read twice: the alert counts the claims once), through ``promtool test rules``."""
    promtool = _promtool_or_skip()
    due_soon = 'claims_pended_due_soon{{job="{}",instance="{}",queue="pricing"}}'
    past_due = 'claims_pended_past_due{{job="{}",instance="{}",queue="high-dollar"}}'
    served = [("claims-engine-api", "api:8000"), ("claims-engine-workers", "workers:9191")]
    store_up = 'claims_pended_store_up{{job="{}",instance="{}"}}'
    # the API's store goes away at minute 10; the workers' answers on
    up_values = {"claims-engine-api": "1x9 0x60", "claims-engine-workers": "1x69"}
    tests = {
        "rule_files": [str(ALERTS)],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    *({"series": due_soon.format(*s), "values": "0 0 3x60"} for s in served),
                    *({"series": past_due.format(*s), "values": "0x9 2x60"} for s in served),
                    *({"series": store_up.format(*s), "values": up_values[s[0]]} for s in served),
                ],
                "alert_rule_test": [
                    {"eval_time": "20m", "alertname": "ClaimsPendedDueSoon", "exp_alerts": []},
                    {
                        "eval_time": "40m",
                        "alertname": "ClaimsPendedDueSoon",
                        "exp_alerts": [
                            {
                                "exp_labels": {"severity": "warning", "queue": "pricing"},
                                "exp_annotations": {
                                    "summary": "pended claims in pricing are about to pass "
                                    "their due date",
                                    "description": "3 pended claims in queue pricing are due "
                                    "within 5 days (receipt plus the plan's prompt-payment "
                                    "days): decide them before the clock runs out "
                                    "(`claims-engine pended list pricing`).",
                                },
                            }
                        ],
                    },
                    {"eval_time": "5m", "alertname": "ClaimsPendedPastDue", "exp_alerts": []},
                    {
                        "eval_time": "30m",
                        "alertname": "ClaimsPendedPastDue",
                        "exp_alerts": [
                            {
                                "exp_labels": {"severity": "critical", "queue": "high-dollar"},
                                "exp_annotations": {
                                    "summary": "pended claims in high-dollar are past their "
                                    "due date",
                                    "description": "2 pended claims in queue high-dollar were "
                                    "not decided by their prompt-payment due date; interest or "
                                    "penalties may be owed.",
                                },
                            }
                        ],
                    },
                    {
                        "eval_time": "12m",
                        "alertname": "ClaimsPendedStoreUnreadable",
                        "exp_alerts": [],
                    },
                    {
                        "eval_time": "20m",
                        "alertname": "ClaimsPendedStoreUnreadable",
                        "exp_alerts": [
                            {
                                "exp_labels": {"severity": "warning"},
                                "exp_annotations": _alert("ClaimsPendedStoreUnreadable")[
                                    "annotations"
                                ],
                            }
                        ],
                    },
                ],
            }
        ],
    }
    path = tmp_path / "alerts_test.yml"
    path.write_text(yaml.safe_dump(tests, sort_keys=False))
    done = subprocess.run(
        [promtool, "test", "rules", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def _dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def test_dashboard_passes_the_grafana_dashboard_schema() -> None:
    schema = json.loads(DASHBOARD_SCHEMA.read_text())
    validator = jsonschema_rs.validator_for(schema)
    errors = [str(e) for e in validator.iter_errors(_dashboard())]
    assert errors == []
    # and the schema does refuse what Grafana would
    broken = _dashboard()
    broken["panels"][0]["gridPos"]["w"] = 30
    del broken["title"]
    assert len(list(validator.iter_errors(broken))) == 2


def test_dashboard_panels_name_only_exported_metrics() -> None:
    exported = exported_series()
    exprs = [t["expr"] for p in _dashboard()["panels"] for t in p.get("targets", [])]
    assert len(exprs) >= 10
    used: set[str] = set()
    for expr in exprs:
        found = series_in(expr)
        assert found, expr
        assert not found - exported, f"{expr}: {found - exported}"
        used |= found
    engine = {n for n in exported if n.startswith(("claims_", "claim_"))}
    # every engine metric is on the dashboard (a histogram by its buckets)
    missing = {
        n
        for n in engine
        if n not in used and not (n.endswith(("_sum", "_count")) and n[:-4] + "bucket" in used)
    }
    missing = {n for n in missing if not n.endswith(("_sum", "_count"))}
    # (the broker's reachability is an alert, not a panel)
    quiet = {"claims_interchanges_total", "claims_reversed_amount_total", "claims_queue_broker_up"}
    quiet.add("claims_pended_store_up")  # an alert too
    assert missing <= quiet, missing


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        (
            'sum by (queue) (rate(claims_received_total{transaction="837P"}[5m]))',
            {"claims_received_total"},
        ),
        ("up == 0 or absent(up)", {"up"}),
        ("a / clamp_min(b, 1e-9) > 0.2", {"a", "b"}),
    ],
)
def test_series_in(expr: str, names: set[str]) -> None:
    assert series_in(expr) == names


def test_queue_collector_reads_stub_queues() -> None:
    from dramatiq.brokers.stub import StubBroker

    broker = StubBroker()
    for name in metrics.QUEUES:
        broker.declare_queue(name)
    found = {
        (f.name, tuple(s.labels.values())): s.value
        for f in metrics.QueueCollector(broker=broker).collect()
        for s in f.samples
    }
    assert found[("claims_queue_depth", ("intake",))] == 0
    assert found[("claims_queue_oldest_message_age_seconds", ("payments",))] == 0
    assert found[("claims_queue_broker_up", ())] == 1


SYSTEMD = ROOT / "deploy" / "systemd"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze missing")
def test_the_systemd_units_verify(tmp_path: Path) -> None:
    """``systemd-analyze verify`` on the units, their ExecStart pointed at this checkout's
    command (the units name /opt/claims-engine, where an installation puts it)."""
    command = ROOT / ".venv" / "bin" / "claims-engine"
    assert command.exists(), "the units are verified against the installed command"
    units = sorted(SYSTEMD.glob("*.service"))
    assert [u.name for u in units] == ["claims-engine-api.service", "claims-engine-worker.service"]
    for unit in units:
        text = unit.read_text().replace("/opt/claims-engine/.venv/bin/claims-engine", str(command))
        (tmp_path / unit.name).write_text(text)
    done = subprocess.run(
        ["systemd-analyze", "verify", *(str(tmp_path / u.name) for u in units)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "Unknown" not in done.stderr and "Ignoring" not in done.stderr, done.stderr


def test_the_systemd_units_run_what_the_engine_has() -> None:
    """Each unit starts a command the engine has, with options it takes, and stops the
    workers as the README says they must be stopped."""
    from claims_engine.cli.main import build_parser

    parser = build_parser()
    for unit in sorted(SYSTEMD.glob("*.service")):
        start = next(
            line.split("=", 1)[1].split()
            for line in unit.read_text().splitlines()
            if line.startswith("ExecStart=")
        )
        assert start[0].endswith("/claims-engine")
        parser.parse_args(start[1:])  # exits (SystemExit) on an unknown command or option
    worker = (SYSTEMD / "claims-engine-worker.service").read_text()
    assert "KillMode=mixed" in worker and "Restart=always" in worker
    env = (SYSTEMD / "env.example").read_text()
    names = {line.split("=", 1)[0] for line in env.splitlines() if "=" in line and line[0] != "#"}
    assert names <= {
        "CLAIMS_DATABASE_URL",
        "CLAIMS_REDIS_URL",
        "CLAIMS_RULES_DIR",
        "CLAIMS_KEY_FILE",
        "CLAIMS_LOG_LEVEL",
        "CLAIMS_SNIP_LEVELS",
    }
