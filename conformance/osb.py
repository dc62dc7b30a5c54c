"""The scripted Open Service Broker scenario (OSB API v2.17): every endpoint of a running broker.

With the first service of the catalog (or ``--service``), the scenario plays what Cloud Foundry
and Kubernetes do: fetch the catalog; provision synchronously, re-send the same request (200)
and a different one (409); fetch the instance and its last operation; update it; bind, re-send
the bind (200, same credentials), fetch the binding, rotate it when the plan is
``binding_rotatable``; provision a second instance asynchronously and poll it to ``succeeded``;
unbind and deprovision twice each (200, then 410); deprovision the second one asynchronously and
poll until 410. Then the requests a broker must refuse: no or wrong credentials (401), a missing
or unsupported ``X-Broker-API-Version`` (412), an unknown plan, a missing ``organization_guid``,
parameters the plan's schema rejects, a malformed body (400), and a bind to an unknown instance.

Each answer is checked three ways:

- its status against the status tables of ``spec.md`` (FACTS §3): a code the table does not
  have for that endpoint fails, unless the scenario names it as tolerated, which the row shows;
- its body against the schema ``swagger.yaml`` (OAS 2.0, JSON Schema draft 4) gives that
  operation and status, through its ``$ref``s, falling back to ``default`` as OAS 2 says;
- its body against the rules of ``spec.md`` that ``swagger.yaml`` leaves out (FACTS §15): the
  file makes every ``Error`` field optional without saying they must be non-empty, lets a
  catalog lack ``services`` or a plan list be empty, and so on. Such rows say ``spec`` next to
  ``ref`` and name the gap, so a lax reference never passes a body silently.

Every request carries a fresh ``X-Broker-API-Request-Identity``, which the answer should echo; a
``Retry-After`` must be a number of seconds. Whatever happens, what the scenario made is deleted.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import re
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import yaml
from jsonschema import Draft4Validator
from jsonschema.exceptions import ValidationError
from referencing import Registry
from referencing.exceptions import Unresolvable
from referencing.jsonschema import DRAFT4

from conformance.describe import describe
from conformance.normalize import JsonPointer, pointer_text
from conformance.reference import ReferenceLoadError
from conformance.runner import NOTHING, Reply, Row, read_reply

REPOSITORY = Path(__file__).resolve().parents[1]
DEFAULT_REFERENCE = REPOSITORY.parent / "shared" / "reference" / "osb"
REFERENCE_FILE = "swagger.yaml"
VERSION = "2.17"
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

CATALOG = "/v2/catalog"
INSTANCE = "/v2/service_instances/{instance_id}"
INSTANCE_OP = INSTANCE + "/last_operation"
BINDING = INSTANCE + "/service_bindings/{binding_id}"
BINDING_OP = BINDING + "/last_operation"

ORG, SPACE, APP = (
    "conformance-org-0000-0000-000000000001",
    "conformance-space-000-0000-000000000001",
    "conformance-app-0000-0000-000000000001",
)
CONTEXT = {
    "platform": "cloudfoundry",
    "organization_guid": ORG,
    "space_guid": SPACE,
    "organization_name": "conformance",
    "space_name": "conformance",
    "instance_name": "osb-conformance",
}
#: ``cloudfoundry <base64 {"user_id": ...}>``: the platform must equal ``context.platform``.
ORIGINATING = "cloudfoundry " + base64.b64encode(b'{"user_id": "osb-conformance"}').decode()

#: FACTS §3 (spec.md, the "Response" table of each endpoint): the codes each endpoint may
#: answer, plus 401 (failed authentication) and 412 (unsupported version) everywhere.
SPEC_STATUSES: Mapping[tuple[str, str], frozenset[int]] = {
    ("GET", CATALOG): frozenset({200}),
    ("PUT", INSTANCE): frozenset({200, 201, 202, 400, 409, 422}),
    ("PATCH", INSTANCE): frozenset({200, 202, 400, 422}),
    ("DELETE", INSTANCE): frozenset({200, 202, 400, 410, 422}),
    ("GET", INSTANCE): frozenset({200, 404, 422}),
    ("GET", INSTANCE_OP): frozenset({200, 400, 404, 410}),
    ("PUT", BINDING): frozenset({200, 201, 202, 400, 409, 422}),
    ("DELETE", BINDING): frozenset({200, 202, 400, 410, 422}),
    ("GET", BINDING): frozenset({200, 404}),
    ("GET", BINDING_OP): frozenset({200, 400, 404, 410}),
}
EVERYWHERE = frozenset({401, 412})
#: Where each endpoint is in spec.md, for the messages.
SECTIONS = {
    ("GET", CATALOG): "Catalog Management",
    ("PUT", INSTANCE): "Provisioning",
    ("PATCH", INSTANCE): "Updating a Service Instance",
    ("DELETE", INSTANCE): "Deprovisioning",
    ("GET", INSTANCE): "Fetching a Service Instance",
    ("GET", INSTANCE_OP): "Polling Last Operation for Service Instances",
    ("PUT", BINDING): "Binding",
    ("DELETE", BINDING): "Unbinding",
    ("GET", BINDING): "Fetching a Service Binding",
    ("GET", BINDING_OP): "Polling Last Operation for Service Bindings",
}
#: Answers where swagger.yaml and spec.md disagree (FACTS §15): the row says so.
REF_GAPS: Mapping[tuple[str, str, int], str] = {
    ("GET", INSTANCE, 422): "ref lacks this 422 (ConcurrencyError)",
    ("PUT", BINDING, 410): "ref has 410, spec.md does not",
}
LEGEND = """\
schema: "ref <Definition> ok|FAIL": the body against that schema of swagger.yaml (draft 4);
  "[default]": the file documents no such status there, so its "default" response applies.
  "spec ok|FAIL": the spec.md rules the file lacks (FACTS section 15), checked as well;
  "Error lax" / "Catalog lax": the file's schema is looser than spec.md there (every Error
  field optional, no non-empty strings; services and plans optional), which is why;
  "ref names the header RetryAfter": the file misspells Retry-After; it is checked by name.
status: each code is also checked against the spec.md table of its endpoint (FACTS section 3),
  plus 401 and 412; "not in spec table" marks one the scenario tolerates, with the reason."""
_CAMEL_WORD = re.compile(r"^[A-Z][A-Za-z0-9]*$")
_SECONDS = re.compile(r"^[0-9]+$")
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")


@dataclass(frozen=True)
class Options:
    base_url: str
    username: str
    password: str
    reference: Path = DEFAULT_REFERENCE
    service: str | None = None
    #: Seconds an asynchronous operation may take before polling gives up.
    timeout: float = 60.0


# -- the official file ------------------------------------------------------------------------


class Swagger:
    """``swagger.yaml``: the schema of each operation's answers, as JSON Schema draft 4."""

    def __init__(self, path: Path) -> None:
        resolved = path.resolve()
        try:
            document = yaml.load(resolved.read_text(encoding="utf-8"), Loader=_LOADER)  # noqa: S506
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
            raise ReferenceLoadError(f"{resolved}: {error}") from error
        if not isinstance(document, dict) or str(document.get("swagger")) != "2.0":
            raise ReferenceLoadError(f"{resolved}: not an OpenAPI 2.0 (swagger) document")
        # YAML reads an unquoted 200: as an integer; keys are strings in JSON.
        self.document: dict[str, Any] = json.loads(json.dumps(document, default=str))
        self.path = resolved
        self.uri = resolved.as_uri()
        self._registry: Registry[Any] = Registry().with_resource(
            self.uri, DRAFT4.create_resource(self.document)
        )

    @property
    def version(self) -> str:
        return str(self.document.get("info", {}).get("version", "?"))

    def response(self, method: str, template: str, status: int) -> tuple[str, JsonPointer] | None:
        """The key (``"201"`` or ``"default"``) and place of the response ``status`` gets."""
        operation = self.document.get("paths", {}).get(template, {}).get(method.lower())
        if not isinstance(operation, dict):
            return None
        responses = operation.get("responses") or {}
        key = str(status) if str(status) in responses else "default"
        if key not in responses:
            return None
        pointer: JsonPointer = ("paths", template, method.lower(), "responses", key)
        node = responses[key]
        if isinstance(node, dict) and isinstance(node.get("$ref"), str):
            # A Response Object reference (#/responses/ErrorGone), not a schema one.
            pointer = tuple(node["$ref"].removeprefix("#/").split("/"))
            node = self._node(pointer)
        return key, pointer

    def schema_name(self, pointer: JsonPointer) -> str:
        schema = self._node((*pointer, "schema")) if self._has(pointer, "schema") else None
        if isinstance(schema, dict) and isinstance(schema.get("$ref"), str):
            return str(schema["$ref"]).rsplit("/", 1)[-1]
        return "inline" if schema is not None else "none"

    def check(self, pointer: JsonPointer, body: Any) -> list[str]:
        if not self._has(pointer, "schema"):
            return [] if body is None else ["documented without a body, got one"]
        fragment = quote(pointer_text((*pointer, "schema")), safe="/~")
        validator = Draft4Validator({"$ref": f"{self.uri}#{fragment}"}, registry=self._registry)
        try:
            errors: list[ValidationError] = list(validator.iter_errors(body))
        except Unresolvable as error:
            return [f"unresolvable $ref {error.ref!r} in {self.path.name}"]
        return [describe(e) for e in sorted(errors, key=lambda e: list(map(str, e.path)))]

    def _has(self, pointer: JsonPointer, key: str) -> bool:
        node = self._node(pointer)
        return isinstance(node, dict) and key in node

    def _node(self, pointer: JsonPointer) -> Any:
        node: Any = self.document
        for part in pointer:
            node = node[part]
        return node


# -- the rules of spec.md that swagger.yaml lacks (FACTS §15) ----------------------------------


def _non_empty(where: str, value: Any) -> list[str]:
    if not isinstance(value, str) or not value:
        return [f"{where}: MUST be a non-empty string, got {value!r}"]
    return []


def spec_error(body: Any, method: str, template: str) -> tuple[list[str], str]:
    """spec.md "Service Broker Errors"; the reference makes every field optional and says
    nothing of their content."""
    if not isinstance(body, dict):
        return [], "Error lax"  # the reference already says it must be an object
    problems: list[str] = []
    for name in ("error", "description"):
        if name in body:
            problems += _non_empty(f"$.{name}", body[name])
    code = body.get("error")
    if isinstance(code, str) and code and not _CAMEL_WORD.match(code):
        problems.append(f"$.error: {code!r} is not a single word in camel case")
    update = (method, template) == ("PATCH", INSTANCE)
    deprovision = (method, template) == ("DELETE", INSTANCE)
    if "instance_usable" in body and not (update or deprovision):
        problems.append("$.instance_usable: MUST NOT be present except for update/deprovision")
    if "update_repeatable" in body and not update:
        problems.append("$.update_repeatable: MUST NOT be present except for an update")
    return problems, "Error lax"


def spec_catalog(body: Any) -> tuple[list[str], str]:
    """spec.md "Catalog Management": REQUIRED ``services``, non-empty names and ids, unique
    names, at least one plan, a ``maintenance_info.version``. The reference has none of these."""
    if not isinstance(body, dict):
        return [], "Catalog lax"
    services = body.get("services")
    if not isinstance(services, list):
        return ["$.services: REQUIRED (an array, MAY be empty)"], "Catalog lax"
    problems: list[str] = []
    names: set[str] = set()
    ids: set[str] = set()
    for i, service in enumerate(services):
        if not isinstance(service, dict):
            continue
        where = f"$.services[{i}]"
        for name in ("name", "id", "description"):
            problems += _non_empty(f"{where}.{name}", service.get(name))
        if service.get("name") in names:
            problems.append(f"{where}.name: {service.get('name')!r} is not unique")
        names.add(str(service.get("name")))
        plans = service.get("plans")
        if not isinstance(plans, list) or not plans:
            problems.append(f"{where}.plans: MUST contain at least one plan")
            continue
        plan_names: set[str] = set()
        for j, plan in enumerate(plans):
            if not isinstance(plan, dict):
                continue
            at = f"{where}.plans[{j}]"
            for name in ("id", "name", "description"):
                problems += _non_empty(f"{at}.{name}", plan.get(name))
            if plan.get("name") in plan_names:
                problems.append(f"{at}.name: {plan.get('name')!r} is not unique in its service")
            plan_names.add(str(plan.get("name")))
            if plan.get("id") in ids:
                problems.append(f"{at}.id: {plan.get('id')!r} is not unique")
            ids.add(str(plan.get("id")))
            info = plan.get("maintenance_info")
            if isinstance(info, dict):
                problems += _non_empty(f"{at}.maintenance_info.version", info.get("version"))
        if service.get("id") in ids:
            problems.append(f"{where}.id: {service.get('id')!r} is not unique")
        ids.add(str(service.get("id")))
    return problems, "Catalog lax"


def spec_async(body: Any, *, bind: bool = False) -> tuple[list[str], str]:
    """A 202: ``operation`` at most 10,000 characters (non-empty if present); no credentials
    in a binding's 202 (spec.md "Binding", Response)."""
    if not isinstance(body, dict):
        return [], ""
    problems: list[str] = []
    operation = body.get("operation")
    if isinstance(operation, str) and not 0 < len(operation) <= 10_000:
        problems.append(f"$.operation: {len(operation)} characters (1 to 10,000 allowed)")
    if bind:
        leaked = sorted(set(body) - {"operation"})
        if leaked:
            problems.append(f"binding information in a 202 (MUST NOT): {', '.join(leaked)}")
    return problems, ""


def spec_last_operation(body: Any) -> tuple[list[str], str]:
    """``description``, if present, MUST be a non-empty string."""
    if isinstance(body, dict) and "description" in body:
        return _non_empty("$.description", body["description"]), ""
    return [], ""


def spec_binding(body: Any) -> tuple[list[str], str]:
    """Endpoint ``ports`` is "a non-empty array"; binding metadata times are
    ``yyyy-mm-ddThh:mm:ss.sZ`` with ``renew_before`` <= ``expires_at``."""
    if not isinstance(body, dict):
        return [], ""
    problems: list[str] = []
    for i, endpoint in enumerate(body.get("endpoints") or []):
        if isinstance(endpoint, dict) and endpoint.get("ports") == []:
            problems.append(f"$.endpoints[{i}].ports: MUST be a non-empty array")
    metadata = body.get("metadata")
    if isinstance(metadata, dict):
        times = {k: metadata.get(k) for k in ("expires_at", "renew_before") if k in metadata}
        for name, value in times.items():
            if not isinstance(value, str) or not _ISO.match(value):
                problems.append(f"$.metadata.{name}: {value!r} is not yyyy-mm-ddThh:mm:ss.sZ")
        if len(times) == 2 and str(times["renew_before"]) > str(times["expires_at"]):
            problems.append("$.metadata: renew_before is after expires_at")
    return problems, ""


SpecCheck = Callable[[Any], tuple[list[str], str]]


def spec_rules(method: str, template: str, status: int) -> SpecCheck | None:
    """The spec.md rules for this answer that the reference does not carry."""
    if status >= 400:
        return lambda body: spec_error(body, method, template)
    if status == 202:
        return lambda body: spec_async(body, bind=(method, template) == ("PUT", BINDING))
    if (method, template) == ("GET", CATALOG):
        return spec_catalog
    if template in (INSTANCE_OP, BINDING_OP):
        return spec_last_operation
    if template == BINDING and method in ("PUT", "GET"):
        return spec_binding
    return None


# -- the calls --------------------------------------------------------------------------------


@dataclass
class Broker:
    """The broker under test as a platform calls it; a :class:`Row` per check."""

    http: aiohttp.ClientSession
    options: Options
    swagger: Swagger
    rows: list[Row] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return self.options.base_url.rstrip("/")

    def headers(self, *, auth: bool | str = True, version: str | None = VERSION) -> dict[str, str]:
        """``auth``: ``True`` the right credentials, ``False`` none, a string: that password."""
        sent = {"X-Broker-API-Request-Identity": str(uuid.uuid4())}
        if version is not None:
            sent["X-Broker-API-Version"] = version
        if auth is not False:
            password = self.options.password if auth is True else auth
            sent["Authorization"] = aiohttp.BasicAuth(self.options.username, password).encode()
        return sent

    async def call(
        self,
        method: str,
        template: str,
        case: str,
        expect: int | Sequence[int],
        *,
        ids: Mapping[str, str] | None = None,
        body: Any = NOTHING,
        raw: bytes | None = None,
        params: Iterable[tuple[str, str]] = (),
        auth: bool | str = True,
        version: str | None = VERSION,
        tolerate: Mapping[int, str] | None = None,
        record: bool = True,
    ) -> tuple[Reply, Row]:
        """One request; ``tolerate``: codes outside the spec's table the scenario accepts, with
        why. ``record=False``: the row is returned but not kept (polls keep only some)."""
        expected = (expect,) if isinstance(expect, int) else tuple(expect)
        operation = f"{method} {template}"
        path = template.format_map({k: quote(v, safe="") for k, v in (ids or {}).items()})
        sent = self.headers(auth=auth, version=version)
        if template != CATALOG:
            sent["X-Broker-API-Originating-Identity"] = ORIGINATING
        data: bytes | None = None
        if raw is not None:
            data, sent["Content-Type"] = raw, "application/json"
        elif body is not NOTHING:
            data, sent["Content-Type"] = json.dumps(body).encode(), "application/json"
        try:
            async with self.http.request(
                method,
                self.base_url + path,
                params=list(params),
                data=data,
                headers=sent,
                allow_redirects=False,
            ) as response:
                reply = await read_reply(response)
        except (aiohttp.ClientError, TimeoutError) as error:
            row = Row(operation, case, "-", "-", (f"no response: {type(error).__name__}: {error}",))
            if record:
                self.rows.append(row)
            return Reply(0, None, {}, ""), row
        problems, notes = self._status(method, template, reply, expected, tolerate or {})
        problems += self._headers(template, reply, sent, notes)
        verdict, body_problems = self._body(method, template, reply, notes)
        row = Row(operation, case, str(reply.status), verdict, (*problems, *body_problems))
        if record:
            self.rows.append(row)
        return reply, row

    @staticmethod
    def _status(
        method: str,
        template: str,
        reply: Reply,
        expected: tuple[int, ...],
        tolerate: Mapping[int, str],
    ) -> tuple[list[str], list[str]]:
        problems: list[str] = []
        notes: list[str] = []
        if reply.status not in expected:
            detail = reply.member("description")
            problems.append(
                f"expected {'|'.join(map(str, expected))}, got {reply.status}"
                + (f" ({detail})" if detail else "")
            )
        allowed = SPEC_STATUSES[(method, template)] | EVERYWHERE
        if reply.status not in allowed:
            if reply.status in tolerate:
                notes.append(f"{reply.status} not in spec table: {tolerate[reply.status]}")
            else:
                section = SECTIONS[(method, template)]
                problems.append(
                    f'{reply.status} is not a status spec.md "{section}" defines for this '
                    f"endpoint ({', '.join(map(str, sorted(allowed)))}); any other code is a "
                    "failure for the platform"
                )
        return problems, notes

    @staticmethod
    def _headers(
        template: str, reply: Reply, sent: Mapping[str, str], notes: list[str]
    ) -> list[str]:
        problems: list[str] = []
        asked = sent["X-Broker-API-Request-Identity"]
        echoed = reply.headers.get("X-Broker-API-Request-Identity")
        if echoed is None:
            problems.append(
                "X-Broker-API-Request-Identity not echoed (spec.md Request Identity: SHOULD)"
            )
        elif echoed != asked:
            problems.append(f"X-Broker-API-Request-Identity echoed as {echoed!r}, sent {asked!r}")
        retry = reply.headers.get("Retry-After")
        if retry is not None:
            if template in (INSTANCE_OP, BINDING_OP):
                notes.append("ref names the header RetryAfter")
            if not _SECONDS.match(retry.strip()):
                problems.append(
                    f"Retry-After {retry!r} is not a number of seconds (spec.md: a duration is "
                    "RECOMMENDED; Cloud Foundry and Kubernetes read integer seconds only)"
                )
        if reply.body is not None and reply.content_type != "application/json":
            problems.append(
                f"Content-Type {reply.content_type!r}, not application/json (spec.md Content Type)"
            )
        if reply.status == 401 and "WWW-Authenticate" not in reply.headers:
            problems.append("401 without WWW-Authenticate (RFC 7235 §3.1: MUST)")
        return problems

    def _body(
        self, method: str, template: str, reply: Reply, notes: list[str]
    ) -> tuple[str, list[str]]:
        found = self.swagger.response(method, template, reply.status)
        problems: list[str] = []
        if found is None:
            verdict = "ref: undocumented"
            problems.append(f"{self.swagger.path.name} documents no {reply.status} here")
        else:
            key, pointer = found
            errors = self.swagger.check(pointer, reply.body)
            name = self.swagger.schema_name(pointer)
            verdict = f"ref {name} {'FAIL' if errors else 'ok'}"
            if key == "default":
                verdict += " [default]"
            gap = REF_GAPS.get((method, template, reply.status))
            if gap:
                notes.append(gap)
            problems += [
                f"ref ({self.swagger.path.name} {self.swagger.version}): {e}" for e in errors
            ]
        rules = spec_rules(method, template, reply.status)
        if rules is not None:
            spec_problems, gap = rules(reply.body)
            verdict += f", spec {'FAIL' if spec_problems else 'ok'}"
            if gap:
                notes.insert(0, gap)
            problems += [f"spec.md: {p}" for p in spec_problems]
        if notes:
            verdict += f" [{'; '.join(notes)}]"
        return verdict, problems

    async def poll(
        self,
        template: str,
        case: str,
        *,
        ids: Mapping[str, str],
        params: Sequence[tuple[str, str]],
        gone_ends: bool = False,
    ) -> Reply:
        """Poll ``last_operation`` until ``succeeded`` or ``failed`` (or 410 when ``gone_ends``:
        an asynchronous delete). Keeps the first answer's row and the last one, and any other
        that failed a check."""
        expect = (200, 410) if gone_ends else (200,)
        deadline = time.monotonic() + self.options.timeout
        first = True
        while True:
            reply, row = await self.call(
                "GET", template, f"{case}: poll", expect, ids=ids, params=params, record=False
            )
            state = reply.member("state")
            done = reply.status != 200 or state in ("succeeded", "failed")
            late = time.monotonic() > deadline
            if done or late or first or row.problems:
                final = " (final)" if done or late else ""
                label = f"{case}: {state or reply.status}{final}"
                self.rows.append(Row(row.operation, label, row.status, row.schema, row.problems))
            if done:
                return reply
            if late:
                self.fail(f"GET {template}", case, f"still {state!r} after {self.options.timeout}s")
                return reply
            first = False
            # Retry-After is honoured up to 2 s: the scenario must not take minutes.
            retry = reply.headers.get("Retry-After", "1")
            await asyncio.sleep(min(float(retry) if _SECONDS.match(retry) else 1.0, 2.0))

    def fail(self, operation: str, case: str, problem: str) -> None:
        self.rows.append(Row(operation, case, "-", "-", (problem,)))

    def skip(self, operation: str, case: str, why: str) -> None:
        self.rows.append(Row(operation, case, "-", why, skipped=True))


# -- the scenario -----------------------------------------------------------------------------


@dataclass
class Offer:
    """The service under test, and what its catalog entry allows."""

    service: dict[str, Any]
    plan: dict[str, Any]
    other_plan: dict[str, Any] | None

    @property
    def service_id(self) -> str:
        return str(self.service["id"])

    @property
    def plan_id(self) -> str:
        return str(self.plan["id"])

    def updateable(self) -> bool:
        flag = self.plan.get("plan_updateable", self.service.get("plan_updateable", False))
        return bool(flag) and self.other_plan is not None

    def rotatable(self, plan: Mapping[str, Any]) -> bool:
        return bool(plan.get("binding_rotatable", False))

    def instances_retrievable(self) -> bool:
        return bool(self.service.get("instances_retrievable", False))

    def bindings_retrievable(self) -> bool:
        return bool(self.service.get("bindings_retrievable", False))


def choose(catalog: Any, name: str | None) -> Offer | str:
    """The service (``name``, or the first one) and its first bindable plan; or why none."""
    services = catalog.get("services") if isinstance(catalog, dict) else None
    if not isinstance(services, list) or not services:
        return "the catalog offers no service"
    pool = [s for s in services if isinstance(s, dict) and (name is None or s.get("name") == name)]
    if not pool:
        offered = ", ".join(str(s.get("name")) for s in services if isinstance(s, dict))
        return f"no service named {name!r} in the catalog ({offered})"
    service = pool[0]
    plans = [p for p in service.get("plans") or [] if isinstance(p, dict) and "id" in p]
    if "id" not in service or not plans:
        return f"service {service.get('name')!r} has no usable id or plans"
    bindable = [p for p in plans if p.get("bindable", service.get("bindable", False))]
    plan = (bindable or plans)[0]
    others = [p for p in plans if p is not plan]
    return Offer(service, plan, others[0] if others else None)


def parameters_schema(plan: Mapping[str, Any], *path: str) -> dict[str, Any]:
    node: Any = plan.get("schemas") or {}
    for part in (*path, "parameters"):
        node = node.get(part) if isinstance(node, dict) else None
    return node if isinstance(node, dict) else {}


def invalid_parameters(schema: Mapping[str, Any]) -> dict[str, Any] | None:
    """Parameters the plan's published schema rejects: an undeclared one when the schema is
    closed, else a declared one of the wrong type; ``None`` when the schema allows anything."""
    if schema.get("additionalProperties") is False:
        return {"osb-conformance-undeclared": 1}
    wrong = {"string": 1, "integer": "one", "number": "one", "boolean": "yes", "object": 1}
    for name, member in (schema.get("properties") or {}).items():
        kind = member.get("type") if isinstance(member, dict) else None
        if isinstance(kind, str) and kind in wrong:
            return {name: wrong[kind]}
    return None


def other_valid_parameters(schema: Mapping[str, Any]) -> dict[str, Any] | None:
    """Parameters the schema accepts, different from none: a declared boolean set to true."""
    for name, member in (schema.get("properties") or {}).items():
        if isinstance(member, dict) and member.get("type") == "boolean":
            return {name: True}
    return None


def provision_body(offer: Offer, plan_id: str | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "service_id": offer.service_id,
        "plan_id": plan_id or offer.plan_id,
        "organization_guid": ORG,
        "space_guid": SPACE,
        "context": CONTEXT,
        "parameters": {},
        **extra,
    }


def bind_body(offer: Offer, plan_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "service_id": offer.service_id,
        "plan_id": plan_id,
        "context": CONTEXT,
        "bind_resource": {"app_guid": APP},
        "parameters": {},
        **extra,
    }


def new_id() -> str:
    return str(uuid.uuid4())


@dataclass
class Made:
    """What the scenario created and may still have to delete: instance -> plan, and
    (instance, binding) pairs."""

    instances: dict[str, str] = field(default_factory=dict)
    bindings: list[tuple[str, str]] = field(default_factory=list)


async def catalog_checks(broker: Broker) -> Offer | None:
    reply, _ = await broker.call("GET", CATALOG, "catalog", 200)
    if reply.status != 200:
        broker.fail(f"GET {CATALOG}", "choose a service", f"no catalog (got {reply.status})")
        return None
    offer = choose(reply.body, broker.options.service)
    if isinstance(offer, str):
        broker.fail(f"GET {CATALOG}", "choose a service", offer)
        return None
    return offer


async def negative_auth_and_version(broker: Broker) -> None:
    """401 before 412 before anything else (FACTS §10); 412 for versions not served."""
    call = broker.call
    await call("GET", CATALOG, "no credentials -> 401", 401, auth=False)
    await call("GET", CATALOG, "wrong password -> 401", 401, auth="not-the-password")
    await call("GET", CATALOG, "no credentials, no version -> 401 first", 401, auth=False,
               version=None)  # fmt: skip
    # spec.md "API Version Header": a missing header MAY get 400; the checkers want 412.
    missing = "spec.md API Version Header: MAY 400 when missing"
    await call("GET", CATALOG, "no X-Broker-API-Version -> 412|400", (412, 400), version=None,
               tolerate={400: missing})  # fmt: skip
    await call("GET", CATALOG, "X-Broker-API-Version 1.0 -> 412", 412, version="1.0")
    await call("GET", CATALOG, "X-Broker-API-Version 'banana' -> 412", 412, version="banana")
    await call("PUT", INSTANCE, "provision, no version -> 412|400", (412, 400), version=None,
               ids={"instance_id": new_id()}, body={}, tolerate={400: missing})  # fmt: skip


async def provision_checks(broker: Broker, offer: Offer, made: Made) -> str | None:
    """Synchronous provision, identical and different re-sends, fetch, last_operation."""
    iid = new_id()
    ids = {"instance_id": iid}
    body = provision_body(offer)
    made.instances[iid] = offer.plan_id
    created, _ = await broker.call("PUT", INSTANCE, "provision, sync -> 201", 201, ids=ids,
                                   body=body)  # fmt: skip
    if created.status != 201:
        return None
    await broker.call("PUT", INSTANCE, "identical re-send -> 200", 200, ids=ids, body=body)
    if offer.other_plan is not None:
        different = provision_body(offer, str(offer.other_plan["id"]))
        await broker.call("PUT", INSTANCE, "re-send, other plan -> 409", 409, ids=ids,
                          body=different)  # fmt: skip
    else:
        broker.skip(f"PUT {INSTANCE}", "re-send, other plan -> 409", "one plan only")
    if offer.instances_retrievable():
        fetched, _ = await broker.call("GET", INSTANCE, "fetch instance", 200, ids=ids,
                                       params=[("service_id", offer.service_id),
                                               ("plan_id", offer.plan_id)])  # fmt: skip
        holds(broker, f"GET {INSTANCE}", "unchanged by the 409", fetched,
              service_id=offer.service_id, plan_id=offer.plan_id)  # fmt: skip
    else:
        broker.skip(f"GET {INSTANCE}", "fetch instance", "instances_retrievable is false")
    last, _ = await broker.call("GET", INSTANCE_OP, "after the sync provision", 200, ids=ids,
                                params=[("service_id", offer.service_id),
                                        ("plan_id", offer.plan_id)])  # fmt: skip
    if last.status == 200 and last.member("state") != "succeeded":
        broker.fail(f"GET {INSTANCE_OP}", "after the sync provision",
                    f"state {last.member('state')!r}, want 'succeeded'")  # fmt: skip
    return iid


def holds(broker: Broker, operation: str, case: str, reply: Reply, **values: Any) -> None:
    if reply.status != 200:
        return
    wrong = {k: reply.member(k) for k, v in values.items() if reply.member(k) != v}
    if wrong:
        broker.fail(operation, case, f"got {wrong}, want {values}")


async def update_checks(broker: Broker, offer: Offer, made: Made, iid: str) -> str:
    """A plan change when the plan allows one, else a no-op update; answers the plan now."""
    ids = {"instance_id": iid}
    if not offer.updateable() or offer.other_plan is None:
        body = {"service_id": offer.service_id, "context": CONTEXT}
        await broker.call("PATCH", INSTANCE, "update, no change -> 200", 200, ids=ids, body=body)
        return offer.plan_id
    new_plan = str(offer.other_plan["id"])
    body = {
        "service_id": offer.service_id,
        "plan_id": new_plan,
        "context": CONTEXT,
        "previous_values": {"plan_id": offer.plan_id, "service_id": offer.service_id},
    }
    reply, _ = await broker.call("PATCH", INSTANCE, "update, other plan -> 200|202", (200, 202),
                                 ids=ids, body=body)  # fmt: skip
    if reply.status == 202:
        params = [("service_id", offer.service_id), ("plan_id", offer.plan_id)]
        operation = reply.member("operation")
        if isinstance(operation, str):
            params.append(("operation", operation))
        await broker.poll(INSTANCE_OP, "update", ids=ids, params=params)
    elif reply.status != 200:
        return offer.plan_id
    made.instances[iid] = new_plan
    if offer.instances_retrievable():
        fetched, _ = await broker.call("GET", INSTANCE, "after the update", 200, ids=ids)
        holds(broker, f"GET {INSTANCE}", "after the update", fetched, plan_id=new_plan)
    return new_plan


async def binding_checks(
    broker: Broker, offer: Offer, made: Made, iid: str, plan_id: str
) -> list[str]:
    """Bind, re-send, fetch, last_operation, a different re-send, invalid parameters,
    rotation. Answers the bindings made, oldest first."""
    plan = next((p for p in offer.service["plans"] if p.get("id") == plan_id), offer.plan)
    if not plan.get("bindable", offer.service.get("bindable", False)):
        broker.skip(f"PUT {BINDING}", "bind", "the plan is not bindable")
        return []
    bid = new_id()
    ids = {"instance_id": iid, "binding_id": bid}
    body = bind_body(offer, plan_id)
    made.bindings.append((iid, bid))
    created, _ = await broker.call("PUT", BINDING, "bind, sync -> 201", 201, ids=ids, body=body)
    if created.status != 201:
        return [bid]
    credentials = created.member("credentials")
    again, _ = await broker.call("PUT", BINDING, "identical re-send -> 200", 200, ids=ids,
                                 body=body)  # fmt: skip
    if again.status == 200 and again.member("credentials") != credentials:
        broker.fail(f"PUT {BINDING}", "identical re-send -> 200",
                    "credentials differ from the 201's")  # fmt: skip
    hints = [("service_id", offer.service_id), ("plan_id", plan_id)]
    if offer.bindings_retrievable():
        await broker.call("GET", BINDING, "fetch binding", 200, ids=ids, params=hints)
    else:
        broker.skip(f"GET {BINDING}", "fetch binding", "bindings_retrievable is false")
    last, _ = await broker.call("GET", BINDING_OP, "after the sync bind", 200, ids=ids,
                                params=hints)  # fmt: skip
    if last.status == 200 and last.member("state") != "succeeded":
        broker.fail(f"GET {BINDING_OP}", "after the sync bind",
                    f"state {last.member('state')!r}, want 'succeeded'")  # fmt: skip
    schema = parameters_schema(plan, "service_binding", "create")
    other = other_valid_parameters(schema)
    if other is not None:
        await broker.call("PUT", BINDING, f"re-send, parameters {other} -> 409", 409, ids=ids,
                          body=bind_body(offer, plan_id, parameters=other))  # fmt: skip
    else:
        broker.skip(f"PUT {BINDING}", "re-send, other parameters -> 409", "no such parameter")
    invalid = invalid_parameters(schema)
    if invalid is not None:
        bad = {"instance_id": iid, "binding_id": new_id()}
        await broker.call("PUT", BINDING, "invalid parameters -> 400", 400, ids=bad,
                          body=bind_body(offer, plan_id, parameters=invalid))  # fmt: skip
        if offer.bindings_retrievable():
            await broker.call("GET", BINDING, "after the 400: none", 404, ids=bad)
    else:
        broker.skip(f"PUT {BINDING}", "invalid parameters -> 400", "the schema allows any")
    made_ids = [bid]
    if offer.rotatable(plan):
        successor = new_id()
        made.bindings.append((iid, successor))
        made_ids.append(successor)
        # spec.md "Request (Rotating a Service Binding)": the body is predecessor_binding_id
        # alone (swagger.yaml's ServiceBindingRequest would require service_id and plan_id).
        rotated, _ = await broker.call(
            "PUT", BINDING, "rotate: predecessor_binding_id -> 201", 201,
            ids={"instance_id": iid, "binding_id": successor},
            body={"predecessor_binding_id": bid},
        )  # fmt: skip
        if rotated.status == 201 and not isinstance(rotated.member("credentials"), dict):
            broker.fail(f"PUT {BINDING}", "rotate", "no credentials for the successor")
        if offer.bindings_retrievable():
            await broker.call("GET", BINDING, "predecessor still valid after rotation", 200,
                              ids=ids)  # fmt: skip
    else:
        broker.skip(f"PUT {BINDING}", "rotate", "the plan is not binding_rotatable")
    return made_ids


async def async_provision_checks(broker: Broker, offer: Offer, made: Made) -> str | None:
    """``accepts_incomplete=true``: 202 (or 201: a synchronous broker may ignore it), an
    identical re-send while in progress gets 202 with the same operation, poll to succeeded."""
    iid = new_id()
    ids = {"instance_id": iid}
    body = provision_body(offer)
    made.instances[iid] = offer.plan_id
    incomplete = [("accepts_incomplete", "true")]
    reply, _ = await broker.call("PUT", INSTANCE, "provision, async -> 202", 202, ids=ids,
                                 body=body, params=incomplete)  # fmt: skip
    if reply.status not in (201, 202):
        return None
    operation = reply.member("operation")
    again, _ = await broker.call("PUT", INSTANCE, "identical re-send -> 202 (or 200 if done)",
                                 (200, 202), ids=ids, body=body, params=incomplete)  # fmt: skip
    if again.status == 202 and again.member("operation") != operation:
        resent = again.member("operation")
        broker.fail(f"PUT {INSTANCE}", "identical re-send while in progress",
                    f"operation {resent!r}, first {operation!r} (MUST match)")  # fmt: skip
    params = [("service_id", offer.service_id), ("plan_id", offer.plan_id)]
    if isinstance(operation, str):
        params.append(("operation", operation))
    final = await broker.poll(INSTANCE_OP, "async provision", ids=ids, params=params)
    if final.member("state") != "succeeded":
        return None
    if offer.instances_retrievable():
        await broker.call("GET", INSTANCE, "after the async provision", 200, ids=ids)
    return iid


async def negative_checks(broker: Broker, offer: Offer, made: Made, iid: str | None) -> None:
    """Requests a broker must refuse, each leaving nothing behind."""
    call = broker.call
    cases: list[tuple[str, dict[str, Any]]] = [
        ("unknown plan -> 400", provision_body(offer, "osb-conformance-no-such-plan")),
        ("unknown service -> 400", {**provision_body(offer), "service_id": "no-such-service"}),
        ("no organization_guid -> 400",
         {k: v for k, v in provision_body(offer).items() if k != "organization_guid"}),
        ("no space_guid -> 400",
         {k: v for k, v in provision_body(offer).items() if k != "space_guid"}),
    ]  # fmt: skip
    invalid = invalid_parameters(parameters_schema(offer.plan, "service_instance", "create"))
    if invalid is not None:
        cases.append(("invalid parameters -> 400", provision_body(offer, parameters=invalid)))
    else:
        broker.skip(f"PUT {INSTANCE}", "invalid parameters -> 400", "the schema allows any")
    for case, body in cases:
        ids = {"instance_id": new_id()}
        made.instances[ids["instance_id"]] = offer.plan_id
        await call("PUT", INSTANCE, case, 400, ids=ids, body=body)
        if offer.instances_retrievable():
            await call("GET", INSTANCE, f"after '{case[:-7]}': none -> 404", 404, ids=ids)
    ids = {"instance_id": new_id()}
    await call("PUT", INSTANCE, "body not JSON -> 400", 400, ids=ids, raw=b"{not json")
    if offer.instances_retrievable():
        await call("GET", INSTANCE, "unknown instance -> 404", 404, ids=ids)
    await call("GET", INSTANCE_OP, "unknown instance -> 404", 404, ids=ids)
    unknown = {"instance_id": new_id(), "binding_id": new_id()}
    # spec.md "Binding" lists no code for an instance that does not exist ("MUST be the ID of a
    # previously provisioned Service Instance"): 400 fits "invalid data"; 404 and 410 are
    # outside the table, which makes the platform treat them as failures, as wanted.
    no_such = "no spec code for an unknown instance"
    await call("PUT", BINDING, "bind to an unknown instance -> 4xx", (400, 404, 410, 422),
               ids=unknown, body=bind_body(offer, offer.plan_id),
               tolerate={404: no_such, 410: no_such})  # fmt: skip
    if offer.bindings_retrievable():
        await call("GET", BINDING, "unknown binding -> 404", 404, ids=unknown)
    if iid is not None:
        await call("PATCH", INSTANCE, "update, no service_id -> 400", 400,
                   ids={"instance_id": iid}, body={"context": CONTEXT})  # fmt: skip
        await call("DELETE", INSTANCE, "deprovision, no service_id/plan_id -> 400", 400,
                   ids={"instance_id": iid})  # fmt: skip


async def delete_checks(
    broker: Broker, offer: Offer, made: Made, iid: str, plan_id: str, bindings: list[str]
) -> None:
    """Unbind each binding (200) and the first again (410); deprovision (200) and again (410)."""
    query = [("service_id", offer.service_id), ("plan_id", plan_id)]
    for n, bid in enumerate(reversed(bindings)):
        ids = {"instance_id": iid, "binding_id": bid}
        await broker.call("DELETE", BINDING, f"unbind #{len(bindings) - n} -> 200", 200,
                          ids=ids, params=query)  # fmt: skip
    if bindings:
        ids = {"instance_id": iid, "binding_id": bindings[0]}
        await broker.call("DELETE", BINDING, "unbind again -> 410", 410, ids=ids, params=query)
        if offer.bindings_retrievable():
            await broker.call("GET", BINDING, "after the unbind -> 404", 404, ids=ids)
    ids = {"instance_id": iid}
    await broker.call("DELETE", INSTANCE, "deprovision, sync -> 200", 200, ids=ids, params=query)
    await broker.call("DELETE", INSTANCE, "deprovision again -> 410", 410, ids=ids, params=query)
    if offer.instances_retrievable():
        await broker.call("GET", INSTANCE, "after the deprovision -> 404", 404, ids=ids)


async def async_deprovision_checks(broker: Broker, offer: Offer, iid: str) -> None:
    """``accepts_incomplete=true``: 202 (200 if done at once), then ``last_operation`` until
    410 (FACTS §3: 200 ``succeeded`` works too, 404 does not), then DELETE again: 410."""
    ids = {"instance_id": iid}
    query = [("service_id", offer.service_id), ("plan_id", offer.plan_id)]
    incomplete = [*query, ("accepts_incomplete", "true")]
    reply, _ = await broker.call("DELETE", INSTANCE, "deprovision, async -> 202", (202, 200),
                                 ids=ids, params=incomplete)  # fmt: skip
    if reply.status == 202:
        params = list(query)
        operation = reply.member("operation")
        if isinstance(operation, str):
            params.append(("operation", operation))
        final = await broker.poll(INSTANCE_OP, "async deprovision", ids=ids, params=params,
                                  gone_ends=True)  # fmt: skip
        if final.status == 200 and final.member("state") == "failed":
            broker.fail(f"GET {INSTANCE_OP}", "async deprovision", "the deprovision failed")
    elif reply.status != 200:
        return
    await broker.call("DELETE", INSTANCE, "deprovision again -> 410", 410, ids=ids, params=query)


async def clean_up(broker: Broker, offer: Offer, made: Made) -> None:
    """Delete whatever the scenario left behind; no rows (410 is the usual answer)."""
    url = broker.base_url
    for iid, bid in made.bindings:
        plan_id = made.instances.get(iid, offer.plan_id)
        query = {"service_id": offer.service_id, "plan_id": plan_id, "accepts_incomplete": "true"}
        path = BINDING.format(instance_id=quote(iid, safe=""), binding_id=quote(bid, safe=""))
        with contextlib.suppress(aiohttp.ClientError, TimeoutError):
            async with broker.http.delete(url + path, params=query, headers=broker.headers()):
                pass
    for iid, plan_id in made.instances.items():
        query = {"service_id": offer.service_id, "plan_id": plan_id, "accepts_incomplete": "true"}
        path = INSTANCE.format(instance_id=quote(iid, safe=""))
        with contextlib.suppress(aiohttp.ClientError, TimeoutError):
            async with broker.http.delete(url + path, params=query, headers=broker.headers()):
                pass


async def run_osb(options: Options) -> list[Row]:
    """Play the scenario; one row per check."""
    swagger = Swagger(options.reference / REFERENCE_FILE)
    timeout = aiohttp.ClientTimeout(total=max(60.0, options.timeout))
    async with aiohttp.ClientSession(timeout=timeout) as http:
        broker = Broker(http, options, swagger)
        offer = await catalog_checks(broker)
        await negative_auth_and_version(broker)
        if offer is None:
            return broker.rows
        made = Made()
        try:
            iid = await provision_checks(broker, offer, made)
            plan_id = offer.plan_id
            bindings: list[str] = []
            if iid is not None:
                plan_id = await update_checks(broker, offer, made, iid)
                bindings = await binding_checks(broker, offer, made, iid, plan_id)
            second = await async_provision_checks(broker, offer, made)
            await negative_checks(broker, offer, made, iid)
            if iid is not None:
                await delete_checks(broker, offer, made, iid, plan_id, bindings)
            if second is not None:
                await async_deprovision_checks(broker, offer, second)
        finally:
            await clean_up(broker, offer, made)
    return broker.rows
