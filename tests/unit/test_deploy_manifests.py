"""The Kubernetes manifests and the Dockerfile under deploy/: each resource has the shape its
apiVersion and kind call for, and the resources agree with one another and with the settings the
platform really reads. No cluster and no schemas are fetched: the rules are written out here."""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from pydantic_settings import BaseSettings

from broker.settings import BrokerSettings
from mep.core.settings import MepSettings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
K8S = DEPLOY / "k8s"
KUSTOMIZATION = "kustomization.yaml"

Doc = dict[str, Any]
#: File name (relative to deploy/k8s) -> the non-empty YAML documents it holds.
Manifests = dict[str, list[Doc]]


def _load(directory: Path) -> Manifests:
    manifests: Manifests = {}
    for path in sorted([*directory.rglob("*.yaml"), *directory.rglob("*.yml")]):
        docs = yaml.safe_load_all(path.read_text(encoding="utf-8"))
        manifests[path.relative_to(directory).as_posix()] = [d for d in docs if d is not None]
    return manifests


# Read once, at collection, outside any event loop; every test works on (copies of) this.
MANIFESTS = _load(K8S)
DOCKERFILE = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")


# --- the rules ------------------------------------------------------------------------------

#: Dotted paths each (apiVersion, kind) must have. A path segment ``a|b`` means either key.
REQUIRED: dict[tuple[str, str], tuple[str, ...]] = {
    ("v1", "Namespace"): ("metadata.name",),
    ("v1", "Secret"): ("metadata.name", "type", "data|stringData"),
    ("apps/v1", "Deployment"): (
        "metadata.name",
        "spec.selector.matchLabels",
        "spec.template.metadata.labels",
        "spec.template.spec.containers",
    ),
    ("v1", "Service"): ("metadata.name", "spec.selector", "spec.ports"),
    ("servicecatalog.k8s.io/v1beta1", "ClusterServiceBroker"): (
        "metadata.name",
        "spec.url",
        "spec.authInfo.basic.secretRef.name",
        "spec.authInfo.basic.secretRef.namespace",
    ),
    ("v1", "PersistentVolumeClaim"): (
        "metadata.name",
        "spec.accessModes",
        "spec.resources.requests.storage",
    ),
    ("kustomize.config.k8s.io/v1beta1", "Kustomization"): ("resources",),
}
#: Kinds that live in no namespace (and the Kustomization, which is not applied at all).
CLUSTER_SCOPED = {"Namespace", "ClusterServiceBroker", "Kustomization"}
PROTOCOLS = {"TCP", "UDP", "SCTP"}
#: RFC 6335 service name, what Kubernetes demands of a port name (IANA_SVC_NAME).
PORT_NAME = re.compile(r"^(?=.{1,15}$)(?=.*[a-z])[a-z0-9]+(-[a-z0-9]+)*$")
#: Which platform settings class reads variables with which prefix.
SETTINGS: tuple[type[BaseSettings], ...] = (MepSettings, BrokerSettings)


def _setting_names() -> set[str]:
    names = set()
    for cls in SETTINGS:
        prefix = cls.model_config.get("env_prefix", "")
        names |= {f"{prefix}{field}".upper() for field in cls.model_fields}
    return names


SETTING_NAMES = _setting_names()


# --- helpers ------------------------------------------------------------------------------


def _get(doc: Any, path: str) -> Any:
    """The value at a dotted path, or None; ``a|b`` takes the first of the keys present."""
    node = doc
    for part in path.split("."):
        if not isinstance(node, dict):
            return None
        node = next((node[key] for key in part.split("|") if key in node), None)
    return node


def _resources(manifests: Manifests) -> Iterator[tuple[str, Doc]]:
    for name, docs in manifests.items():
        for doc in docs:
            if doc.get("kind") != "Kustomization":
                yield name, doc


def _of_kind(manifests: Manifests, kind: str) -> list[Doc]:
    return [doc for _, doc in _resources(manifests) if doc.get("kind") == kind]


def _ns(doc: Doc) -> Any:
    return _get(doc, "metadata.namespace")


def _where(doc: Doc) -> str:
    return f"{doc.get('kind')} {_get(doc, 'metadata.name')!r}"


def _secret_values(secret: Doc) -> dict[str, Any]:
    return {**(secret.get("data") or {}), **(secret.get("stringData") or {})}


def _find_secret(manifests: Manifests, namespace: Any, name: Any) -> Doc | None:
    return next(
        (
            s
            for s in _of_kind(manifests, "Secret")
            if _get(s, "metadata.name") == name and _ns(s) == namespace
        ),
        None,
    )


def _containers(deployment: Doc) -> list[Doc]:
    pod = _get(deployment, "spec.template.spec") or {}
    found = [*(pod.get("initContainers") or []), *(pod.get("containers") or [])]
    return [c for c in found if isinstance(c, dict)]


def _container_ports(container: Doc) -> list[Doc]:
    return [p for p in container.get("ports") or [] if isinstance(p, dict)]


def _resolve_port(container: Doc, port: Any) -> Doc | None:
    """The container port a probe or a Service targetPort names (by name or by number)."""
    for declared in _container_ports(container):
        if isinstance(port, str) and declared.get("name") == port:
            return declared
        if isinstance(port, int) and declared.get("containerPort") == port:
            return declared
    return None


def _literal_env(container: Doc) -> dict[str, Any]:
    return {e["name"]: e["value"] for e in container.get("env") or [] if "value" in e}


def _backing_deployments(manifests: Manifests, service: Doc) -> list[Doc]:
    selector = _get(service, "spec.selector") or {}
    return [
        d
        for d in _of_kind(manifests, "Deployment")
        if _ns(d) == _ns(service)
        and selector
        and selector.items() <= (_get(d, "spec.template.metadata.labels") or {}).items()
    ]


# --- the checks: each takes the manifests and returns what is wrong -------------------------


def check_shapes(manifests: Manifests) -> list[str]:
    problems = []
    for file, docs in manifests.items():
        for doc in docs:
            if not isinstance(doc, dict):
                problems.append(f"{file}: a document is not a mapping")
                continue
            key = (doc.get("apiVersion"), doc.get("kind"))
            if key not in REQUIRED:
                problems.append(f"{file}: unknown apiVersion/kind {key}")
                continue
            problems += [
                f"{file}: {_where(doc)} lacks {path}"
                for path in REQUIRED[key]
                if _get(doc, path) in (None, "", [], {})
            ]
    return problems


def check_secrets(manifests: Manifests) -> list[str]:
    problems = []
    for secret in _of_kind(manifests, "Secret"):
        for field in ("data", "stringData"):
            values = secret.get(field)
            if values is None:
                continue
            if not isinstance(values, dict):
                problems.append(f"{_where(secret)}: {field} is not a mapping")
                continue
            problems += [
                f"{_where(secret)}: {field}.{key} is not a string"
                for key, value in values.items()
                if not isinstance(key, str) or not isinstance(value, str)
            ]
    return problems


def check_namespaces(manifests: Manifests) -> list[str]:
    declared = {_get(n, "metadata.name") for n in _of_kind(manifests, "Namespace")}
    problems = [] if len(declared) == 1 else [f"expected one Namespace, found {declared}"]
    for _, doc in _resources(manifests):
        namespace = _ns(doc)
        if doc.get("kind") in CLUSTER_SCOPED:
            if namespace is not None:
                problems.append(f"{_where(doc)} is cluster-scoped but sets namespace")
        elif namespace not in declared:
            problems.append(f"{_where(doc)}: namespace {namespace!r} is not declared")
    return problems


def check_kustomization(manifests: Manifests) -> list[str]:
    kustomization = manifests.get(KUSTOMIZATION)
    if not kustomization:
        return [f"no {KUSTOMIZATION}"]
    listed = kustomization[0].get("resources") or []
    present = {name for name in manifests if name != KUSTOMIZATION}
    problems = [
        f"{KUSTOMIZATION} lists {name} twice" for name in set(listed) if listed.count(name) > 1
    ]
    problems += [f"{KUSTOMIZATION} lists {n}, which is absent" for n in set(listed) - present]
    problems += [f"{KUSTOMIZATION} does not list {n}" for n in present - set(listed)]
    return sorted(problems)


def check_deployments(manifests: Manifests) -> list[str]:
    problems = []
    for deployment in _of_kind(manifests, "Deployment"):
        where = _where(deployment)
        selector = _get(deployment, "spec.selector.matchLabels") or {}
        labels = _get(deployment, "spec.template.metadata.labels") or {}
        if not selector or not selector.items() <= labels.items():
            problems.append(f"{where}: pod labels {labels} do not carry matchLabels {selector}")
        for container in _containers(deployment):
            problems += _check_container(where, container)
    return problems


def _check_container(where: str, container: Doc) -> list[str]:
    where = f"{where} container {container.get('name')!r}"
    problems = [f"{where} lacks {field}" for field in ("name", "image") if not container.get(field)]
    names: list[str] = []
    bound: list[tuple[Any, Any]] = []
    for port in _container_ports(container):
        number, protocol = port.get("containerPort"), port.get("protocol", "TCP")
        if type(number) is not int or not 1 <= number <= 65535:
            problems.append(f"{where}: containerPort {number!r} is not an integer in 1..65535")
        if protocol not in PROTOCOLS:
            problems.append(f"{where}: port {number!r} protocol {protocol!r} not in {PROTOCOLS}")
        if "name" in port:
            if not isinstance(port["name"], str) or not PORT_NAME.match(port["name"]):
                problems.append(f"{where}: port name {port['name']!r} is not an IANA_SVC_NAME")
            names.append(port["name"])
        bound.append((number, protocol))
    problems += [f"{where}: port name {n!r} used twice" for n in set(names) if names.count(n) > 1]
    problems += [f"{where}: {b} declared twice" for b in set(bound) if bound.count(b) > 1]
    for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
        probe = container.get(kind)
        if probe is None:
            continue
        action = next((probe[a] for a in ("httpGet", "tcpSocket", "grpc") if a in probe), None)
        if action is None:
            continue  # an exec probe names no port
        if _resolve_port(container, action.get("port")) is None:
            problems.append(f"{where}: {kind} port {action.get('port')!r} is not declared")
    return problems


def check_services(manifests: Manifests) -> list[str]:
    problems = []
    for service in _of_kind(manifests, "Service"):
        where = _where(service)
        backing = _backing_deployments(manifests, service)
        if not backing:
            problems.append(f"{where}: selector matches the pod labels of no Deployment")
        ports = [p for p in _get(service, "spec.ports") or [] if isinstance(p, dict)]
        names = [p.get("name") for p in ports]
        if len(ports) > 1 and (None in names or len(set(names)) != len(names)):
            problems.append(f"{where}: a multi-port Service needs a unique name on every port")
        for port in ports:
            number, protocol = port.get("port"), port.get("protocol", "TCP")
            if type(number) is not int or not 1 <= number <= 65535:
                problems.append(f"{where}: port {number!r} is not an integer in 1..65535")
            if protocol not in PROTOCOLS:
                problems.append(f"{where}: port {number!r} protocol {protocol!r} unknown")
            target = port.get("targetPort", number)
            resolved = [
                _resolve_port(c, target)
                for d in backing
                for c in _get(d, "spec.template.spec.containers") or []
            ]
            reached = [r for r in resolved if r is not None]
            if not reached:
                problems.append(f"{where}: targetPort {target!r} is no container port")
            elif all(r.get("protocol", "TCP") != protocol for r in reached):
                problems.append(f"{where}: targetPort {target!r} is not a {protocol} port")
    return problems


def check_broker_registrations(manifests: Manifests) -> list[str]:
    problems = []
    for broker in _of_kind(manifests, "ClusterServiceBroker"):
        where = _where(broker)
        problems += _check_broker_url(manifests, where, str(_get(broker, "spec.url")))
        ref = _get(broker, "spec.authInfo.basic.secretRef") or {}
        secret = _find_secret(manifests, ref.get("namespace"), ref.get("name"))
        if secret is None:
            problems.append(f"{where}: secretRef {ref} names no declared Secret")
            continue
        keys = set(secret.get("stringData") or {})
        problems += [
            f"{where}: Secret {ref.get('name')!r} has no stringData.{key}"
            for key in ("username", "password")
            if key not in keys
        ]
    return problems


def _check_broker_url(manifests: Manifests, where: str, url: str) -> list[str]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return [f"{where}: url {url!r} is not an http(s) URL"]
    match = re.fullmatch(r"([a-z0-9-]+)\.([a-z0-9-]+)\.svc(\.cluster\.local)?", parts.hostname)
    if match is None:
        return [f"{where}: url host {parts.hostname!r} is not <service>.<namespace>.svc"]
    name, namespace = match.group(1), match.group(2)
    service = next(
        (
            s
            for s in _of_kind(manifests, "Service")
            if _get(s, "metadata.name") == name and _ns(s) == namespace
        ),
        None,
    )
    if service is None:
        return [f"{where}: url names Service {namespace}/{name}, which is not declared"]
    number = parts.port or {"http": 80, "https": 443}[parts.scheme]
    port = next(
        (
            p
            for p in _get(service, "spec.ports") or []
            if p.get("port") == number and p.get("protocol", "TCP") == "TCP"
        ),
        None,
    )
    if port is None:
        return [f"{where}: url port {number} is not a TCP port of Service {name!r}"]
    # And that Service port must reach the broker, not the MEP API or the DNS responder.
    osb_default = _default(BrokerSettings, "port")
    for deployment in _backing_deployments(manifests, service):
        for container in _get(deployment, "spec.template.spec.containers") or []:
            declared = _resolve_port(container, port.get("targetPort", number))
            osb_port = int(_literal_env(container).get("OSB_PORT", osb_default))
            if declared is not None and declared.get("containerPort") != osb_port:
                reached = declared.get("containerPort")
                return [
                    f"{where}: url reaches container port {reached}, not the broker's {osb_port}"
                ]
    return []


def _default(cls: type[BaseSettings], field: str) -> Any:
    return cls.model_fields[field].default


def check_environment(manifests: Manifests) -> list[str]:
    """Every variable a container is given is a setting the platform reads, and every secret
    reference names a declared Secret (and key)."""
    problems = []
    for deployment in _of_kind(manifests, "Deployment"):
        namespace = _ns(deployment)
        for container in _containers(deployment):
            where = f"{_where(deployment)} container {container.get('name')!r}"
            for var in container.get("env") or []:
                name = var.get("name")
                if name not in SETTING_NAMES:
                    problems.append(f"{where}: env {name!r} is no MEP_/OSB_ setting")
                ref = _get(var, "valueFrom.secretKeyRef")
                if ref is None:
                    continue
                secret = _find_secret(manifests, namespace, ref.get("name"))
                if secret is None:
                    problems.append(f"{where}: env {name!r} names no declared Secret {ref}")
                elif ref.get("key") not in _secret_values(secret):
                    problems.append(f"{where}: env {name!r}: Secret has no key {ref.get('key')!r}")
            for source in container.get("envFrom") or []:
                ref = source.get("secretRef")
                if ref is None:
                    problems.append(f"{where}: envFrom {source} is not a secretRef")
                    continue
                secret = _find_secret(manifests, namespace, ref.get("name"))
                if secret is None:
                    problems.append(f"{where}: envFrom names no declared Secret {ref}")
                    continue
                prefix = source.get("prefix", "")
                problems += [
                    f"{where}: envFrom Secret {ref.get('name')!r} sets {prefix}{key}, "
                    "which is no MEP_/OSB_ setting"
                    for key in _secret_values(secret)
                    if f"{prefix}{key}" not in SETTING_NAMES
                ]
    return problems


def check_probes_reach_the_platform(manifests: Manifests) -> list[str]:
    """Health probes hit the MEP HTTP port (where /healthz and /readyz are served)."""
    problems = []
    for deployment in _of_kind(manifests, "Deployment"):
        for container in _get(deployment, "spec.template.spec.containers") or []:
            mep_port = int(_literal_env(container).get("MEP_PORT", _default(MepSettings, "port")))
            for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
                action = _get(container, f"{kind}.httpGet")
                if action is None:
                    continue
                declared = _resolve_port(container, action.get("port"))
                if declared is not None and declared.get("containerPort") != mep_port:
                    problems.append(
                        f"{_where(deployment)}: {kind} hits port "
                        f"{declared.get('containerPort')}, not the MEP's {mep_port}"
                    )
    return problems


CHECKS: tuple[Callable[[Manifests], list[str]], ...] = (
    check_shapes,
    check_secrets,
    check_namespaces,
    check_kustomization,
    check_deployments,
    check_services,
    check_broker_registrations,
    check_environment,
    check_probes_reach_the_platform,
)


def all_problems(manifests: Manifests) -> list[str]:
    return [problem for check in CHECKS for problem in check(manifests)]


# --- the tests ------------------------------------------------------------------------------


def test_every_expected_resource_is_declared() -> None:
    kinds = sorted((d["kind"], _get(d, "metadata.name")) for _, d in _resources(MANIFESTS))
    assert kinds == [
        ("ClusterServiceBroker", "mep-broker"),
        ("Deployment", "mep"),
        ("Namespace", "mep"),
        ("PersistentVolumeClaim", "mep-data"),
        ("Secret", "mep-backends"),
        ("Secret", "mep-broker-auth"),
        ("Service", "mep"),
    ]


@pytest.mark.parametrize("check", CHECKS, ids=lambda check: check.__name__)
def test_manifests_pass(check: Callable[[Manifests], list[str]]) -> None:
    assert check(MANIFESTS) == []


def test_deployment_specifics() -> None:
    (deployment,) = _of_kind(MANIFESTS, "Deployment")
    (container,) = _get(deployment, "spec.template.spec.containers")
    pod = _get(deployment, "spec.template.spec")
    assert deployment["spec"]["replicas"] == 1  # the embedded SQLite store is per process
    assert pod["terminationGracePeriodSeconds"] == 30
    assert _get(container, "readinessProbe.httpGet.path") == "/readyz"
    assert _get(container, "livenessProbe.httpGet.path") == "/healthz"
    assert _literal_env(container)["MEP_HOST"] == "0.0.0.0"
    assert _literal_env(container)["MEP_DNS_HOST"] == "0.0.0.0"
    assert {"requests", "limits"} <= set(container["resources"])
    security = container["securityContext"]
    assert security["runAsNonRoot"] is True
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    # With a read-only root, the data directory must be a volume.
    data_dir = _literal_env(container).get("MEP_DATA_DIR", "/var/lib/mep")
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    # ... one that outlives the pod, claimed by a declared PersistentVolumeClaim.
    claim = volumes[mounts[data_dir]]["persistentVolumeClaim"]["claimName"]
    claims = {_get(c, "metadata.name") for c in _of_kind(MANIFESTS, "PersistentVolumeClaim")}
    assert claim in claims
    ports = {(p["containerPort"], p.get("protocol", "TCP")) for p in container["ports"]}
    assert ports == {(8080, "TCP"), (8081, "TCP"), (8443, "TCP"), (8053, "UDP"), (8053, "TCP")}


def test_literal_settings_are_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    """The values the manifests give the platform pass its own validation."""
    for name in os.environ:
        if name.startswith(("MEP_", "OSB_")):
            monkeypatch.delenv(name)
    (deployment,) = _of_kind(MANIFESTS, "Deployment")
    (container,) = _get(deployment, "spec.template.spec.containers")
    values = dict(_literal_env(container))
    for source in container.get("envFrom") or []:
        secret = _find_secret(MANIFESTS, _ns(deployment), source["secretRef"]["name"])
        assert secret is not None
        prefix = source.get("prefix", "")
        values |= {f"{prefix}{k}": v for k, v in (secret.get("stringData") or {}).items()}
    for cls in SETTINGS:
        prefix = cls.model_config.get("env_prefix", "")
        mine = {
            k.removeprefix(prefix).lower(): v for k, v in values.items() if k.startswith(prefix)
        }
        cls(**mine)  # raises ValidationError on a bad value


def test_dockerfile_agrees_with_the_platform() -> None:
    text = DOCKERFILE.replace("\\\n", " ")
    env_names = set(re.findall(r"\b((?:MEP|OSB)_[A-Z_]+)=", text))
    assert env_names, "the Dockerfile sets no MEP_/OSB_ variable"
    assert env_names <= SETTING_NAMES
    assert re.search(r"^ENV .*\bMEP_HOST=0\.0\.0\.0\b", text, re.M)
    assert re.search(r"^ENV .*\bMEP_DATA_DIR=/var/lib/mep\b", text, re.M)
    exposed = {
        (int(port), (proto or "tcp").upper())
        for line in re.findall(r"^EXPOSE (.+)$", text, re.M)
        for port, proto in re.findall(r"(\d+)(?:/(tcp|udp))?", line)
    }
    (deployment,) = _of_kind(MANIFESTS, "Deployment")
    (container,) = _get(deployment, "spec.template.spec.containers")
    declared = {(p["containerPort"], p.get("protocol", "TCP")) for p in container["ports"]}
    assert exposed == declared
    assert re.search(r'^ENTRYPOINT \["mep"\]$', text, re.M)
    assert re.search(r'^CMD \["run"\]$', text, re.M)
    assert re.search(r"^USER (?!root|0\b)\S+", text, re.M)
    assert re.search(r"^HEALTHCHECK .*urllib.*http://127\.0\.0\.1:8080/healthz", text, re.M)


# --- each check can fail ----------------------------------------------------------------------


def _one(manifests: Manifests, kind: str, name: str | None = None) -> Doc:
    return next(
        d for d in _of_kind(manifests, kind) if name is None or _get(d, "metadata.name") == name
    )


def _container(manifests: Manifests) -> Doc:
    containers: list[Doc] = _get(_one(manifests, "Deployment"), "spec.template.spec.containers")
    return containers[0]


def _env(manifests: Manifests, name: str) -> Doc:
    return next(e for e in _container(manifests)["env"] if e["name"] == name)


def _service_port(manifests: Manifests, name: str) -> Doc:
    return next(p for p in _get(_one(manifests, "Service"), "spec.ports") if p["name"] == name)


def _first_doc(manifests: Manifests, file: str) -> Doc:
    return manifests[file][0]


Break = Callable[[Manifests], object]

BREAKS: list[tuple[str, Break, str]] = [
    (
        "selector-mismatch",
        lambda m: _get(_one(m, "Deployment"), "spec.selector.matchLabels").update(tier="x"),
        "do not carry matchLabels",
    ),
    (
        "unknown-kind",
        lambda m: _one(m, "Service").update(apiVersion="v2"),
        "unknown apiVersion/kind ('v2', 'Service')",
    ),
    (
        "container-without-image",
        lambda m: _container(m).pop("image"),
        "lacks image",
    ),
    (
        "secret-without-data",
        lambda m: _one(m, "Secret", "mep-backends").pop("stringData"),
        "lacks data|stringData",
    ),
    (
        "secret-int-value",
        lambda m: _one(m, "Secret", "mep-backends")["stringData"].update(OSB_PORT=8081),
        "stringData.OSB_PORT is not a string",
    ),
    (
        "port-out-of-range",
        lambda m: _container(m)["ports"][0].update(containerPort=70000),
        "containerPort 70000 is not an integer",
    ),
    (
        "port-as-string",
        lambda m: _container(m)["ports"][0].update(containerPort="8080"),
        "containerPort '8080' is not an integer",
    ),
    (
        "port-bad-protocol",
        lambda m: _container(m)["ports"][0].update(protocol="HTTP"),
        "protocol 'HTTP'",
    ),
    (
        "port-name-too-long",
        lambda m: _container(m)["ports"][1].update(name="open-service-broker"),
        "is not an IANA_SVC_NAME",
    ),
    (
        "probe-undeclared-port",
        lambda m: _container(m)["readinessProbe"]["httpGet"].update(port="metrics"),
        "readinessProbe port 'metrics' is not declared",
    ),
    (
        "probe-on-broker-port",
        lambda m: _container(m)["livenessProbe"]["httpGet"].update(port=8081),
        "livenessProbe hits port 8081",
    ),
    (
        "service-selector-mismatch",
        lambda m: _get(_one(m, "Service"), "spec.selector").update(tier="x"),
        "matches the pod labels of no Deployment",
    ),
    (
        "service-target-unknown",
        lambda m: _service_port(m, "osb").update(targetPort="broker"),
        "targetPort 'broker' is no container port",
    ),
    (
        "service-target-wrong-protocol",
        lambda m: _service_port(m, "dns-udp").update(targetPort="dns-tcp"),
        "targetPort 'dns-tcp' is not a UDP port",
    ),
    (
        "service-unnamed-port",
        lambda m: _service_port(m, "https").pop("name"),
        "unique name on every port",
    ),
    (
        "wrong-namespace",
        lambda m: _one(m, "Service")["metadata"].update(namespace="default"),
        "namespace 'default' is not declared",
    ),
    (
        "namespaced-broker",
        lambda m: _one(m, "ClusterServiceBroker")["metadata"].update(namespace="mep"),
        "cluster-scoped but sets namespace",
    ),
    (
        "broker-url-not-http",
        lambda m: _one(m, "ClusterServiceBroker")["spec"].update(url="mep.mep.svc:8081"),
        "is not an http(s) URL",
    ),
    (
        "broker-url-external-host",
        lambda m: _one(m, "ClusterServiceBroker")["spec"].update(url="http://broker.example:8081"),
        "is not <service>.<namespace>.svc",
    ),
    (
        "broker-url-unknown-service",
        lambda m: _one(m, "ClusterServiceBroker")["spec"].update(url="http://osb.mep.svc:8081"),
        "Service mep/osb, which is not declared",
    ),
    (
        "broker-url-not-a-service-port",
        lambda m: _one(m, "ClusterServiceBroker")["spec"].update(url="http://mep.mep.svc:9000"),
        "url port 9000 is not a TCP port",
    ),
    (
        "broker-url-reaches-mep",
        lambda m: _one(m, "ClusterServiceBroker")["spec"].update(url="http://mep.mep.svc:8080"),
        "not the broker's 8081",
    ),
    (
        "broker-unknown-secret",
        lambda m: _get(_one(m, "ClusterServiceBroker"), "spec.authInfo.basic.secretRef").update(
            name="nope"
        ),
        "names no declared Secret",
    ),
    (
        "broker-secret-other-namespace",
        lambda m: _get(_one(m, "ClusterServiceBroker"), "spec.authInfo.basic.secretRef").update(
            namespace="default"
        ),
        "names no declared Secret",
    ),
    (
        "broker-secret-without-password",
        lambda m: _one(m, "Secret", "mep-broker-auth")["stringData"].pop("password"),
        "has no stringData.password",
    ),
    (
        "env-not-a-setting",
        lambda m: _env(m, "MEP_HOST").update(name="MEP_BIND"),
        "env 'MEP_BIND' is no MEP_/OSB_ setting",
    ),
    (
        "env-unknown-secret",
        lambda m: _get(_env(m, "OSB_PASSWORD"), "valueFrom.secretKeyRef").update(name="nope"),
        "env 'OSB_PASSWORD' names no declared Secret",
    ),
    (
        "env-unknown-key",
        lambda m: _get(_env(m, "OSB_PASSWORD"), "valueFrom.secretKeyRef").update(key="pass"),
        "Secret has no key 'pass'",
    ),
    (
        "env-from-unknown-secret",
        lambda m: _container(m)["envFrom"][0]["secretRef"].update(name="nope"),
        "envFrom names no declared Secret",
    ),
    (
        "env-from-key-not-a-setting",
        lambda m: _one(m, "Secret", "mep-backends")["stringData"].update(OSB_MYSQL="mysql://x"),
        "sets OSB_MYSQL, which is no MEP_/OSB_ setting",
    ),
    (
        "kustomization-misses-a-file",
        lambda m: _first_doc(m, KUSTOMIZATION)["resources"].remove("service.yaml"),
        "does not list service.yaml",
    ),
    (
        "kustomization-lists-absent-file",
        lambda m: _first_doc(m, KUSTOMIZATION)["resources"].append("ingress.yaml"),
        "lists ingress.yaml, which is absent",
    ),
    (
        "second-namespace",
        lambda m: m.setdefault("extra.yaml", []).append(
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "other"}}
        ),
        "expected one Namespace",
    ),
]


@pytest.mark.parametrize(
    ("mutate", "expected"), [b[1:] for b in BREAKS], ids=[b[0] for b in BREAKS]
)
def test_each_check_catches_its_problem(mutate: Break, expected: str) -> None:
    broken = copy.deepcopy(MANIFESTS)
    mutate(broken)
    problems = all_problems(broken)
    assert any(expected in problem for problem in problems), problems
