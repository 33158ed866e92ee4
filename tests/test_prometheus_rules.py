"""The Prometheus rules: pure properties, then Prometheus' own promtool (`check rules`, and `test rules` unit tests
generated here: each Odoo alert and each burn-rate alert fires on a synthetic failure and stays silent when healthy)."""
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import pytest
import yaml

from components import prometheus_rules as pr
from components.prometheus_rules import Rule, RuleGroup, Slo, TenantWatch
from components.severity import CRITICALITIES, BusinessWindow, Criticality, Kind, severity
from components.tier import Tier

PROD, NONPROD = Tier.PRODUCTION, Tier.NON_PRODUCTION
SLO = Slo(0.995, 1.0, 0.95)
CLOSE = BusinessWindow("month-end-close", (28, 29, 30, 31, 1, 2, 3))
PAYROLL = BusinessWindow("payroll", (25,))


def tenant(unit: str, env: str, tier: Tier = PROD, criticality: Criticality = "core-finance", slo: Optional[Slo] = SLO) -> TenantWatch:
    key = f"{unit}-{env}"
    return TenantWatch(key, unit, env, f"odoo-{key}", f"{env}.{unit}.erp.example.com", tier, criticality, slo if tier.is_production else None)


GC_PROD = tenant("gc", "prod")
UNITS: tuple[tuple[str, Criticality], ...] = (("gc", "core-finance"), ("pm", "project-operations"))
NONPROD_TENANTS = [tenant(u, e, NONPROD, c) for u, c in UNITS for e in ("dev", "qa", "uat")]
GC_DEV = NONPROD_TENANTS[0]


def alerts(groups: list[RuleGroup]) -> list[Rule]:
    return [r for g in groups for r in g.rules if r.alert]


# -- pure properties ----------------------------------------------------------------------------------------------------

def test_traefik_service_label_is_computed_as_traefik_does():
    # Traefik's own fixture (pkg/provider/kubernetes/crd/kubernetes_test.go, "Simple Ingress Route, with foo entrypoint").
    assert pr.traefik_route_service("default", "test.route", "Host(`foo.com`) && PathPrefix(`/bar`)") == "default-test-route-6b204d94623b3df4370c@kubernetescrd"
    from components.odoo_tenant import ingress_route_spec

    for t in (GC_PROD, GC_DEV):
        services = {pr.traefik_route_service(t.namespace, pr.INGRESS_ROUTE, route["match"]) for route in ingress_route_spec(t.host)["routes"]}
        assert len(services) == 3
        assert all(re.fullmatch(pr.traefik_service_regex(t.namespace), s) for s in services)
    # Another tenant's routes, and the `<ns>-<service>-<port>` form of weighted children, are not counted.
    other = pr.traefik_route_service("odoo-gc-qa", pr.INGRESS_ROUTE, "Host(`qa.gc.erp.example.com`)")
    assert not re.fullmatch(pr.traefik_service_regex("odoo-gc-prod"), other)
    assert not re.fullmatch(pr.traefik_service_regex("odoo-gc-prod"), "odoo-gc-prod-odoo-http-8069@kubernetescrd")


def test_platform_names_match_the_components_that_own_them():
    from components import db_bootstrap, traefik

    assert pr.BOOTSTRAP_NAMESPACE == db_bootstrap.NAMESPACE
    assert pr.TRAEFIK_NAMESPACE == traefik.NAMESPACE
    for bound in traefik.LATENCY_BUCKETS:  # Traefik writes "1", Prometheus 3 normalises to "1.0"
        assert re.fullmatch(pr.le_matcher(bound), f"{bound:g}") and re.fullmatch(pr.le_matcher(bound), repr(float(bound)))
    assert not any(re.fullmatch(pr.le_matcher(1.0), s) for s in ("10", "0.1", "1.2", "+Inf"))


def test_every_production_tenant_gets_both_slo_pairs():
    for crit in CRITICALITIES:
        t = tenant("gc", "prod", PROD, crit)
        groups = pr.tenant_rule_groups(t, [CLOSE, PAYROLL])
        names = {r.alert for r in alerts(groups)}
        for slo in ("Availability", "Latency"):
            assert {f"Odoo{slo}ErrorBudgetFastBurn", f"Odoo{slo}ErrorBudgetSlowBurn"} <= names
        records = {(r.record, r.labels["slo"]) for g in groups for r in g.rules if r.record}
        assert records == {(pr.SLO_RECORD.format(window=w), s) for w in ("5m", "30m", "1h", "2h", "6h", "1d", "3d") for s in ("availability", "latency")}
        fast = next(r for r in alerts(groups) if r.alert == "OdooAvailabilityErrorBudgetFastBurn")
        assert "(14.4 * 0.005)" in fast.expr and "ratio_rate1h" in fast.expr and "ratio_rate5m" in fast.expr and "(6 * 0.005)" in fast.expr
        slow = next(r for r in alerts(groups) if r.alert == "OdooLatencyErrorBudgetSlowBurn")
        assert "ratio_rate1d" in slow.expr and "ratio_rate2h" in slow.expr and "ratio_rate3d" in slow.expr and "(3 * 0.05)" in slow.expr


def test_non_production_gets_no_slo():
    for t in NONPROD_TENANTS:
        groups = pr.tenant_rule_groups(t, [CLOSE])
        assert not any("Burn" in (r.alert or "") or r.record for g in groups for r in g.rules)
    with pytest.raises(ValueError, match="production environments only"):
        TenantWatch("gc-dev", "gc", "dev", "odoo-gc-dev", "dev.gc.example.com", NONPROD, "core-finance", SLO)


def test_every_alert_has_the_severity_the_helper_decides():
    checked = 0
    for tier in Tier:
        for crit in CRITICALITIES:
            for rule in alerts(pr.cluster_rule_groups(tier, crit)):
                assert rule.kind and rule.severity == severity(tier, crit, rule.kind)
                assert rule.labels["severity"] == f"Sev{rule.severity}" and rule.labels["kind"] == rule.kind.value
                checked += 1
            t = tenant("gc", "prod" if tier.is_production else "dev", tier, crit)
            for rule in alerts(pr.tenant_rule_groups(t, [CLOSE, PAYROLL])):
                inside = rule.labels.get("business_window") == "inside"
                assert rule.kind and rule.severity == severity(tier, crit, rule.kind, inside), rule.alert
                assert rule.labels["severity"] == f"Sev{rule.severity}" and rule.labels["kind"] == rule.kind.value
                checked += 1
    assert checked > 250  # the loops above ran over every tier and criticality
    # Fast burns page as availability, slow burns ticket as degradation.
    by_name = {r.alert: r for r in alerts(pr.tenant_rule_groups(GC_PROD))}
    assert by_name["OdooLatencyErrorBudgetFastBurn"].kind is Kind.AVAILABILITY
    assert by_name["OdooLatencyErrorBudgetSlowBurn"].kind is Kind.DEGRADATION


def test_calendar_doubles_exactly_the_alerts_whose_severity_it_changes():
    windows = [CLOSE, PAYROLL]
    assert pr.in_window_expr(windows) == (
        "day_of_month(vector(time())) <= 3 or day_of_month(vector(time())) == 25 or day_of_month(vector(time())) >= 28"
    )
    assert pr.in_window_expr([BusinessWindow("mid", (10, 11, 12))]) == "(day_of_month(vector(time())) >= 10 and day_of_month(vector(time())) <= 12)"
    doubled = set()
    for tier in Tier:
        for crit in CRITICALITIES:
            t = tenant("gc", "prod" if tier.is_production else "dev", tier, crit)
            rules = alerts(pr.tenant_rule_groups(t, windows))
            for name in {r.alert for r in rules}:
                same = [r for r in rules if r.alert == name]
                kind = same[0].kind
                assert kind is not None
                changes = severity(tier, crit, kind, False) != severity(tier, crit, kind, True)
                assert len(same) == (2 if changes else 1), (tier, crit, name)
                if changes:
                    doubled.add((tier, crit))
                    outside, inside = sorted(same, key=lambda r: r.labels["business_window"] != "outside")
                    assert outside.expr.endswith(f"unless on() ({pr.in_window_expr(windows)})")
                    assert inside.expr.endswith(f"and on() ({pr.in_window_expr(windows)})")
                    assert inside.severity is not None and outside.severity is not None and inside.severity < outside.severity
            # Without windows, every alert is emitted once.
            assert len(alerts(pr.tenant_rule_groups(t, []))) == len({r.alert for r in rules})
    # A standard unit's severity never follows the calendar; core-finance production's does.
    assert (PROD, "core-finance") in doubled and not any(crit == "standard" for _, crit in doubled)


def test_tenant_alerts_name_the_environment_unit_and_business_process():
    for t in (GC_PROD, GC_DEV):
        for rule in alerts(pr.tenant_rule_groups(t, [CLOSE])):
            labels = rule.labels
            assert (labels["tenant"], labels["unit"], labels["environment"], labels["namespace"]) == (t.key, t.unit, t.environment, t.namespace)
            assert labels["business_process"] and labels["kind"] and labels["severity"]
            assert rule.annotations["summary"].startswith(f"{t.key}: ")
            description = rule.annotations["description"]
            assert f"environment {t.environment} of unit {t.unit}" in description and labels["business_process"] in description
            assert t.namespace in rule.expr or f'"bootstrap-{t.key}"' in rule.expr


def test_cluster_rules_are_microsofts_thirty_the_ingress_and_secret_rotation():
    # Azure/prometheus-collector GeneratedMonitoringArtifacts/Default/recommendedMetricAlerts.json @ 917abcce.
    microsoft = {
        "cluster": ["KubeCPUQuotaOvercommit", "KubeMemoryQuotaOvercommit", "KubeContainerOOMKilledCount", "KubeClientErrors",
                    "KubePersistentVolumeFillingUp", "KubePersistentVolumeInodesFillingUp", "KubePersistentVolumeErrors",
                    "KubeContainerWaiting", "KubeDaemonSetNotScheduled", "KubeDaemonSetMisScheduled", "KubeQuotaAlmostFull"],
        "node": ["KubeNodeUnreachable", "KubeNodeReadinessFlapping", "KubeNodeDiskUsageHigh"],
        "pod": ["KubePodCrashLooping", "KubeJobStale", "KubePodContainerRestart", "KubePodReadyStateLow", "KubePodFailedState",
                "KubePodNotReadyByController", "KubeStatefulSetGenerationMismatch", "KubeJobFailed", "KubeContainerAverageCPUHigh",
                "KubeContainerAverageMemoryHigh", "KubeletPodStartUpLatencyHigh", "KubePVUsageHigh", "KubeDeploymentReplicasMismatch",
                "KubeStatefulSetReplicasMismatch", "KubeHpaReplicasMismatch", "KubeHpaMaxedOut"],
    }
    groups = {g.name: [r.alert for r in g.rules] for g in pr.cluster_rule_groups(PROD, "core-finance")}
    assert groups == {**{f"aks-recommended-{level}-level": names for level, names in microsoft.items()}, "platform-ingress": ["IngressDown", "IngressMetricsAbsent"],
                      "platform-secret-rotation": ["SecretRotationFailed"]}
    # Non-production never pages, even for the ingress.
    assert all(r.severity is not None and r.severity >= 3 for r in alerts(pr.cluster_rule_groups(NONPROD, "core-finance")))


def test_groups_respect_azures_limits():
    everything = pr.cluster_rule_groups(PROD, "core-finance") + [g for t in [GC_PROD, *NONPROD_TENANTS] for g in pr.tenant_rule_groups(t, [CLOSE, PAYROLL])]
    assert all(1 <= len(g.rules) <= 20 and 60 <= pr.seconds(g.interval) <= 900 for g in everything)
    assert len({g.name for g in everything}) == len(everything)
    rule = Rule.recording("x:y", "vector(1)")
    split = pr.split_groups("big", "PT1M", [rule] * 45)
    assert [(g.name, len(g.rules)) for g in split] == [("big", 20), ("big-2", 20), ("big-3", 5)]
    with pytest.raises(ValueError, match="Azure allows 1-20"):
        RuleGroup("big", "PT1M", (rule,) * 21)
    for interval in ("PT30S", "PT16M", "1m"):
        with pytest.raises(ValueError, match="between PT1M and PT15M"):
            RuleGroup("g", interval, (rule,))


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="fraction below 1"):
        Slo(1.0, 1.0, 0.95)
    with pytest.raises(ValueError, match="fast burn unreachable"):
        Slo(0.995, 1.0, 0.9)  # 14.4 x 10% > 100%: a fast burn could never be seen
    with pytest.raises(ValueError, match="unknown criticality"):
        TenantWatch("gc-prod", "gc", "prod", "odoo-gc-prod", "h", PROD, "vip", SLO)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="either a recording rule"):
        Rule(expr="vector(1)")
    with pytest.raises(ValueError, match="days of the month"):
        pr.in_window_expr([BusinessWindow("bad", (0,))])
    assert (pr.seconds("PT1M"), pr.seconds("PT1H30M"), pr.seconds("1h30m"), pr.seconds(45)) == (60, 5400, 5400, 45)
    assert (pr.prometheus_duration(259200), pr.prometheus_duration(90)) == ("3d", "1m30s")


# -- promtool -----------------------------------------------------------------------------------------------------------

def promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    binary = shutil.which("promtool")
    if binary is None:
        pytest.fail("promtool is not installed: `make promtool` installs Debian's prometheus package, which ships it")
    return subprocess.run([binary, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def write_rules(path: Path, groups: list[RuleGroup]) -> None:
    path.write_text(yaml.safe_dump(pr.prometheus_rule_file(groups), sort_keys=False, width=10000))


@pytest.mark.parametrize("tenants", [[GC_PROD], NONPROD_TENANTS], ids=["production", "non-production"])
def test_promtool_accepts_the_rule_files(tmp_path, tenants):
    tier = tenants[0].tier
    groups = pr.cluster_rule_groups(tier, "core-finance") + [g for t in tenants for g in pr.tenant_rule_groups(t, [CLOSE, PAYROLL])]
    write_rules(tmp_path / "rules.yml", groups)
    result = promtool("check", "rules", "rules.yml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {sum(len(g.rules) for g in groups)} rules found" in result.stdout


def s(metric: str, values: str, **labels: str) -> dict:
    """One input series; `values` in promtool's expanding notation."""
    return {"series": metric + "{" + ", ".join(f'{k}="{v}"' for k, v in labels.items()) + "}", "values": values}


@dataclass
class Case:
    """`alert` evaluated at `at` on `series`: fires once per entry of `fires` (the labels the series contribute), or stays silent."""

    alert: str
    series: list[dict]
    at: str
    fires: list[dict] = field(default_factory=list)
    window: str = "outside"  # which of a doubled alert's pair is expected


def route(t: TenantWatch) -> str:
    return pr.traefik_route_service(t.namespace, pr.INGRESS_ROUTE, f"Host(`{t.host}`)")


def requests(t: TenantWatch, ok_per_min: float, errors_per_min: float, minutes: int = 60) -> list[dict]:
    svc = route(t)
    out = [s("traefik_service_requests_total", f"0+{ok_per_min:g}x{minutes}", service=svc, code="200", method="GET", protocol="http")]
    if errors_per_min:
        out.append(s("traefik_service_requests_total", f"0+{errors_per_min:g}x{minutes}", service=svc, code="502", method="POST", protocol="http"))
    return out


def durations(t: TenantWatch, per_min: dict[str, float], minutes: int = 60, protocol: str = "http") -> list[dict]:
    """A histogram from per-minute increments of its cumulative buckets (`le` spelled as given)."""
    svc = route(t)
    labels = {"service": svc, "code": "200", "method": "GET", "protocol": protocol}
    out = [s("traefik_service_request_duration_seconds_bucket", f"0+{n:g}x{minutes}", le=le, **labels) for le, n in per_min.items()]
    out.append(s("traefik_service_request_duration_seconds_count", f"0+{per_min['+Inf']:g}x{minutes}", **labels))
    return out


def buckets(fraction_within: dict[float, float], total: float = 600, one: str = "1") -> dict[str, float]:
    bounds = {0.1: "0.1", 0.25: "0.25", 0.5: "0.5", 1.0: one, 2.5: "2.5", 5.0: "5", 10.0: "10"}
    return {**{bounds[b]: total * fraction_within.get(b, 0) for b in bounds}, "+Inf": total}


SLOW = buckets({0.5: 0.05, 1.0: 0.05, 2.5: 0.05, 5.0: 1, 10.0: 1})  # 95% above 2.5 s: p95 far above both thresholds
FAST = buckets({0.1: 0.5, 0.25: 1, 0.5: 1, 1.0: 1, 2.5: 1, 5.0: 1, 10.0: 1})


def workload_cases(t: TenantWatch) -> list[Case]:
    ns, ksm = t.namespace, {"job": "kube-state-metrics"}
    web, cron = {"namespace": ns, "deployment": "odoo-web"}, {"namespace": ns, "deployment": "odoo-cron"}
    hpa = {"namespace": ns, "horizontalpodautoscaler": "odoo-web" if t.tier.is_production else "keda-hpa-odoo-web"}
    pod = {"namespace": ns, "pod": "odoo-web-7d9f-x2x1", "container": "odoo"}

    def deployment(labels: dict, spec: int, available: int) -> list[dict]:
        return [s("kube_deployment_spec_replicas", f"{spec}x40", **labels, **ksm), s("kube_deployment_status_replicas_available", f"{available}x40", **labels, **ksm)]

    def autoscaler(current: int, minimum: int, maximum: int) -> list[dict]:
        return [s("kube_horizontalpodautoscaler_status_current_replicas", f"{current}x40", **hpa, **ksm),
                s("kube_horizontalpodautoscaler_spec_min_replicas", f"{minimum}x40", **hpa, **ksm),
                s("kube_horizontalpodautoscaler_spec_max_replicas", f"{maximum}x40", **hpa, **ksm)]

    def job(namespace: str, name: str, start: int) -> list[dict]:
        labels = {"namespace": namespace, "job_name": name, **ksm}
        return [s("kube_job_failed", "1x10", condition="true", **labels), s("kube_job_status_start_time", f"{start}x10", **labels)]

    quota = {"namespace": ns, "resourcequota": "tenant-quota", "resource": "pods"}
    return [
        Case("OdooHttpErrorRatioHigh", requests(t, 540, 60), "20m", [{}]),  # 10% 5xx
        Case("OdooHttpErrorRatioHigh", requests(t, 594, 6), "20m"),  # 1%
        Case("OdooHttpErrorRatioHigh", requests(t, 0.3, 0.3), "20m"),  # 50%, but 0.01 requests a second: noise
        Case("OdooHttpLatencyP95High", durations(t, SLOW), "25m", [{}]),
        Case("OdooHttpLatencyP95High", durations(t, FAST) + durations(t, buckets({}, 60), protocol="websocket"), "25m"),  # long websockets excluded
        Case("OdooWebDown", deployment(web, 2, 0), "8m", [{**web, **ksm}]),
        Case("OdooWebDown", deployment(web, 2, 2), "8m"),
        Case("OdooWebDown", deployment(web, 0, 0), "8m"),  # scaled to zero off-hours
        Case("OdooWebPodsNotReady", deployment(web, 3, 1), "20m", [web]),
        Case("OdooWebPodsNotReady", deployment(web, 3, 3), "20m"),
        Case("OdooWebPodsNotReady", deployment(web, 3, 0), "20m"),  # that is OdooWebDown's
        Case("OdooWebAutoscalerAtMaximum", autoscaler(4, 1, 4), "20m", [hpa]),
        Case("OdooWebAutoscalerAtMaximum", autoscaler(2, 1, 4), "20m"),
        Case("OdooWebAutoscalerAtMaximum", autoscaler(1, 1, 1), "20m"),  # no range to scale in: not a capacity signal
        Case("OdooCronNotRunning", deployment(cron, 1, 0), "14m", [cron]),
        Case("OdooCronNotRunning", deployment(cron, 1, 1), "14m"),
        Case("OdooCronNotRunning", deployment(cron, 0, 0), "14m"),  # off-hours scale-to-zero: desired 0
        Case("OdooContainerOOMKilled", [s("kube_pod_container_status_restarts_total", "0 0 0 0 0 1x10", **pod, **ksm),
                                        s("kube_pod_container_status_last_terminated_reason", "1x15", reason="OOMKilled", **pod, **ksm)], "7m", [pod]),
        Case("OdooContainerOOMKilled", [s("kube_pod_container_status_restarts_total", "0 0 0 0 0 1x10", **pod, **ksm),
                                        s("kube_pod_container_status_last_terminated_reason", "1x15", reason="Error", **pod, **ksm)], "7m"),
        Case("OdooContainerRestarting", [s("kube_pod_container_status_restarts_total", "0+1x20", **pod, **ksm)], "15m", [pod]),
        Case("OdooContainerRestarting", [s("kube_pod_container_status_restarts_total", "0 1x20", **pod, **ksm)], "15m"),
        Case("OdooQuotaAlmostFull", [s("kube_resourcequota", "10x30", type="used", **quota, **ksm), s("kube_resourcequota", "10x30", type="hard", **quota, **ksm),
                                     s("kube_resourcequota", "0x30", type="hard", namespace=ns, resourcequota="tenant-quota", resource="services.nodeports", **ksm)],
             "20m", [quota]),
        Case("OdooQuotaAlmostFull", [s("kube_resourcequota", "5x30", type="used", **quota, **ksm), s("kube_resourcequota", "10x30", type="hard", **quota, **ksm)], "20m"),
        Case("OdooDataJobFailed", job(ns, "backup-29000000", 0), "5m", [{"namespace": ns, "job_name": "backup-29000000", "condition": "true", **ksm}]),
        Case("OdooDataJobFailed", job(ns, "backup-28000000", -90000), "5m"),  # kept by the CronJob's history, 25 hours old
        Case("OdooDataJobFailed", job(ns, "odoo-init", 0), "5m"),  # not a data job
        Case("OdooJobFailed", job(ns, "odoo-init", 0), "5m", [{"namespace": ns, "job_name": "odoo-init", "condition": "true", **ksm}]),
        Case("OdooJobFailed", job(ns, "drill-29000000", 0), "5m"),
        Case("OdooDatabaseBootstrapFailed", job(pr.BOOTSTRAP_NAMESPACE, f"bootstrap-{t.key}", 0), "5m",
             [{"job_name": f"bootstrap-{t.key}", "condition": "true", **ksm}]),  # the tenant's namespace label wins over the Job's
        Case("OdooDatabaseBootstrapFailed", job(pr.BOOTSTRAP_NAMESPACE, "bootstrap-xx-other", 0), "5m"),
    ]


def burn_cases(t: TenantWatch) -> list[Case]:
    """SLO 99.5% available, 95% under 1 s. Fast burn: 14.4 x budget; slow burn: 3 x budget."""
    return [
        Case("OdooAvailabilityErrorBudgetFastBurn", requests(t, 540, 60, 30), "10m", [{}]),  # 10% > 7.2%
        Case("OdooAvailabilityErrorBudgetFastBurn", requests(t, 588, 12, 30), "10m"),  # 2%: slow, not fast
        Case("OdooAvailabilityErrorBudgetSlowBurn", requests(t, 588, 12, 30), "20m", [{}]),  # 2% > 1.5%
        Case("OdooAvailabilityErrorBudgetSlowBurn", requests(t, 599.4, 0.6, 30), "20m"),  # 0.1% < 0.5% budget
        Case("OdooAvailabilityErrorBudgetSlowBurn", requests(t, 600, 0, 30), "20m"),  # no 5xx series at all
        Case("OdooLatencyErrorBudgetFastBurn", durations(t, buckets({1.0: 0.1, 2.5: 1, 5.0: 1, 10.0: 1}), 30), "10m", [{}]),  # 90% slow > 72%
        Case("OdooLatencyErrorBudgetFastBurn", durations(t, buckets({1.0: 0.8, 2.5: 1, 5.0: 1, 10.0: 1}), 30), "10m"),  # 20% slow
        Case("OdooLatencyErrorBudgetSlowBurn", durations(t, buckets({1.0: 0.8, 2.5: 1, 5.0: 1, 10.0: 1}, one="1.0"), 30), "20m", [{}]),  # 20% > 15%, Prometheus 3's "1.0"
        Case("OdooLatencyErrorBudgetSlowBurn", durations(t, buckets({1.0: 0.98, 2.5: 1, 5.0: 1, 10.0: 1}), 30)
             + durations(t, buckets({}, 60), 30, protocol="websocket"), "20m"),  # 2% slow; hour-long websockets excluded
    ]


def expand(text: str, labels: dict) -> str:
    return re.sub(r"\{\{ \$labels\.(\w+) \}\}", lambda m: labels.get(m.group(1), ""), text)


def the_rule(groups: list[RuleGroup], t: TenantWatch, alert: str, window: str) -> Rule:
    candidates = [r for r in alerts(groups) if r.alert == alert and r.labels.get("tenant") == t.key]
    assert candidates, alert
    return candidates[0] if len(candidates) == 1 else next(r for r in candidates if r.labels["business_window"] == window)


def unit_test_file(t: TenantWatch, groups: list[RuleGroup], cases: list[Case], interval: str = "1m") -> dict:
    tests = []
    for case in cases:
        rule = the_rule(groups, t, case.alert, case.window)
        expected = []
        for extra in case.fires:
            labels = {**extra, **rule.labels}
            expected.append({"exp_labels": labels, "exp_annotations": {k: expand(v, labels) for k, v in rule.annotations.items()}})
        tests.append({"interval": interval, "input_series": case.series, "alert_rule_test": [{"eval_time": case.at, "alertname": case.alert, "exp_alerts": expected}]})
    return {"rule_files": ["rules.yml"], "evaluation_interval": interval, "tests": tests}


def run_unit_tests(tmp_path: Path, groups: list[RuleGroup], test_file: dict) -> None:
    write_rules(tmp_path / "rules.yml", groups)
    (tmp_path / "tests.yml").write_text(yaml.safe_dump(test_file, sort_keys=False, width=10000))
    result = promtool("test", "rules", "tests.yml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_production_alerts_fire_on_failures_and_stay_silent_when_healthy(tmp_path):
    # Payroll on the 25th: promtool's clock starts at 1970-01-01 (day 1), outside it.
    groups = pr.cluster_rule_groups(PROD, "core-finance") + pr.tenant_rule_groups(GC_PROD, [PAYROLL])
    cases = workload_cases(GC_PROD) + burn_cases(GC_PROD)
    assert {c.alert for c in cases} == {r.alert for g in pr.tenant_rule_groups(GC_PROD) for r in g.rules if r.alert}
    assert all(any(c.alert == a and c.fires for c in cases) and any(c.alert == a and not c.fires for c in cases) for a in {c.alert for c in cases})
    # The SLO recording reads 0, not nothing, for a tenant that never answered 5xx.
    test_file = unit_test_file(GC_PROD, groups, cases)
    record = pr.SLO_RECORD.format(window="5m")
    labels = 'environment="prod", namespace="odoo-gc-prod", slo="availability", tenant="gc-prod", unit="gc"'
    test_file["tests"].append({
        "interval": "1m",
        "input_series": requests(GC_PROD, 600, 0, 30),
        "promql_expr_test": [{"expr": f'{record}{{slo="availability"}}', "eval_time": "20m", "exp_samples": [{"labels": f"{record}{{{labels}}}", "value": 0}]}],
    })
    run_unit_tests(tmp_path, groups, test_file)


def test_promtool_a_failed_rotation_job_alerts_for_a_day(tmp_path):
    """Every rotation CronJob's Jobs (components/rotation_jobs.py names them rotate-*), recent failures only, and not
    the bootstrap Jobs beside them (OdooDatabaseBootstrapFailed's) nor a rotate-* Job elsewhere."""
    from components.rotation_jobs import platform_service_account

    groups = pr.cluster_rule_groups(PROD, "core-finance")
    [rule] = [r for r in alerts(groups) if r.alert == "SecretRotationFailed"]
    ksm = {"job": "kube-state-metrics"}

    def job(name: str, start: int, namespace: str = pr.BOOTSTRAP_NAMESPACE) -> list[dict]:
        labels = {"namespace": namespace, "job_name": name, **ksm}
        return [s("kube_job_failed", "1x10", condition="true", **labels), s("kube_job_status_start_time", f"{start}x10", **labels)]

    # what the CronJob controller names a Job: <cronjob>-<minutes since the epoch>
    cronjobs = [f"rotate-db-{GC_PROD.key}", platform_service_account("redis-access-key"), platform_service_account("postgres-admin-password")]
    tests = []
    for series, fires in [*[(job(f"{c}-29000000", 0), [f"{c}-29000000"]) for c in cronjobs],
                          (job(f"{cronjobs[0]}-28000000", -90000), []),  # kept by the CronJob's history, 25 hours old
                          (job(f"bootstrap-{GC_PROD.key}", 0), []),
                          (job("rotate-something", 0, namespace=GC_PROD.namespace), [])]:
        expected = [{"exp_labels": {**rule.labels, "namespace": pr.BOOTSTRAP_NAMESPACE, "job_name": name, "condition": "true", **ksm},
                     "exp_annotations": {k: expand(v, {"job_name": name}) for k, v in rule.annotations.items()}} for name in fires]
        tests.append({"interval": "1m", "input_series": series, "alert_rule_test": [{"eval_time": "5m", "alertname": "SecretRotationFailed", "exp_alerts": expected}]})
    run_unit_tests(tmp_path, groups, {"rule_files": ["rules.yml"], "evaluation_interval": "1m", "tests": tests})


def test_promtool_non_production_alerts_fire_quietly_and_only_for_their_tenant(tmp_path):
    groups = [g for t in NONPROD_TENANTS[:2] + NONPROD_TENANTS[3:4] for g in pr.tenant_rule_groups(t, [CLOSE, PAYROLL])]
    cases = workload_cases(GC_DEV)
    for case in cases:
        if case.fires:
            assert the_rule(groups, GC_DEV, case.alert, case.window).severity in (3, 4)
    run_unit_tests(tmp_path, groups, unit_test_file(GC_DEV, groups, cases))


def test_promtool_business_calendar_makes_the_same_failure_louder_inside_a_window(tmp_path):
    groups = pr.tenant_rule_groups(GC_PROD, [CLOSE])  # days 28-31 and 1-3, UTC
    cron = {"namespace": GC_PROD.namespace, "deployment": "odoo-cron"}
    # Evaluated every 5 minutes (the alert's `for` is 10 minutes): three days at 1 minute would take promtool half a minute.
    down = [s("kube_deployment_spec_replicas", "1x900", **cron), s("kube_deployment_status_replicas_available", "0x900", **cron)]
    cases = [
        Case("OdooCronNotRunning", down, "1h", [cron], window="inside"),  # 1970-01-01: day 1
        Case("OdooCronNotRunning", down, "74h", [cron], window="outside"),  # 1970-01-04 02:00: day 4
        Case("OdooAvailabilityErrorBudgetSlowBurn", requests(GC_PROD, 588, 12, 12), "55m", [{}], window="inside"),
    ]
    assert the_rule(groups, GC_PROD, "OdooCronNotRunning", "inside").severity == severity(PROD, "core-finance", Kind.BUSINESS_PROCESS, True) == 0
    assert the_rule(groups, GC_PROD, "OdooCronNotRunning", "outside").severity == severity(PROD, "core-finance", Kind.BUSINESS_PROCESS, False) == 1
    test_file = unit_test_file(GC_PROD, groups, cases, interval="5m")
    # Exactly one of the pair fires at each time: exp_alerts lists every alert of that name, so the other would fail it.
    assert [len(t["alert_rule_test"][0]["exp_alerts"]) for t in test_file["tests"]] == [1, 1, 1]
    run_unit_tests(tmp_path, groups, test_file)
