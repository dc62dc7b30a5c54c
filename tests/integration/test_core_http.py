"""Behaviour every API shares: problem details, request ids, health, metrics, OpenAPI pages."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web
from aiohttp.test_utils import TestClient
from fixtures.openapi import OpenApiDocument

from mep.app import create_app
from mep.core.deps import open_deps
from mep.core.settings import MepSettings
from mep.core.store import Store, StoreError

Client = TestClient[web.Request, web.Application]
SPEC = OpenApiDocument("mep-mgmt.yaml")


def assert_problem(body: dict[str, Any], status: int, instance: str) -> None:
    assert body["status"] == status
    assert body["type"] == "about:blank"
    assert body["title"]
    assert body["detail"]
    assert body["instance"] == instance


async def test_unknown_path_is_404_problem(client: Client) -> None:
    response = await client.get("/no/such/thing")
    assert response.status == 404
    assert response.content_type == "application/problem+json"
    assert_problem(await response.json(), 404, "/no/such/thing")


async def test_wrong_method_is_405_problem_with_allow(client: Client) -> None:
    response = await client.patch("/mep_mgmt/v1/app_instances", json={})
    assert response.status == 405
    assert response.content_type == "application/problem+json"
    assert {"GET", "POST"} <= set(response.headers["Allow"].replace(" ", "").split(","))
    assert_problem(await response.json(), 405, "/mep_mgmt/v1/app_instances")


async def test_oversized_body_is_413_problem(client: Client, operator: dict[str, str]) -> None:
    big = b'{"appName": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    response = await client.post(
        "/mep_mgmt/v1/app_instances",
        data=big,
        headers={**operator, "Content-Type": "application/json"},
    )
    assert response.status == 413
    assert (await response.json())["status"] == 413


async def test_unexpected_error_is_500_with_request_id_and_no_internals(client: Client) -> None:
    response = await client.get("/test/boom", headers={"X-Request-ID": "trace-42"})
    assert response.status == 500
    assert response.headers["X-Request-ID"] == "trace-42"
    text = await response.text()
    assert "trace-42" in text
    assert "secret internal detail" not in text
    assert "Traceback" not in text
    assert_problem(await response.json(), 500, "/test/boom")


async def test_request_id_is_echoed_or_generated(client: Client) -> None:
    given = await client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert given.headers["X-Request-ID"] == "abc-123"
    generated = await client.get("/healthz")
    assert re.fullmatch(r"[0-9a-f]{32}", generated.headers["X-Request-ID"])
    hostile = await client.get("/healthz", headers={"X-Request-ID": "a b\tc" + "x" * 200})
    assert re.fullmatch(r"[0-9a-f]{32}", hostile.headers["X-Request-ID"])
    problem = await client.get("/nothing", headers={"X-Request-ID": "on-errors-too"})
    assert problem.headers["X-Request-ID"] == "on-errors-too"


async def test_health_and_readiness(client: Client) -> None:
    health = await client.get("/healthz")
    assert health.status == 200
    SPEC.check("/healthz", "get", 200, await health.json())
    ready = await client.get("/readyz")
    assert ready.status == 200
    SPEC.check("/readyz", "get", 200, await ready.json())


class Unreachable:
    """A store whose server stopped answering."""

    def __init__(self, inner: Store) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def ping(self) -> None:
        raise StoreError("connection refused")


async def test_readiness_is_503_naming_the_reason_when_the_store_is_down(
    tmp_path: Path, aiohttp_client: Any
) -> None:
    settings = MepSettings(data_dir=tmp_path, admin_token="t")
    deps = await open_deps(settings)
    real = deps.store
    deps.store = Unreachable(real)  # type: ignore[assignment]
    client = await aiohttp_client(create_app(settings, deps))
    try:
        response = await client.get("/readyz")
        assert response.status == 503
        body = await response.json()
        SPEC.check("/readyz", "get", 503, body)
        assert "store unreachable: connection refused" in body["detail"]
        assert (await client.get("/healthz")).status == 200, "alive even when not ready"
        metrics = await (await client.get("/metrics")).text()
        assert "mep_store_up 0.0" in metrics
    finally:
        await client.close()
        await real.close()
        await deps.events.close()


async def test_metrics_count_requests_by_route_template(
    client: Client, operator: dict[str, str]
) -> None:
    await client.put("/mep_mgmt/v1/app_instances/m-1", json={"appName": "a"}, headers=operator)
    await client.get("/mep_mgmt/v1/app_instances/m-1", headers=operator)
    await client.get("/mep_mgmt/v1/app_instances/m-2", headers=operator)
    response = await client.get("/metrics")
    assert response.status == 200
    assert response.content_type == "text/plain"
    text = await response.text()
    route = 'route="/mep_mgmt/v1/app_instances/{appInstanceId}"'
    assert f'mep_http_requests_total{{method="GET",{route},status="200"}} 1.0' in text
    assert f'mep_http_requests_total{{method="GET",{route},status="404"}} 1.0' in text
    assert f'mep_http_request_duration_seconds_bucket{{le="0.5",method="PUT",{route}' in text
    assert "m-1" not in text, "ids never become label values"
    assert "mep_store_up 1.0" in text
    assert re.search(r"^mep_outbox_pending \d", text, re.MULTILINE)
    assert re.search(r"^mep_outbox_relayed_total \d", text, re.MULTILINE)


async def test_openapi_documents_and_docs_page_are_served(client: Client) -> None:
    page = await client.get("/openapi/")
    assert page.status == 200
    assert "/openapi/mep-mgmt.yaml" in await page.text()
    as_yaml = await client.get("/openapi/mep-mgmt.yaml")
    assert as_yaml.status == 200
    document = yaml.safe_load(await as_yaml.text())
    assert "/mep_mgmt/v1/app_instances" in document["paths"]
    as_json = await (await client.get("/openapi/mep-mgmt.json")).json()
    assert as_json == document
    asset = await client.get("/openapi/ui/swagger-ui-bundle.js")
    assert asset.status == 200
    assert (await client.get("/openapi/ui/..%2F..%2Fetc%2Fpasswd")).status == 404
    assert (await client.get("/openapi/nope.yaml")).status == 404
