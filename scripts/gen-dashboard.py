#!/usr/bin/env python3
"""Writes charts/arcane-operator/files/dashboard.json, the Grafana dashboard of the chart's
grafanaDashboard ConfigMap. Every series it reads is one the operator exports (the chart tests check
the names against the operator's registry). Run: python3 scripts/gen-dashboard.py"""
import json
import pathlib

RATE = "[$__rate_interval]"
panels = []


def sel(extra=""):
    return '{job=~"$job"' + ("," + extra if extra else "") + "}"


def ts(title, exprs, unit="short", desc="", stack=False):
    n = len(panels)
    panels.append({
        "id": n + 1,
        "type": "timeseries",
        "title": title,
        "description": desc,
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "gridPos": {"h": 8, "w": 12, "x": 12 * (n % 2), "y": 8 * (n // 2)},
        "fieldConfig": {
            "defaults": {"unit": unit, "custom": {"stacking": {"mode": "normal" if stack else "none"}}},
            "overrides": [],
        },
        "targets": [{"refId": chr(65 + k), "expr": e, "legendFormat": legend} for k, (e, legend) in enumerate(exprs)],
    })


ts("Streams by phase", [(f"sum by (phase) (arcane_streams{sel()})", "{{phase}}")], stack=True,
   desc="Stream definitions per phase (arcane_streams).")
FAILED = sel('phase="Failed"')
ts("Failed streams by StreamClass", [(f"sum by (stream_class) (arcane_streams{FAILED})", "{{stream_class}}")])
ts("Reconciles by result",
   [(f"sum by (result) (rate(controller_runtime_reconcile_total{sel()}{RATE}))", "{{result}}")], unit="ops", stack=True)
ts("Reconcile errors by controller",
   [(f"sum by (controller) (rate(controller_runtime_reconcile_errors_total{sel()}{RATE}))", "{{controller}}")], unit="ops")
ts("Reconcile duration p50 / p99", [
    (f"histogram_quantile(0.5, sum by (le) (rate(controller_runtime_reconcile_time_seconds_bucket{sel()}{RATE})))", "p50"),
    (f"histogram_quantile(0.99, sum by (le) (rate(controller_runtime_reconcile_time_seconds_bucket{sel()}{RATE})))", "p99"),
], unit="s")
ts("Workers busy / max", [
    (f"sum by (controller) (controller_runtime_active_workers{sel()})", "{{controller}} active"),
    (f"sum by (controller) (controller_runtime_max_concurrent_reconciles{sel()})", "{{controller}} max"),
])
ts("Workqueue depth", [(f"sum by (name) (workqueue_depth{sel()})", "{{name}}")])
ts("Workqueue adds and retries", [
    (f"sum by (name) (rate(workqueue_adds_total{sel()}{RATE}))", "{{name}} adds"),
    (f"sum by (name) (rate(workqueue_retries_total{sel()}{RATE}))", "{{name}} retries"),
], unit="ops")
ts("Workloads created / replaced / deleted", [
    (f"sum by (kind, mode) (rate(arcane_workloads_created_total{sel()}{RATE}))", "created {{kind}} {{mode}}"),
    (f"sum by (kind) (rate(arcane_workloads_replaced_total{sel()}{RATE}))", "replaced {{kind}}"),
    (f"sum by (kind) (rate(arcane_workloads_deleted_total{sel()}{RATE}))", "deleted {{kind}}"),
], unit="ops")
ts("Backfills completed",
   [(f"sum by (stream_class) (increase(arcane_backfills_completed_total{sel()}{RATE}))", "{{stream_class}}")])
ts("Kubernetes API requests by code",
   [(f"sum by (method, code) (rate(rest_client_requests_total{sel()}{RATE}))", "{{method}} {{code}}")], unit="reqps")
ts("Kubernetes API errors",
   [(f"sum by (verb, code) (rate(arcane_api_errors_total{sel()}{RATE}))", "{{verb}} {{code}}")], unit="ops")
ts("Leader", [(f"max by (instance) (leader_election_master_status{sel()})", "{{instance}}")],
   desc="1 on the replica holding the Lease, 0 on standbys (with leader election only).")
ts("Memory (RSS)", [(f"process_resident_memory_bytes{sel()}", "{{instance}}")], unit="bytes")
ts("CPU", [(f"rate(process_cpu_seconds_total{sel()}{RATE})", "{{instance}}")], unit="percentunit")
ts("Open file descriptors / threads", [
    (f"process_open_fds{sel()}", "fds {{instance}}"),
    (f"process_threads{sel()}", "threads {{instance}}"),
])

job_query = "label_values(controller_runtime_reconcile_total, job)"
dashboard = {
    "title": "Arcane operator",
    "uid": "arcane-operator",
    "editable": True,
    "schemaVersion": 39,
    "tags": ["arcane", "kubernetes", "operator"],
    "time": {"from": "now-6h", "to": "now"},
    "refresh": "30s",
    "templating": {"list": [
        {"name": "datasource", "type": "datasource", "query": "prometheus", "label": "Data source"},
        {"name": "job", "type": "query", "label": "Job",
         "datasource": {"type": "prometheus", "uid": "${datasource}"},
         "query": {"query": job_query, "refId": "job"}, "definition": job_query,
         "includeAll": True, "multi": True, "refresh": 2, "current": {"text": "All", "value": "$__all"}},
    ]},
    "panels": panels,
}
out = pathlib.Path(__file__).resolve().parent.parent / "charts/arcane-operator/files/dashboard.json"
out.write_text(json.dumps(dashboard, indent=2) + "\n")
