"""Our OpenAPI documents, served at ``/openapi/`` with an offline Swagger UI page."""

from __future__ import annotations

import asyncio
import html
import json
from pathlib import Path

import yaml
from aiohttp import web
from swagger_ui_bundle import swagger_ui_path

from mep.core.problem import NotFound

SPECS: web.AppKey[dict[str, bytes]] = web.AppKey("openapi_specs")


def specs_dir() -> Path:
    """``mep/specs`` in an installed wheel, the repository's ``specs/`` in a checkout."""
    packaged = Path(__file__).resolve().parents[1] / "specs"
    return packaged if packaged.is_dir() else Path(__file__).resolve().parents[2] / "specs"


def _load(directory: Path | None) -> dict[str, bytes]:
    return {p.stem: p.read_bytes() for p in sorted((directory or specs_dir()).glob("*.yaml"))}


_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>MEP platform APIs</title>
<link rel="stylesheet" href="/openapi/ui/swagger-ui.css"></head>
<body><div id="ui"></div>
<script src="/openapi/ui/swagger-ui-bundle.js"></script>
<script src="/openapi/ui/swagger-ui-standalone-preset.js"></script>
<script>
window.ui = SwaggerUIBundle({urls: %s, dom_id: "#ui",
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset], layout: "StandaloneLayout"});
</script></body></html>
"""


async def to_docs(request: web.Request) -> web.Response:
    raise web.HTTPFound("/openapi/")


async def docs(request: web.Request) -> web.Response:
    urls = [
        {"url": f"/openapi/{name}.yaml", "name": html.escape(name)} for name in request.app[SPECS]
    ]
    return web.Response(text=_PAGE % json.dumps(urls), content_type="text/html")


_UI_ASSETS = frozenset(
    {"swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js"}
)


async def ui_asset(request: web.Request) -> web.FileResponse:
    asset = request.match_info["asset"]
    if asset not in _UI_ASSETS:
        raise NotFound(f"no asset {asset!r}")
    return web.FileResponse(Path(swagger_ui_path) / asset)


async def spec(request: web.Request) -> web.Response:
    name, _, suffix = request.match_info["file"].rpartition(".")
    raw = request.app[SPECS].get(name)
    if raw is None or suffix not in ("yaml", "json"):
        raise NotFound(f"no OpenAPI document {request.match_info['file']!r}")
    if suffix == "yaml":
        return web.Response(body=raw, content_type="application/yaml")
    return web.json_response(yaml.safe_load(raw))


def setup(app: web.Application, directory: Path | None = None) -> None:
    async def load(app: web.Application) -> None:
        app[SPECS] = await asyncio.to_thread(_load, directory)

    app.on_startup.append(load)
    app.router.add_get("/openapi", to_docs)
    app.router.add_get("/openapi/", docs)
    app.router.add_get("/openapi/ui/{asset}", ui_asset)
    app.router.add_get("/openapi/{file}", spec)
