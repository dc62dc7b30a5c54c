"""URL → handler, for all ten OSB v2.17 endpoints."""

from __future__ import annotations

from aiohttp import web

from broker.api import handlers as h

INSTANCE = "/v2/service_instances/{instance_id}"
BINDING = INSTANCE + "/service_bindings/{binding_id}"


def setup(app: web.Application) -> None:
    r = app.router
    r.add_get("/v2/catalog", h.catalog)
    r.add_put(INSTANCE, h.provision)
    r.add_patch(INSTANCE, h.update)
    r.add_delete(INSTANCE, h.deprovision)
    r.add_get(INSTANCE, h.fetch_instance)
    r.add_get(INSTANCE + "/last_operation", h.instance_last_operation)
    r.add_put(BINDING, h.bind)
    r.add_delete(BINDING, h.unbind)
    r.add_get(BINDING, h.fetch_binding)
    r.add_get(BINDING + "/last_operation", h.binding_last_operation)
