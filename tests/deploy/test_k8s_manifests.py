"""The Kubernetes manifests (deploy/k8s), rendered with kustomize and checked offline:

- every core document against the Kubernetes OpenAPI schemas (kubernetes-validate, strict, one fixed
  Kubernetes version), every Strimzi / CloudNativePG document against its operator's JSON Schema
  (deploy/k8s/crd-schemas);
- then the rules that matter to us: all six services deployed, and their workers (coupon-issuer: the
  API's image and command with settings of its own, never routed, scaled within its topic's
  partitions); probes, resources and a locked-down security context on every workload; a PDB, an HPA
  and a migration Job for every service and worker; Services, Ingress backends and configuration that
  point at things that exist; every public path of API.md routed to its owner and /internal never;
  Kafka topics that match the contract registry; pinned images and no placeholder secret in
  production; network policies that allow exactly the calls that exist (evaluated on the rendered
  policies, both ends of every connection); a documented release that migrates before any of the
  services' code runs.

Each check is a function returning the problems it found; the last tests feed broken copies to some
of them, so a check that cannot fail is noticed.
"""

from __future__ import annotations

import copy
import ipaddress
import itertools
import json
import re
from collections.abc import Iterator
from functools import cache
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import jsonschema
import kubernetes_validate
import pytest
from deploy_support import (
    API_ENDPOINTS,
    CALLS,
    K8S,
    OWN_SETTINGS,
    REQUIRED_CONFIG,
    SERVICE_NAMES,
    WHOLE_SUITE,
    WORKER_NAMES,
    WORKER_TOPICS,
    WORKERS,
    callees,
    internal_calls_in_code,
    redis_users,
)

from commerce_contracts import TOPICS
from commerce_kit.settings import SERVICES
from devstack.services import SUITE

#: The Kubernetes version the manifests must be valid for (kubernetes-validate ships 1.25 ... 1.37).
#: 1.33: the oldest minor still supported upstream when this was written; preStop `sleep` and
#: topologySpreadConstraints.matchLabelKeys are in it.
KUBERNETES_VERSION = "1.33.0"

#: Rendered and checked: every overlay, the base alone, and the base with every component.
OVERLAYS = ["overlays/local", "overlays/production"]
RENDERS = ["base", *OVERLAYS, "all-components"]
#: Custom resources validated against deploy/k8s/crd-schemas/<group>/<kind>_<version>.json.
CRD_GROUPS = {"kafka.strimzi.io", "postgresql.cnpg.io"}
CRD_SCHEMAS = K8S / "crd-schemas"
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job"}
CLUSTER_SCOPED = {
    "Namespace",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "PriorityClass",
}
NAMESPACE = "commerce"
#: app.kubernetes.io/component of the pods: a service's API, a worker of a service (a process that serves
#: no traffic, app.kubernetes.io/name being its service's), a migration Job.
SERVICE, WORKER, MIGRATION = "service", "worker", "migration"
README = K8S.parent / "README.md"
#: Secrets production creates out of band (deploy/README.md), and the keys they must hold.
OUT_OF_BAND_SECRETS = {"commerce-secrets": {"JWT_SECRET", "DATABASE_URL"}}
#: Paths that must never reach a service from outside.
NEVER_ROUTED = [
    "/internal",
    "/internal/",
    "/internal/v1/users/1/debit",
    "/INTERNAL/v1/x",
    "/metrics",
    "/health/ready",
]
#: Where the gateway must send each public path: the route table of the local gateway
#: (tools/devstack services.SUITE) and of the whole suite (deploy_support.WHOLE_SUITE: SUITE plus the
#: services not in it yet), with {id} filled in and a sub-path of each; every endpoint of API.md; the
#: API docs of all six.
PUBLIC_ROUTES = (
    {
        probe: service.name
        for service in (*SUITE, *WHOLE_SUITE)
        for path in service.paths
        for probe in (f"/api/v1{path}".replace("{id}", "7"), f"/api/v1{path}/x".replace("{id}", "7"))
    }
    | {f"/api/v1{path}".split("?")[0]: owner for _, path, owner in API_ENDPOINTS}
    | {f"/docs/{name}": name for name in SERVICE_NAMES}
    | {f"/docs/{name}/openapi.json": name for name in SERVICE_NAMES}
)
#: Under a routed prefix, but not a public path of any service: the gateway sends them nowhere.
NOT_PUBLIC = [
    "/api/v1/users",
    "/api/v1/users/7",
    "/api/v1/users/7/wallet",
    "/api/v1/users/7/balancesheet",
    "/api/v1/admin",
    "/api/v1/admin/",
    "/api/v2/products",
    "/",
]
#: A private address of the VPC standing for the managed PostgreSQL, Kafka and Redis (their hosts in
#: overlays/production/config.env resolve to such addresses), and one on the internet.
VPC_ADDRESS = "10.20.30.40"
INTERNET_ADDRESS = "203.0.113.10"


# ---------------------------------------------------------------------------------------------- helpers


def group_version(doc: dict[str, Any]) -> tuple[str, str]:
    group, _, version = doc["apiVersion"].rpartition("/")
    return group, version


def name_of(doc: dict[str, Any]) -> str:
    return f"{doc['kind']}/{doc['metadata']['name']}"


def of_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    return workload["spec"]["template"]["spec"]


def pod_labels(workload: dict[str, Any]) -> dict[str, str]:
    return workload["spec"]["template"].get("metadata", {}).get("labels", {})


def containers(workload: dict[str, Any]) -> list[dict[str, Any]]:
    spec = pod_spec(workload)
    return [*spec.get("initContainers", []), *spec["containers"]]


def selects(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    """Kubernetes label-selector semantics (matchLabels + matchExpressions); {} selects everything."""
    if selector is None:
        return False
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expr in selector.get("matchExpressions", []):
        key, op, values = expr["key"], expr["operator"], expr.get("values", [])
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def service_deployments(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The suite's services (not infrastructure): Deployments whose pods are labelled component=service."""
    return [
        d for d in of_kind(docs, "Deployment") if pod_labels(d).get("app.kubernetes.io/component") == SERVICE
    ]


def worker_deployments(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The services' workers (coupon-issuer): Deployments whose pods are labelled component=worker."""
    return [
        d for d in of_kind(docs, "Deployment") if pod_labels(d).get("app.kubernetes.io/component") == WORKER
    ]


def process_deployments(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every Deployment running the services' code: their APIs and their workers."""
    return [*service_deployments(docs), *worker_deployments(docs)]


def workloads(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] in WORKLOAD_KINDS]


def image_tag(image: str) -> str | None:
    """'repo/name:tag' -> 'tag'; a digest counts as pinned; no tag -> None (which means latest)."""
    if "@sha256:" in image:
        return "@digest"
    last = image.rsplit("/", 1)[-1]
    return last.rsplit(":", 1)[1] if ":" in last else None


def all_strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield str(k)
            yield from all_strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from all_strings(v)


@cache
def crd_schema(group: str, kind: str, version: str) -> dict[str, Any] | None:
    path = CRD_SCHEMAS / group / f"{kind.lower()}_{version}.json"
    return json.loads(path.read_text()) if path.exists() else None


# ----------------------------------------------------------------------------------------------- checks


def schema_problems(docs: list[dict[str, Any]]) -> list[str]:
    problems = []
    for doc in docs:
        group, version = group_version(doc)
        if group in CRD_GROUPS:
            schema = crd_schema(group, doc["kind"], version)
            if schema is None:
                problems.append(f"{name_of(doc)}: no schema {group}/{doc['kind'].lower()}_{version}.json")
                continue
            validator_type = jsonschema.validators.validator_for(schema, default=jsonschema.Draft7Validator)
            for error in validator_type(schema).iter_errors(doc):
                path = ".".join(str(p) for p in error.absolute_path)
                problems.append(f"{name_of(doc)} ({doc['apiVersion']}): {path}: {error.message}")
            continue
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            path = ".".join(str(p) for p in error.path)
            problems.append(f"{name_of(doc)}: {path}: {error.message}")
        except kubernetes_validate.SchemaNotFoundError as error:
            problems.append(f"{name_of(doc)}: {error.message}")
    return problems


def workload_problems(docs: list[dict[str, Any]]) -> list[str]:
    """Every workload: non-root, read-only root filesystem, no privilege escalation, no capabilities,
    RuntimeDefault seccomp, no API token, resources; Deployments also liveness and readiness probes."""
    problems = []
    accounts = {d["metadata"]["name"]: d for d in of_kind(docs, "ServiceAccount")}
    for workload in workloads(docs):
        spec = pod_spec(workload)
        pod_security = spec.get("securityContext", {})
        account = accounts.get(spec.get("serviceAccountName", "default"), {})
        if spec.get("automountServiceAccountToken", account.get("automountServiceAccountToken", True)):
            problems.append(f"{name_of(workload)}: mounts a Kubernetes API token")
        for c in containers(workload):
            where = f"{name_of(workload)} container {c['name']}"
            security = c.get("securityContext", {})
            if not security.get("runAsNonRoot", pod_security.get("runAsNonRoot", False)):
                problems.append(f"{where}: runAsNonRoot is not true")
            if security.get("runAsUser", pod_security.get("runAsUser")) == 0:
                problems.append(f"{where}: runs as uid 0")
            if security.get("readOnlyRootFilesystem") is not True:
                problems.append(f"{where}: readOnlyRootFilesystem is not true")
            if security.get("allowPrivilegeEscalation") is not False:
                problems.append(f"{where}: allowPrivilegeEscalation is not false")
            if "ALL" not in security.get("capabilities", {}).get("drop", []):
                problems.append(f"{where}: does not drop ALL capabilities")
            seccomp = security.get("seccompProfile", pod_security.get("seccompProfile", {}))
            if seccomp.get("type") != "RuntimeDefault":
                problems.append(f"{where}: seccomp profile is not RuntimeDefault")
            resources = c.get("resources", {})
            for key in ("requests.cpu", "requests.memory", "limits.memory"):
                section, resource = key.split(".")
                if resource not in resources.get(section, {}):
                    problems.append(f"{where}: no resources.{key}")
            if workload["kind"] == "Deployment" and c in spec["containers"]:
                for probe in ("livenessProbe", "readinessProbe"):
                    if probe not in c:
                        problems.append(f"{where}: no {probe}")
    return problems


def service_probe_problems(docs: list[dict[str, Any]]) -> list[str]:
    """The suite's services and workers: startup + liveness on /health/live, readiness on /health/ready,
    on the container's own port."""
    problems = []
    expected = {
        "startupProbe": "/health/live",
        "livenessProbe": "/health/live",
        "readinessProbe": "/health/ready",
    }
    for deployment in process_deployments(docs):
        for c in pod_spec(deployment)["containers"]:
            ports = {p.get("name") for p in c.get("ports", [])} | {
                p["containerPort"] for p in c.get("ports", [])
            }
            for probe, path in expected.items():
                get = c.get(probe, {}).get("httpGet", {})
                if get.get("path") != path:
                    problems.append(f"{name_of(deployment)}: {probe} does not GET {path}")
                elif get.get("port") not in ports:
                    problems.append(
                        f"{name_of(deployment)}: {probe} port {get.get('port')} is not a container port"
                    )
    return problems


def availability_problems(docs: list[dict[str, Any]]) -> list[str]:
    """Every service and worker Deployment: exactly one PDB selecting its pods (the eviction API refuses
    a pod two budgets select), which allows evictions, an autoscaling/v2 HPA targeting it, and a
    migration Job of its service running `migrate` with the same image."""
    problems = []
    pdbs, hpas, jobs = (
        of_kind(docs, "PodDisruptionBudget"),
        of_kind(docs, "HorizontalPodAutoscaler"),
        of_kind(docs, "Job"),
    )
    for deployment in process_deployments(docs):
        name, labels = deployment["metadata"]["name"], pod_labels(deployment)
        covering = [p for p in pdbs if selects(p["spec"].get("selector"), labels)]
        if not covering:
            problems.append(f"{name_of(deployment)}: no PodDisruptionBudget selects its pods")
        elif len(covering) > 1:
            problems.append(
                f"{name_of(deployment)}: {len(covering)} PodDisruptionBudgets select its pods"
                f" ({', '.join(name_of(p) for p in covering)}): none can be evicted"
            )
        for pdb in covering:
            if pdb["spec"].get("maxUnavailable") in (0, "0%") or "minAvailable" in pdb["spec"]:
                problems.append(
                    f"{name_of(pdb)}: use maxUnavailable >= 1 (minAvailable can block every drain)"
                )
        targeting = [
            h
            for h in hpas
            if h["spec"]["scaleTargetRef"].get("kind") == "Deployment"
            and h["spec"]["scaleTargetRef"]["name"] == name
        ]
        if not targeting:
            problems.append(f"{name_of(deployment)}: no HorizontalPodAutoscaler targets it")
        for hpa in targeting:
            if hpa["apiVersion"] != "autoscaling/v2":
                problems.append(f"{name_of(hpa)}: not autoscaling/v2")
            if not 1 <= hpa["spec"].get("minReplicas", 1) <= hpa["spec"]["maxReplicas"]:
                problems.append(f"{name_of(hpa)}: minReplicas/maxReplicas out of order")
            if not any(m.get("resource", {}).get("name") == "cpu" for m in hpa["spec"].get("metrics", [])):
                problems.append(f"{name_of(hpa)}: does not scale on CPU")
            for c in pod_spec(deployment)["containers"]:
                if "cpu" not in c.get("resources", {}).get("requests", {}):
                    problems.append(f"{name_of(deployment)}: HPA on CPU needs a CPU request on {c['name']}")
        service_name = labels.get("app.kubernetes.io/name")
        migrations = [
            j
            for j in jobs
            if pod_labels(j).get("app.kubernetes.io/name") == service_name
            and pod_labels(j).get("app.kubernetes.io/component") == MIGRATION
        ]
        if not migrations:
            problems.append(f"{name_of(deployment)}: no migration Job")
        app = pod_spec(deployment)["containers"][0]
        for job in migrations:
            run = pod_spec(job)["containers"][0]
            if run.get("image") != app.get("image"):
                problems.append(f"{name_of(job)}: image {run.get('image')} differs from the Deployment's")
            if run.get("command") != app.get("command") or "migrate" not in run.get("args", []):
                problems.append(f"{name_of(job)}: does not run `{' '.join(app.get('command', []))} migrate`")
            for field in ("backoffLimit", "ttlSecondsAfterFinished", "activeDeadlineSeconds"):
                if field not in job["spec"]:
                    problems.append(f"{name_of(job)}: no {field}")
            if pod_spec(job).get("restartPolicy") not in ("Never", "OnFailure"):
                problems.append(f"{name_of(job)}: restartPolicy must be Never or OnFailure")
    return problems


def service_problems(docs: list[dict[str, Any]]) -> list[str]:
    """Every Service selects the pods of exactly one Deployment (never a Job's), on a port they expose."""
    problems = []
    for service in of_kind(docs, "Service"):
        selector = {"matchLabels": service["spec"].get("selector", {})}
        matched = [w for w in workloads(docs) if selects(selector, pod_labels(w))]
        if [w["kind"] for w in matched] != ["Deployment"]:
            problems.append(
                f"{name_of(service)}: selects {[name_of(w) for w in matched]}, not exactly one Deployment"
            )
            continue
        exposed = set()
        for c in pod_spec(matched[0])["containers"]:
            for p in c.get("ports", []):
                exposed |= {p["containerPort"], p.get("name")}
        for port in service["spec"]["ports"]:
            if port.get("targetPort", port["port"]) not in exposed:
                problems.append(
                    f"{name_of(service)}: targetPort {port.get('targetPort')} is not exposed by the pods"
                )
    return problems


def ingress_paths(docs: list[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    for ingress in of_kind(docs, "Ingress"):
        for rule in ingress["spec"].get("rules", []):
            for path in rule.get("http", {}).get("paths", []):
                yield ingress, path


def path_matches(path: dict[str, Any], probe: str, regex_host: bool) -> bool:
    """Whether ingress-nginx sends `probe` to this path. With use-regex / rewrite-target on any Ingress
    of the host, every path of the host becomes a case-insensitive regex anchored at the start."""
    value, kind = path["path"], path["pathType"]
    if kind == "Exact":
        plain = probe == value
    elif kind == "Prefix":
        prefix = value.rstrip("/")
        plain = prefix == "" or probe == prefix or probe.startswith(prefix + "/")
    else:
        plain = False
    regex = (kind == "ImplementationSpecific" or regex_host) and re.match(
        value, probe, re.IGNORECASE
    ) is not None
    return plain or regex


def route(docs: list[dict[str, Any]], probe: str) -> str | None:
    """The Service ingress-nginx sends `probe` to (the longest matching path wins), or None."""
    regex_host = any(
        i["metadata"].get("annotations", {}).get(a)
        for i in of_kind(docs, "Ingress")
        for a in ("nginx.ingress.kubernetes.io/use-regex", "nginx.ingress.kubernetes.io/rewrite-target")
    )
    matching = [(len(p["path"]), p) for _, p in ingress_paths(docs) if path_matches(p, probe, regex_host)]
    if not matching:
        return None
    return max(matching, key=lambda m: m[0])[1]["backend"]["service"]["name"]


def ingress_problems(docs: list[dict[str, Any]]) -> list[str]:
    problems = []
    services = {s["metadata"]["name"]: s for s in of_kind(docs, "Service")}
    for ingress in of_kind(docs, "Ingress"):
        annotations = ingress["metadata"].get("annotations", {})
        if ingress["spec"].get("ingressClassName") != "nginx":
            problems.append(f"{name_of(ingress)}: ingressClassName is not nginx")
        if annotations.get("nginx.ingress.kubernetes.io/proxy-body-size") != "64k":
            problems.append(f"{name_of(ingress)}: proxy-body-size is not 64k")
        for timeout in ("proxy-connect-timeout", "proxy-read-timeout", "proxy-send-timeout"):
            if f"nginx.ingress.kubernetes.io/{timeout}" not in annotations:
                problems.append(f"{name_of(ingress)}: no {timeout}")
        if any("snippet" in a for a in annotations):
            problems.append(f"{name_of(ingress)}: snippet annotations are not allowed")
    for ingress, path in ingress_paths(docs):
        if path["path"].lower().startswith("/internal"):
            problems.append(f"{name_of(ingress)}: routes {path['path']}")
        backend = path["backend"].get("service", {})
        service = services.get(backend.get("name"))
        if service is None:
            problems.append(f"{name_of(ingress)}: backend Service {backend.get('name')} does not exist")
            continue
        port = backend.get("port", {})
        known = {p.get("name") for p in service["spec"]["ports"]} | {
            p["port"] for p in service["spec"]["ports"]
        }
        if port.get("name", port.get("number")) not in known:
            problems.append(f"{name_of(ingress)}: Service {backend['name']} has no port {port}")
    for probe in NEVER_ROUTED:
        if (target := route(docs, probe)) is not None:
            problems.append(f"{probe} is routed to {target}")
    return problems


def config_problems(docs: list[dict[str, Any]], *, out_of_band: dict[str, set[str]]) -> list[str]:
    """Every service container (Deployment, worker and migration Job) finds the configuration it needs in
    ConfigMaps and Secrets of the render (or documented out-of-band Secrets, or those an operator
    generates), and every in-cluster host it is given exists."""
    problems = []
    maps = {d["metadata"]["name"]: d.get("data", {}) for d in of_kind(docs, "ConfigMap")}
    secrets = {
        d["metadata"]["name"]: {**d.get("data", {}), **d.get("stringData", {})}
        for d in of_kind(docs, "Secret")
    }
    generated = {
        f"{c['metadata']['name']}-app": {"uri", "username", "password"} for c in of_kind(docs, "Cluster")
    }
    services = {
        s["metadata"]["name"]: {p["port"] for p in s["spec"]["ports"]} for s in of_kind(docs, "Service")
    }
    for kafka in of_kind(docs, "Kafka"):
        services[f"{kafka['metadata']['name']}-kafka-bootstrap"] = {
            listener["port"] for listener in kafka["spec"]["kafka"]["listeners"]
        }
    deployed = {pod_labels(d).get("app.kubernetes.io/name") for d in service_deployments(docs)}

    def secret_keys(name: str) -> set[str] | None:
        if name in secrets:
            return set(secrets[name])
        return generated.get(name, out_of_band.get(name))

    def check_host(where: str, variable: str, host: str | None, port: int | None) -> None:
        if host and "." not in host and port not in services.get(host, set()):
            problems.append(f"{where}: {variable} points at {host}:{port}, not a Service of this render")

    users = [*process_deployments(docs), *[j for j in of_kind(docs, "Job") if "migrate" in str(pod_spec(j))]]
    for workload in users:
        for c in pod_spec(workload)["containers"]:
            where = f"{name_of(workload)} container {c['name']}"
            values: dict[str, str | None] = {}
            for source in c.get("envFrom", []):
                if ref := source.get("configMapRef"):
                    if ref["name"] not in maps:
                        problems.append(f"{where}: ConfigMap {ref['name']} is not in the render")
                    values.update(maps.get(ref["name"], {}))
                if ref := source.get("secretRef"):
                    keys = secret_keys(ref["name"])
                    if keys is None:
                        problems.append(f"{where}: Secret {ref['name']} is neither rendered nor documented")
                    values.update(dict.fromkeys(keys or (), None))
            for env in c.get("env", []):
                if ref := env.get("valueFrom", {}).get("secretKeyRef"):
                    if ref["key"] not in (secret_keys(ref["name"]) or set()):
                        problems.append(
                            f"{where}: {env['name']} refers to a missing key {ref['name']}/{ref['key']}"
                        )
                values[env["name"]] = env.get("value")
            for missing in sorted(REQUIRED_CONFIG - set(values)):
                problems.append(f"{where}: {missing} is not set")
            for server in (values.get("KAFKA_BOOTSTRAP_SERVERS") or "").split(","):
                if server:
                    host, _, port = server.rpartition(":")
                    check_host(where, "KAFKA_BOOTSTRAP_SERVERS", host, int(port))
            if url := values.get("REDIS_URL"):
                check_host(where, "REDIS_URL", urlsplit(url).hostname, urlsplit(url).port or 6379)
            for name in deployed:
                if url := values.get(f"{name.upper()}_SERVICE_URL"):
                    check_host(
                        where, f"{name.upper()}_SERVICE_URL", urlsplit(url).hostname, urlsplit(url).port or 80
                    )
            if url := values.get("DATA_PLATFORM_URL"):
                parts = urlsplit(url)
                port = parts.port or (443 if parts.scheme == "https" else 80)
                check_host(where, "DATA_PLATFORM_URL", parts.hostname, port)
    return problems


def environment_values(docs: list[dict[str, Any]], container: dict[str, Any]) -> dict[str, str | None]:
    """What a container finds in its environment: ConfigMap values and `env` values (Secret keys as
    None: their values are not in the render)."""
    maps = {d["metadata"]["name"]: d.get("data", {}) for d in of_kind(docs, "ConfigMap")}
    values: dict[str, str | None] = {}
    for source in container.get("envFrom", []):
        if ref := source.get("configMapRef"):
            values.update(maps.get(ref["name"], {}))
        if ref := source.get("secretRef"):
            values.update(
                dict.fromkeys(
                    key
                    for d in of_kind(docs, "Secret")
                    if d["metadata"]["name"] == ref["name"]
                    for key in (*d.get("data", {}), *d.get("stringData", {}))
                )
            )
    for env in container.get("env", []):
        values[env["name"]] = env.get("value")
    return values


def own_configuration_problems(docs: list[dict[str, Any]]) -> list[str]:
    """Each service finds the services it calls at their Kubernetes Service (http://<name>:8000) and
    its own settings: payment an external DATA_PLATFORM_URL (or, in a render that runs a stand-in,
    that stand-in's Service), ranking a valid APP_ZONE."""
    problems = []
    ports = {s["metadata"]["name"]: {p["port"] for p in s["spec"]["ports"]} for s in of_kind(docs, "Service")}
    for deployment in service_deployments(docs):
        name = pod_labels(deployment)["app.kubernetes.io/name"]
        values = environment_values(docs, pod_spec(deployment)["containers"][0])
        for callee in sorted(callees(name)):
            url = values.get(f"{callee.upper()}_SERVICE_URL") or ""
            if (urlsplit(url).hostname, urlsplit(url).port) != (callee, 8000):
                problems.append(f"{name}: {callee.upper()}_SERVICE_URL is {url!r}, not http://{callee}:8000")
            elif 8000 not in ports.get(callee, set()):
                problems.append(f"{name}: no Service {callee} on port 8000")
        for variable in sorted(OWN_SETTINGS.get(name, set())):
            if not values.get(variable):
                problems.append(f"{name}: {variable} is not set")
        if url := values.get("DATA_PLATFORM_URL"):
            host = urlsplit(url).hostname or ""
            if "." in host and urlsplit(url).scheme != "https":
                problems.append(f"{name}: the external DATA_PLATFORM_URL {url} is not https")
            if "." not in host and host not in ports:
                problems.append(f"{name}: DATA_PLATFORM_URL {url} is neither external nor a Service here")
        if zone := values.get("APP_ZONE"):
            try:
                ZoneInfo(zone)
            except (KeyError, ValueError):
                problems.append(f"{name}: APP_ZONE {zone!r} is not a time zone")
    return problems


def worker_problems(docs: list[dict[str, Any]]) -> list[str]:
    """Each worker of WHOLE_SUITE (coupon-issuer) is a Deployment of its own, labelled as a worker of its
    service, running the API's image, command and configuration sources with the worker's settings
    (and the API with its own); scraped like the API; with a ServiceAccount of its own without a token;
    selected by no Service (so no Ingress and no <NAME>_SERVICE_URL reaches it); its HPA within the
    partitions of the topics it consumes. No other Deployment is labelled a worker."""
    problems = []
    deployments = {d["metadata"]["name"]: d for d in of_kind(docs, "Deployment")}
    accounts = {a["metadata"]["name"]: a for a in of_kind(docs, "ServiceAccount")}
    hpas = {
        h["spec"]["scaleTargetRef"]["name"]: h
        for h in of_kind(docs, "HorizontalPodAutoscaler")
        if h["spec"]["scaleTargetRef"].get("kind") == "Deployment"
    }
    for d in worker_deployments(docs):
        if d["metadata"]["name"] not in WORKER_NAMES:
            problems.append(f"{name_of(d)}: labelled a worker, but no service has a worker of that name")
    for service, worker in WORKERS:
        api, own = deployments.get(service.name), deployments.get(worker.name)
        if api is None or own is None:
            problems.append(f"{worker.name}: no Deployment {worker.name} next to Deployment {service.name}")
            continue
        labels = pod_labels(own)
        got = (labels.get("app.kubernetes.io/name"), labels.get("app.kubernetes.io/component"))
        if got != (service.name, WORKER):
            problems.append(f"{worker.name}: pods labelled name={got[0]}, component={got[1]}")
        api_app, own_app = pod_spec(api)["containers"][0], pod_spec(own)["containers"][0]
        for field in ("image", "command", "args", "envFrom"):
            if own_app.get(field) != api_app.get(field):
                problems.append(f"{worker.name}: {field} {own_app.get(field)} is not {service.name}'s")
        for process, app, settings in (
            (service.name, api_app, service.env),
            (worker.name, own_app, worker.env),
        ):
            values = environment_values(docs, app)
            for key, value in settings:
                if values.get(key) != value:
                    problems.append(f"{process}: {key} is {values.get(key)!r}, not {value!r}")

        def scraping(deployment: dict[str, Any]) -> dict[str, str]:
            annotations = deployment["spec"]["template"].get("metadata", {}).get("annotations", {})
            return {k: v for k, v in annotations.items() if k.startswith("prometheus.io/")}

        if not scraping(own) or scraping(own) != scraping(api):
            problems.append(
                f"{worker.name}: scraped as {scraping(own)}, not as {service.name} {scraping(api)}"
            )
        account = pod_spec(own).get("serviceAccountName", "default")
        if account != worker.name or account not in accounts:
            problems.append(f"{worker.name}: runs as ServiceAccount {account}, not one of its own")
        for s in of_kind(docs, "Service"):
            if selects({"matchLabels": s["spec"].get("selector", {})}, labels):
                problems.append(f"{worker.name}: {name_of(s)} selects its pods: it serves no traffic")
        for ingress, path in ingress_paths(docs):
            if path["backend"].get("service", {}).get("name") == worker.name:
                problems.append(f"{worker.name}: {name_of(ingress)} routes {path['path']} to it")
        topics = WORKER_TOPICS.get(worker.name)
        if not topics:
            problems.append(f"{worker.name}: WORKER_TOPICS does not say what it consumes")
        elif (hpa := hpas.get(worker.name)) is not None:
            partitions = min(t.partitions for t in topics)
            if hpa["spec"]["maxReplicas"] > partitions:
                problems.append(
                    f"{name_of(hpa)}: maxReplicas {hpa['spec']['maxReplicas']} > the {partitions}"
                    " partitions it consumes (the replicas beyond them sit idle)"
                )
    return problems


def parse_selector(text: str) -> dict[str, Any]:
    """A kubectl `-l` selector ('a=b,c notin (d, e),!f') as a LabelSelector."""
    expressions = []
    for term in re.findall(r"[^,(]+(?:\([^)]*\))?", text):
        term = term.strip()
        if m := re.fullmatch(r"([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)", term):
            values = [v.strip() for v in m.group(3).split(",") if v.strip()]
            operator = {"in": "In", "notin": "NotIn"}[m.group(2)]
            expressions.append({"key": m.group(1), "operator": operator, "values": values})
        elif m := re.fullmatch(r"([\w./-]+)\s*(==|=|!=)\s*([\w.-]*)", term):
            operator = "NotIn" if m.group(2) == "!=" else "In"
            expressions.append({"key": m.group(1), "operator": operator, "values": [m.group(3)]})
        elif m := re.fullmatch(r"!\s*([\w./-]+)", term):
            expressions.append({"key": m.group(1), "operator": "DoesNotExist"})
        elif m := re.fullmatch(r"[\w./-]+", term):
            expressions.append({"key": term, "operator": "Exists"})
        else:
            raise ValueError(f"cannot read the selector term {term!r} of {text!r}")
    return {"matchExpressions": expressions}


def release_problems(docs: list[dict[str, Any]], first_phase: str) -> list[str]:
    """The release of deploy/README.md applies the documents `first_phase` selects, waits for the
    migration Jobs, then applies everything: the first phase must hold every migration Job and no
    Deployment that runs a service's code (an API or a worker would serve or consume on the old schema)."""
    selector = parse_selector(first_phase)
    first = [d for d in docs if selects(selector, d["metadata"].get("labels", {}))]
    problems = [f"{name_of(d)} starts before the migrations" for d in first if d in process_deployments(docs)]
    for job in of_kind(docs, "Job"):
        if pod_labels(job).get("app.kubernetes.io/component") == MIGRATION and job not in first:
            problems.append(f"{name_of(job)} is not applied in the first phase")
    return problems


# ------------------------------------------------------------------------- network policies, evaluated
#
# A connection is allowed when the source pod's egress policies and the destination pod's ingress
# policies both let it through (a pod no policy of that direction selects is open in that direction).
# An end is a pod, {"namespace": ..., "labels": {...}}, or an address outside the cluster, {"ip": ...}.


def pod(namespace: str, labels: dict[str, str]) -> dict[str, Any]:
    return {"namespace": namespace, "labels": labels}


def policy_types(policy: dict[str, Any]) -> list[str]:
    spec = policy["spec"]
    return spec.get("policyTypes") or ["Ingress", *(["Egress"] if "egress" in spec else [])]


def peer_matches(rule_peer: dict[str, Any], end: dict[str, Any], policy_namespace: str) -> bool:
    if "ipBlock" in rule_peer:
        if "ip" not in end:
            return False  # pod addresses are the CNI's business: never counted on here
        address, block = ipaddress.ip_address(end["ip"]), rule_peer["ipBlock"]
        return address in ipaddress.ip_network(block["cidr"]) and not any(
            address in ipaddress.ip_network(e) for e in block.get("except", [])
        )
    if "ip" in end:
        return False
    namespaces = rule_peer.get("namespaceSelector")
    if namespaces is None:
        if end["namespace"] != policy_namespace:
            return False
    elif not selects(namespaces, {"kubernetes.io/metadata.name": end["namespace"]}):
        return False
    pods = rule_peer.get("podSelector")
    return pods is None or selects(pods, end["labels"])


def port_matches(ports: list[dict[str, Any]] | None, port: int, protocol: str) -> bool:
    if not ports:
        return True
    for entry in ports:
        if entry.get("protocol", "TCP") != protocol:
            continue
        if "port" not in entry:
            return True
        if isinstance(entry["port"], int) and entry["port"] <= port <= entry.get("endPort", entry["port"]):
            return True
    return False


def lets_through(
    policies: list[dict[str, Any]],
    own: dict[str, Any],
    direction: str,
    other: dict[str, Any],
    port: int,
    protocol: str,
) -> bool:
    rules_key, peers_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
    selecting = [
        p
        for p in policies
        if p["metadata"].get("namespace", NAMESPACE) == own["namespace"]
        and direction in policy_types(p)
        and selects(p["spec"]["podSelector"], own["labels"])
    ]
    if not selecting:
        return True
    return any(
        (not rule.get(peers_key) or any(peer_matches(r, other, own["namespace"]) for r in rule[peers_key]))
        and port_matches(rule.get("ports"), port, protocol)
        for p in selecting
        for rule in p["spec"].get(rules_key, [])
    )


def connection_allowed(
    policies: list[dict[str, Any]],
    source: dict[str, Any],
    target: dict[str, Any],
    port: int,
    protocol: str = "TCP",
) -> bool:
    out = "ip" in source or lets_through(policies, source, "Egress", target, port, protocol)
    into = "ip" in target or lets_through(policies, target, "Ingress", source, port, protocol)
    return out and into


def network_policy_problems(docs: list[dict[str, Any]]) -> list[str]:
    """With the rendered policies: service -> service on 8000 exactly for CALLS, and nothing between a
    worker (coupon-issuer) and any other process; ingress-nginx -> every service, never a worker;
    Prometheus -> every service and worker; nobody else in; out of the pods only DNS, PostgreSQL
    (services, workers and migrations), Kafka (services and workers), Redis (the services using it and
    their workers), the data platform (payment), at the ports the configuration documents."""
    policies = of_kind(docs, "NetworkPolicy")
    problems = []
    # By process: a service by its name (its pods' app.kubernetes.io/name), a worker by its Deployment's.
    deployments = {pod_labels(d)["app.kubernetes.io/name"]: d for d in service_deployments(docs)}
    deployments |= {d["metadata"]["name"]: d for d in worker_deployments(docs)}
    processes = {name: pod(NAMESPACE, pod_labels(d)) for name, d in deployments.items()}
    workers = {name for name, d in deployments.items() if d in worker_deployments(docs)}
    migrations = {
        name_of(j): pod(NAMESPACE, pod_labels(j))
        for j in of_kind(docs, "Job")
        if pod_labels(j).get("app.kubernetes.io/component") == MIGRATION
    }
    config = next(
        d["data"] for d in of_kind(docs, "ConfigMap") if d["metadata"]["name"].startswith("commerce-config")
    )
    kafka_ports = {int(s.rpartition(":")[2]) for s in config["KAFKA_BOOTSTRAP_SERVERS"].split(",")}
    redis_port = urlsplit(config["REDIS_URL"]).port or 6379
    postgres_port = 5432  # DATABASE_URL is in the Secret made out of band (deploy/README.md)
    vpc, internet = {"ip": VPC_ADDRESS}, {"ip": INTERNET_ADDRESS}
    dns = pod("kube-system", {"k8s-app": "kube-dns"})

    def expect(what: str, allowed: bool, *connection: Any) -> None:
        if connection_allowed(policies, *connection) != allowed:
            problems.append(f"{what} is {'denied' if allowed else 'allowed'}")

    for (a, source), (b, target) in itertools.product(processes.items(), repeat=2):
        if a != b:
            expect(f"{a} -> {b}:8000", (a, b) in CALLS, source, target, 8000)
    controller = pod("ingress-nginx", {"app.kubernetes.io/name": "ingress-nginx"})
    prometheus = pod("monitoring", {"app.kubernetes.io/name": "prometheus"})
    for name, target in processes.items():
        expect(f"ingress-nginx -> {name}:8000", name not in workers, controller, target, 8000)
        expect(f"prometheus -> {name}:8000", True, prometheus, target, 8000)
        expect(f"ingress-nginx -> {name}:9000", False, controller, target, 9000)
        expect(
            f"another pod of ingress-nginx -> {name}", False, pod("ingress-nginx", {"app": "x"}), target, 8000
        )
        expect(f"a pod of namespace default -> {name}", False, pod("default", {}), target, 8000)
        expect(f"an unlabelled pod of {NAMESPACE} -> {name}", False, pod(NAMESPACE, {}), target, 8000)
        expect(f"the internet -> {name}", False, internet, target, 8000)
    for name, source in processes.items():
        expect(f"{name} -> DNS (UDP)", True, source, dns, 53, "UDP")
        expect(f"{name} -> DNS (TCP)", True, source, dns, 53)
        expect(f"{name} -> PostgreSQL:{postgres_port}", True, source, vpc, postgres_port)
        for port in sorted(kafka_ports):
            expect(f"{name} -> Kafka:{port}", True, source, vpc, port)
        # A worker runs its service's code: it uses Redis when its service does.
        uses_redis = source["labels"]["app.kubernetes.io/name"] in redis_users()
        expect(f"{name} -> Redis:{redis_port}", uses_redis, source, vpc, redis_port)
        platform = environment_values(docs, pod_spec(deployments[name])["containers"][0]).get(
            "DATA_PLATFORM_URL"
        )
        port = 443
        if platform is not None:
            port = urlsplit(platform).port or (443 if urlsplit(platform).scheme == "https" else 80)
        expect(
            f"{name} -> the internet:{port} (the data platform)", platform is not None, source, internet, port
        )
        expect(f"{name} -> the internet:80", False, source, internet, 80)
        expect(f"{name} -> the VPC:22", False, source, vpc, 22)
        expect(f"{name} -> a pod of namespace default", False, source, pod("default", {}), 8000)
    for name, source in migrations.items():
        expect(f"{name} -> DNS", True, source, dns, 53, "UDP")
        expect(f"{name} -> PostgreSQL:{postgres_port}", True, source, vpc, postgres_port)
        for port in sorted(kafka_ports):
            expect(f"{name} -> Kafka:{port}", False, source, vpc, port)
        for target_name, target in processes.items():
            expect(f"{name} -> {target_name}:8000", False, source, target, 8000)
    return problems


# ------------------------------------------------------------------------------------------------ tests


def test_the_route_tables_agree():
    # WHOLE_SUITE is services.SUITE plus what it does not list yet; the six of docs/conventions.md.
    assert [s.name for s in WHOLE_SUITE] == list(SERVICES)
    whole = {s.name: s for s in WHOLE_SUITE}
    assert [s for s in SUITE if whole.get(s.name) != s] == []
    for _, path, owner in API_ENDPOINTS:
        assert owner in whole, path


@pytest.mark.parametrize("name", RENDERS)
def test_every_service_of_the_suite_is_deployed(render, name):
    docs = render(name)
    deployed = {pod_labels(d)["app.kubernetes.io/name"] for d in service_deployments(docs)}
    assert deployed == set(SERVICE_NAMES)
    for service in SERVICE_NAMES:
        assert f"Service/{service}" in {name_of(s) for s in of_kind(docs, "Service")}
        assert f"ServiceAccount/{service}" in {name_of(s) for s in of_kind(docs, "ServiceAccount")}
        assert {f"{service}-api", f"{service}-docs", f"{service}-openapi"} <= {
            i["metadata"]["name"] for i in of_kind(docs, "Ingress")
        }
    # And every worker of a service (tools/devstack Service.workers: coupon-issuer), beside it.
    assert WORKER_NAMES, "WHOLE_SUITE has no worker: the checks of workers check nothing"
    assert {d["metadata"]["name"] for d in worker_deployments(docs)} == set(WORKER_NAMES)


@pytest.mark.parametrize("name", RENDERS)
def test_each_worker_runs_its_service_code_with_its_own_settings_and_is_never_routed(render, name):
    # coupon-issuer: the coupon image and command, COUPON_ISSUE_CONSUMER=true (the API false), its own
    # ServiceAccount, scraped like the API, no Service / Ingress, an HPA within coupon-issue's partitions.
    docs = render(name)
    assert worker_deployments(docs)
    assert worker_problems(docs) == []
    workers = {d["metadata"]["name"] for d in worker_deployments(docs)}
    assert {route(docs, probe) for probe in PUBLIC_ROUTES} & workers == set()


def test_each_worker_consumes_the_topics_that_bound_it():
    # WORKER_TOPICS (the bound of a worker's HPA) against the consumer the issuer's flag turns on.
    from coupon_service.entrypoints.consumers import coupon_issue_consumer

    assert WORKER_TOPICS == {"coupon-issuer": (coupon_issue_consumer(None, 1).topic,)}
    assert set(WORKER_TOPICS) == set(WORKER_NAMES)


def test_the_documented_release_migrates_before_any_service_code_runs(render):
    # deploy/README.md "Production": `kubectl apply ... -l '<first phase>'`, wait for the migration
    # Jobs, then `kubectl apply` of everything. Neither an API nor a worker may be in the first phase.
    applies = re.findall(r"kubectl apply -f /tmp/commerce\.yaml(?: -l '([^']*)')?\n", README.read_text())
    assert len(applies) == 2 and applies[0] and applies[1] == "", applies
    assert release_problems(render("overlays/production"), applies[0]) == []


def test_the_documented_rollout_waits_for_every_service_and_worker(render):
    # The `for s in ...; do kubectl -n commerce rollout status deployment/$s` loops of deploy/README.md.
    # The first loop is the local cluster's, the second production's.
    loops = re.findall(r"for s in ([\w -]+); do kubectl -n commerce rollout status", README.read_text())
    assert [set(loop.split()) for loop in loops] == [
        {d["metadata"]["name"] for d in process_deployments(render(name))} for name in OVERLAYS
    ]


@pytest.mark.parametrize("name", RENDERS)
def test_every_document_is_valid_against_its_schema(render, name):
    assert schema_problems(render(name)) == []


@pytest.mark.parametrize("name", RENDERS)
def test_every_namespaced_document_lands_in_the_commerce_namespace(render, name):
    wrong = [
        name_of(d)
        for d in render(name)
        if d["kind"] not in CLUSTER_SCOPED and d["metadata"].get("namespace") != NAMESPACE
    ]
    assert wrong == []


@pytest.mark.parametrize("name", RENDERS)
def test_every_workload_is_locked_down_with_probes_and_resources(render, name):
    assert workloads(render(name)), "no workload rendered"
    assert workload_problems(render(name)) == []


@pytest.mark.parametrize("name", RENDERS)
def test_service_probes_use_the_health_endpoints(render, name):
    assert service_probe_problems(render(name)) == []


@pytest.mark.parametrize("name", RENDERS)
def test_every_service_has_a_pdb_an_hpa_and_a_migration_job(render, name):
    assert service_deployments(render(name)), "no service Deployment rendered"
    assert availability_problems(render(name)) == []


@pytest.mark.parametrize("name", RENDERS)
def test_every_kubernetes_service_selects_one_deployment(render, name):
    assert service_problems(render(name)) == []


@pytest.mark.parametrize("name", RENDERS)
def test_the_ingress_routes_public_paths_and_never_internal_ones(render, name):
    docs = render(name)
    assert ingress_problems(docs) == []
    assert {probe: route(docs, probe) for probe in PUBLIC_ROUTES} == PUBLIC_ROUTES


@pytest.mark.parametrize("name", RENDERS)
def test_the_ingress_routes_nothing_but_the_public_paths(render, name):
    docs = render(name)
    assert {probe: route(docs, probe) for probe in NOT_PUBLIC} == dict.fromkeys(NOT_PUBLIC)


def test_popular_products_go_to_the_ranking_service_and_the_rest_to_the_catalog(render):
    docs = render("overlays/production")
    assert route(docs, "/api/v1/products/popular") == "ranking"
    assert route(docs, "/api/v1/products/popular/x") == "ranking"
    assert route(docs, "/api/v1/products") == "catalog"
    assert route(docs, "/api/v1/products/7") == "catalog"
    assert route(docs, "/api/v1/admin/products/7/options/3/stock") == "catalog"
    assert route(docs, "/api/v1/admin/rankings/rebuild") == "ranking"
    # The users' sub-resources go to three services.
    assert route(docs, "/api/v1/users/7/coupons") == "coupon"
    assert route(docs, "/api/v1/users/7/orders") == "order"
    assert route(docs, "/api/v1/users/7/balance/charge") == "user"
    assert route(docs, "/api/v1/users/7/transactions") == "user"


def test_the_docs_ingresses_tell_the_service_its_public_prefix(render):
    docs = render("overlays/production")
    docs_paths = [(i, p) for i, p in ingress_paths(docs) if p["path"].startswith("/docs/")]
    assert docs_paths
    for ingress, path in docs_paths:
        service = path["backend"]["service"]["name"]
        annotations = ingress["metadata"]["annotations"]
        assert annotations["nginx.ingress.kubernetes.io/x-forwarded-prefix"] == f"/docs/{service}"


@pytest.mark.parametrize("name", OVERLAYS)
def test_service_containers_find_their_configuration(render, name):
    out_of_band = OUT_OF_BAND_SECRETS if name == "overlays/production" else {}
    assert config_problems(render(name), out_of_band=out_of_band) == []


@pytest.mark.parametrize("name", OVERLAYS)
def test_each_service_finds_the_services_it_calls_and_its_own_settings(render, name):
    assert own_configuration_problems(render(name)) == []


def test_production_sends_payments_to_the_external_data_platform(render):
    docs = render("overlays/production")
    payment = next(d for d in service_deployments(docs) if d["metadata"]["name"] == "payment")
    url = environment_values(docs, pod_spec(payment)["containers"][0])["DATA_PLATFORM_URL"]
    assert urlsplit(url).scheme == "https" and "." in (urlsplit(url).hostname or "")
    others = [d for d in service_deployments(docs) if d["metadata"]["name"] != "payment"]
    assert [
        d for d in others if "DATA_PLATFORM_URL" in environment_values(docs, pod_spec(d)["containers"][0])
    ] == []


def test_the_local_stand_in_receives_the_payments(render):
    docs = render("overlays/local")
    payment = next(d for d in service_deployments(docs) if d["metadata"]["name"] == "payment")
    url = urlsplit(environment_values(docs, pod_spec(payment)["containers"][0])["DATA_PLATFORM_URL"])
    service = next(s for s in of_kind(docs, "Service") if s["metadata"]["name"] == url.hostname)
    assert url.port in {p["port"] for p in service["spec"]["ports"]} and url.path == "/payments"
    stand_in = next(
        w for w in workloads(docs) if selects({"matchLabels": service["spec"]["selector"]}, pod_labels(w))
    )
    app = pod_spec(stand_in)["containers"][0]
    assert app["image"] == pod_spec(payment)["containers"][0]["image"]
    script = " ".join(app["command"] + app.get("args", []))
    assert "commerce_kit.testing.dataplatform" in script and "--host 0.0.0.0" in script
    assert f"--port {url.port}" in script


@pytest.mark.parametrize("name", ["overlays/local", "all-components"])
def test_postgresql_takes_every_connection_pool(render, name):
    # Each pod opens up to DB_POOL_MAX connections: at the HPAs' maximum that must fit in max_connections
    # (with room for the migrations, the operator and a psql).
    docs = render(name)
    config = next(
        d["data"] for d in of_kind(docs, "ConfigMap") if d["metadata"]["name"].startswith("commerce-config")
    )
    pools = sum(h["spec"]["maxReplicas"] for h in of_kind(docs, "HorizontalPodAutoscaler")) * int(
        config["DB_POOL_MAX"]
    )
    (cluster,) = of_kind(docs, "Cluster")
    assert pools + 20 <= int(cluster["spec"]["postgresql"]["parameters"]["max_connections"])


@pytest.mark.parametrize("name", OVERLAYS)
def test_no_placeholder_secret_is_deployed(render, name):
    docs = render(name)
    assert [s for d in docs for s in all_strings(d) if "PLACEHOLDER" in s.upper()] == []
    for secret in of_kind(docs, "Secret"):
        jwt = secret.get("stringData", {}).get("JWT_SECRET")
        assert jwt is None or len(jwt.encode()) >= 32


def test_production_creates_no_secret_and_expects_the_documented_one(render):
    docs = render("overlays/production")
    assert of_kind(docs, "Secret") == []
    referenced = {
        source["secretRef"]["name"]
        for w in workloads(docs)
        for c in containers(w)
        for source in c.get("envFrom", [])
        if "secretRef" in source
    }
    assert referenced == set(OUT_OF_BAND_SECRETS)


def test_production_images_are_pinned(render):
    images = {c["image"] for w in workloads(render("overlays/production")) for c in containers(w)}
    assert images
    assert {i: image_tag(i) for i in images if image_tag(i) in (None, "latest")} == {}
    assert all("/" in i.split(":")[0] for i in images), "production images come from a registry"


def test_production_lets_the_hpa_own_the_replica_count(render):
    docs = render("overlays/production")
    targets = {h["spec"]["scaleTargetRef"]["name"] for h in of_kind(docs, "HorizontalPodAutoscaler")}
    assert [
        d["metadata"]["name"]
        for d in of_kind(docs, "Deployment")
        if d["metadata"]["name"] in targets and "replicas" in d["spec"]
    ] == []


def test_production_runs_under_network_policies(render):
    docs = render("overlays/production")
    policies = of_kind(docs, "NetworkPolicy")
    for direction in ("Ingress", "Egress"):
        deny_all = [
            p
            for p in policies
            if p["spec"]["podSelector"] == {}
            and p["spec"]["policyTypes"] == [direction]
            and not p["spec"].get(direction.lower())
        ]
        assert deny_all, f"no default deny-all {direction.lower()} policy"
    # Who may talk to whom: exactly the internal calls that exist, the ingress controller and
    # Prometheus in, DNS / PostgreSQL / Kafka / Redis / the data platform out.
    assert network_policy_problems(docs) == []


def test_the_policies_know_every_internal_call_of_the_code():
    # The paths each service's code asks for under /internal/v1, matched against the routes of the
    # others' entrypoints/internal.py: a new call fails here until CALLS (and the policies) have it.
    in_code = internal_calls_in_code()
    assert in_code - CALLS == set(), "calls the network policies do not allow"
    present = {n for n in SERVICE_NAMES if (K8S.parents[1] / "services" / n / "src").is_dir()}
    assert {c for c in CALLS if c[0] in present and c[1] in present} - in_code == set(), "calls no code makes"


def test_network_policies_are_opt_in(render):
    assert of_kind(render("base"), "NetworkPolicy") == []
    assert of_kind(render("overlays/local"), "NetworkPolicy") == []


def test_local_runs_one_of_everything(render):
    docs = render("overlays/local")
    assert worker_deployments(docs)
    assert {name_of(d): d["spec"].get("replicas") for d in process_deployments(docs)} == {
        name_of(d): 1 for d in process_deployments(docs)
    }
    assert {h["spec"]["minReplicas"] for h in of_kind(docs, "HorizontalPodAutoscaler")} == {1}
    assert [c["spec"]["instances"] for c in of_kind(docs, "Cluster")] == [1]
    assert [p["spec"]["replicas"] for p in of_kind(docs, "KafkaNodePool")] == [1]
    config = of_kind(docs, "ConfigMap")[0]["data"]
    assert config["APP_ENV"] == "local", "the local JWT default is refused when APP_ENV=production"


@pytest.mark.parametrize("name", ["overlays/local", "all-components"])
def test_kafka_topics_match_the_contract_registry(render, name):
    docs = render(name)
    topics = {t["spec"].get("topicName", t["metadata"]["name"]): t for t in of_kind(docs, "KafkaTopic")}
    expected = {t.name: t.partitions for t in TOPICS} | {t.dead_letter: 1 for t in TOPICS}
    assert {n: t["spec"]["partitions"] for n, t in topics.items()} == expected

    clusters = {k["metadata"]["name"] for k in of_kind(docs, "Kafka")}
    brokers = {
        cluster: sum(
            p["spec"]["replicas"]
            for p in of_kind(docs, "KafkaNodePool")
            if p["metadata"]["labels"].get("strimzi.io/cluster") == cluster and "broker" in p["spec"]["roles"]
        )
        for cluster in clusters
    }
    for topic_name, topic in topics.items():
        cluster = topic["metadata"]["labels"].get("strimzi.io/cluster")
        assert cluster in clusters, f"{topic_name}: no Kafka cluster {cluster}"
        replicas, isr = topic["spec"]["replicas"], int(topic["spec"]["config"]["min.insync.replicas"])
        assert replicas <= brokers[cluster], (
            f"{topic_name}: {replicas} replicas on {brokers[cluster]} brokers"
        )
        assert isr == 1 if replicas == 1 else 1 < isr < replicas, f"{topic_name}: min.insync.replicas {isr}"
    for t in TOPICS:
        main = int(topics[t.name]["spec"]["config"]["retention.ms"])
        dead = int(topics[t.dead_letter]["spec"]["config"]["retention.ms"])
        assert dead > main, f"{t.dead_letter} must be kept longer than {t.name}"


def test_the_schemas_keep_their_licence():
    assert (CRD_SCHEMAS / "LICENSE").read_text().startswith("MIT License")
    assert sorted(p.parent.name for p in CRD_SCHEMAS.glob("*/*.json")) != []


# --------------------------------------------------------------------- the checks can fail (mutations)


def _user(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    return next(d for d in docs if d["kind"] == kind and d["metadata"]["name"].startswith("user"))


def test_schema_check_catches_an_unknown_field_and_a_bad_custom_resource(render):
    docs = copy.deepcopy(render("overlays/local"))
    pod_spec(_user(docs, "Deployment"))["containers"][0]["livenessprobe"] = {}
    next(d for d in docs if d["kind"] == "KafkaTopic")["spec"]["partitions"] = "twelve"
    problems = schema_problems(docs)
    assert any("livenessprobe" in p for p in problems)
    assert any(p.startswith("KafkaTopic/") for p in problems)


def test_workload_check_catches_a_missing_probe_and_a_writable_root(render):
    docs = copy.deepcopy(render("overlays/production"))
    app = pod_spec(_user(docs, "Deployment"))["containers"][0]
    del app["readinessProbe"]
    app["securityContext"]["readOnlyRootFilesystem"] = False
    problems = workload_problems(docs)
    assert any("no readinessProbe" in p for p in problems)
    assert any("readOnlyRootFilesystem" in p for p in problems)


def test_availability_check_catches_a_missing_pdb_and_a_migration_on_another_image(render):
    docs = copy.deepcopy(render("overlays/production"))
    docs = [d for d in docs if d["kind"] != "PodDisruptionBudget"]
    pod_spec(_user(docs, "Job"))["containers"][0]["image"] = (
        "registry.example.com/commerce/commerce-user:0.0.9"
    )
    problems = availability_problems(docs)
    assert any("no PodDisruptionBudget" in p for p in problems)
    assert any("differs from the Deployment" in p for p in problems)


def test_ingress_check_catches_a_catch_all_route(render):
    docs = copy.deepcopy(render("overlays/production"))
    ingress = _user(docs, "Ingress")
    ingress["spec"]["rules"][0]["http"]["paths"].append(
        copy.deepcopy(ingress["spec"]["rules"][0]["http"]["paths"][0])
    )
    ingress["spec"]["rules"][0]["http"]["paths"][-1]["path"] = "/"
    assert any(p.startswith("/internal") for p in ingress_problems(docs))


def test_config_check_catches_an_in_cluster_host_that_does_not_exist(render):
    docs = copy.deepcopy(render("overlays/production"))
    config = of_kind(docs, "ConfigMap")[0]
    config["data"]["REDIS_URL"] = "redis://redis:6379/0"
    del config["data"]["TOPIC_PREFIX"]
    problems = config_problems(docs, out_of_band=OUT_OF_BAND_SECRETS)
    assert any("REDIS_URL points at redis:6379" in p for p in problems)
    assert any("TOPIC_PREFIX is not set" in p for p in problems)


def test_ingress_check_catches_popular_products_going_to_the_catalog(render):
    docs = copy.deepcopy(render("overlays/production"))
    ranking = next(i for i in of_kind(docs, "Ingress") if i["metadata"]["name"] == "ranking-api")
    paths = ranking["spec"]["rules"][0]["http"]["paths"]
    paths[:] = [p for p in paths if p["path"] != "/api/v1/products/popular"]
    assert route(docs, "/api/v1/products/popular") == "catalog"


def test_network_policy_check_catches_a_missing_call_and_an_open_door(render):
    docs = copy.deepcopy(render("overlays/production"))
    docs = [d for d in docs if d["metadata"]["name"] != "allow-internal-calls-from-ranking"]
    everyone = {"podSelector": {"matchLabels": {"app.kubernetes.io/component": "service"}}}
    docs.append(
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "allow-all-services", "namespace": NAMESPACE},
            "spec": {
                **everyone,
                "policyTypes": ["Ingress", "Egress"],
                "ingress": [{"from": [everyone]}],
                "egress": [{"to": [everyone]}, {"ports": [{"port": 6379}]}],
            },
        }
    )
    problems = network_policy_problems(docs)
    assert "user -> catalog:8000 is allowed" in problems
    assert "order -> Redis:6379 is allowed" in problems
    docs.pop()
    assert "ranking -> order:8000 is denied" in network_policy_problems(docs)


def test_own_configuration_check_catches_a_missing_data_platform_and_a_bad_zone(render):
    docs = copy.deepcopy(render("overlays/production"))
    for config in of_kind(docs, "ConfigMap"):
        config["data"].pop("DATA_PLATFORM_URL", None)
        if "APP_ZONE" in config["data"]:
            config["data"]["APP_ZONE"] = "Mars/Olympus_Mons"
    problems = own_configuration_problems(docs)
    assert "payment: DATA_PLATFORM_URL is not set" in problems
    assert any("APP_ZONE 'Mars/Olympus_Mons'" in p for p in problems)


def _worker(docs: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The first worker's Deployment and its service's API Deployment."""
    (service, worker), *_ = WORKERS
    deployments = {d["metadata"]["name"]: d for d in of_kind(docs, "Deployment")}
    return deployments[worker.name], deployments[service.name]


def _set_env(deployment: dict[str, Any], settings: tuple[tuple[str, str], ...]) -> None:
    app = pod_spec(deployment)["containers"][0]
    keys = {key for key, _ in settings}
    app["env"] = [e for e in app.get("env", []) if e["name"] not in keys] + [
        {"name": key, "value": value} for key, value in settings
    ]


def test_worker_check_catches_swapped_settings_a_service_in_front_and_idle_replicas(render):
    docs = copy.deepcopy(render("overlays/production"))
    (service, worker), *_ = WORKERS
    own, api = _worker(docs)
    # The API settles and the worker does not; the API's Service selects the worker too; the HPA goes
    # past the partitions; the worker borrows the API's ServiceAccount.
    _set_env(own, service.env)
    _set_env(api, worker.env)
    (kubernetes_service,) = [s for s in of_kind(docs, "Service") if s["metadata"]["name"] == service.name]
    kubernetes_service["spec"]["selector"] = {"app.kubernetes.io/name": service.name}
    (hpa,) = [h for h in of_kind(docs, "HorizontalPodAutoscaler") if h["metadata"]["name"] == worker.name]
    hpa["spec"]["maxReplicas"] = min(t.partitions for t in WORKER_TOPICS[worker.name]) + 1
    pod_spec(own)["serviceAccountName"] = pod_spec(api)["serviceAccountName"]
    problems = worker_problems(docs)
    for (key, wanted), (_, wrong) in zip(worker.env, service.env, strict=True):
        assert f"{worker.name}: {key} is {wrong!r}, not {wanted!r}" in problems
        assert f"{service.name}: {key} is {wanted!r}, not {wrong!r}" in problems
    assert f"{worker.name}: Service/{service.name} selects its pods: it serves no traffic" in problems
    assert any(p.startswith(f"HorizontalPodAutoscaler/{worker.name}: maxReplicas") for p in problems)
    assert any("not one of its own" in p for p in problems)
    assert any("not exactly one Deployment" in p for p in service_problems(docs))


def test_worker_check_catches_a_worker_on_another_image_and_one_that_is_missing(render):
    docs = copy.deepcopy(render("overlays/production"))
    (_, worker), *_ = WORKERS
    own, _ = _worker(docs)
    pod_spec(own)["containers"][0]["image"] = "registry.example.com/commerce/commerce-user:0.1.0"
    assert any(p.startswith(f"{worker.name}: image ") for p in worker_problems(docs))
    docs.remove(own)
    assert f"{worker.name}: no Deployment {worker.name} next to Deployment coupon" in worker_problems(docs)


def test_availability_check_catches_a_pod_under_two_budgets(render):
    docs = copy.deepcopy(render("overlays/production"))
    (service, worker), *_ = WORKERS
    (pdb,) = [p for p in of_kind(docs, "PodDisruptionBudget") if p["metadata"]["name"] == service.name]
    pdb["spec"]["selector"] = {"matchLabels": {"app.kubernetes.io/name": service.name}}
    assert any(
        p.startswith(f"Deployment/{worker.name}: 2 PodDisruptionBudgets") for p in availability_problems(docs)
    )


def test_network_policy_check_catches_a_public_worker_without_redis_or_metrics(render):
    docs = copy.deepcopy(render("overlays/production"))
    (_, worker), *_ = WORKERS
    policies = {p["metadata"]["name"]: p for p in of_kind(docs, "NetworkPolicy")}
    policies["allow-ingress-controller"]["spec"]["podSelector"] = {}
    policies["allow-prometheus"]["spec"]["podSelector"] = {
        "matchLabels": {"app.kubernetes.io/component": SERVICE}
    }
    for expression in policies["allow-egress-redis"]["spec"]["podSelector"]["matchExpressions"]:
        if expression["key"] == "app.kubernetes.io/component":
            expression["values"] = [SERVICE]
    problems = network_policy_problems(docs)
    assert f"ingress-nginx -> {worker.name}:8000 is allowed" in problems
    assert f"prometheus -> {worker.name}:8000 is denied" in problems
    assert f"{worker.name} -> Redis:6379 is denied" in problems


def test_release_check_catches_a_worker_started_before_the_migrations(render):
    docs = render("overlays/production")
    # The first phase as it was before the services had workers.
    assert release_problems(docs, "app.kubernetes.io/component notin (service)") == [
        f"Deployment/{name} starts before the migrations" for name in WORKER_NAMES
    ]
    # A first phase without the migrations (two spellings of it).
    unmigrated = sorted(f"Job/{name}-migrate is not applied in the first phase" for name in SERVICE_NAMES)
    for first_phase in (
        "app.kubernetes.io/component notin (service,worker,migration)",
        "app.kubernetes.io/part-of=commerce,!app.kubernetes.io/component",
    ):
        assert sorted(release_problems(docs, first_phase)) == unmigrated, first_phase
