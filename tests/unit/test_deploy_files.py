"""The deployment files refer to things that exist: every metric the Grafana dashboard plots is one a
node exports (and every one the alert rules use, one a node or the workers' supervisor exports),
compose mounts the balancer files the nginx config includes, and the nodes believe the
X-Forwarded-For of the balancer, and only of the balancer."""

from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from livecart.client_ip import Networks
from livecart.metrics import Metrics, SupervisorMetrics

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def test_every_dashboard_metric_is_exported_by_a_node():
    metrics = Metrics()
    metrics.resumes.labels(outcome="recovered").inc()
    metrics.cues.labels(kind="manual").inc()
    metrics.ip_rejections.labels(limit="connections").inc()
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


def test_the_balancer_forwards_the_client_address_and_the_nodes_trust_only_the_balancer():
    nginx = (DEPLOY / "nginx.conf").read_text()
    assert re.search(r"proxy_set_header\s+X-Forwarded-For\s+\$proxy_add_x_forwarded_for;", nginx)
    compose = (DEPLOY.parent / "docker-compose.yml").read_text()
    balancer = compose[compose.index("\n  balancer:"):]
    balancer = balancer[:balancer.index("\n\n")]
    address = re.search(r"ipv4_address:\s*([\d.]+)", balancer)
    subnet = re.search(r"subnet:\s*([\d./]+)", compose)
    trusted = re.findall(r"LIVECART_TRUSTED_PROXIES:\s*(\S+)", compose)
    assert address and subnet and trusted == [address.group(1)]  # node2 is node1's YAML alias
    assert address.group(1) in Networks.parse(subnet.group(1))
    assert "node2: *node" in compose


def test_the_balancer_logs_paths_without_query_strings_or_referers():
    # Tokens travel in ?token= (pages, websockets) and a page's URL is the Referer of what it loads.
    nginx = (DEPLOY / "nginx.conf").read_text()
    logs = re.findall(r"access_log\s+([^;]+);", nginx)
    assert logs and all(len(entry.split()) == 2 for entry in logs)  # every log names its format
    formats = dict(re.findall(r"log_format\s+(\w+)\s+((?:'[^']*'\s*)+);", nginx))
    for entry in logs:
        fmt = formats[entry.split()[1]]
        assert "$uri" in fmt
        for leak in ("$request ", '$request"', "$request_uri", "$args", "$query_string", "$arg_",
                     "$http_referer"):
            assert leak not in fmt, leak


def test_the_alert_rules_use_exported_metrics_and_prometheus_loads_them():
    exported = {sample.name for metrics in (Metrics(), SupervisorMetrics())
                for family in text_string_to_metric_families(metrics.render().decode())
                for sample in family.samples}
    rules = (DEPLOY / "prometheus-alerts.yml").read_text()
    used = set(re.findall(r"livecart_[a-z_]+", rules.split("groups:", 1)[1]))
    assert {"livecart_redis_used_memory_bytes", "livecart_redis_maxmemory_bytes"} <= used <= exported
    mounted = re.search(r"\./deploy/prometheus-alerts\.yml:(\S+):ro",
                        (DEPLOY.parent / "docker-compose.yml").read_text())
    assert mounted and mounted.group(1) in (DEPLOY / "prometheus.yml").read_text()
