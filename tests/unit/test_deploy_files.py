"""The deployment files refer to things that exist: every metric the Grafana dashboard plots is one a
node exports, and compose mounts the balancer files the nginx config includes."""

from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from livecart.metrics import Metrics

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def test_every_dashboard_metric_is_exported_by_a_node():
    metrics = Metrics()
    metrics.resumes.labels(outcome="recovered").inc()
    metrics.cues.labels(kind="manual").inc()
    exported = set()
    for family in text_string_to_metric_families(metrics.render().decode()):
        exported.update(sample.name for sample in family.samples)
    dashboard = json.loads((DEPLOY / "grafana" / "livecart.json").read_text())
    plotted = {name for panel in dashboard["panels"] for target in panel["targets"]
               for name in re.findall(r"livecart_[a-z_]+", target["expr"])}
    assert plotted and plotted <= exported, plotted - exported


def test_compose_mounts_the_files_the_balancer_config_includes():
    included = set(re.findall(r"include\s+([\w.-]+);", (DEPLOY / "nginx.conf").read_text()))
    compose = (DEPLOY.parent / "docker-compose.yml").read_text()
    assert included == {"livecart-nodes.conf", "livecart-listen.conf"}
    for name in included:
        assert f"./deploy/compose/{name}:/etc/nginx/{name}:ro" in compose
        assert (DEPLOY / "compose" / name).is_file()
