"""The catalog: the offerings of the enabled providers, rendered once as OSB JSON with an ETag."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from broker.services.base import Offering, Plan, Provider


def _schemas(plan: Plan) -> dict[str, Any]:
    def params(schema: Mapping[str, Any]) -> dict[str, Any]:
        return {"parameters": dict(schema)}

    return {
        "service_instance": {
            "create": params(plan.provision_schema),
            "update": params(plan.update_schema),
        },
        "service_binding": {"create": params(plan.bind_schema)},
    }


def _plan_json(offering: Offering, plan: Plan) -> dict[str, Any]:
    metadata: dict[str, Any] = {"displayName": plan.display_name or plan.name}
    if plan.bullets:
        metadata["bullets"] = list(plan.bullets)
    maintenance: dict[str, Any] = {"version": plan.maintenance_version}
    if plan.maintenance_description:
        maintenance["description"] = plan.maintenance_description
    return {
        "id": plan.id,
        "name": plan.name,
        "description": plan.description,
        "metadata": metadata,
        "free": plan.free,
        "bindable": plan.bindable,
        "plan_updateable": offering.plan_updateable,
        "binding_rotatable": offering.binding_rotatable and plan.bindable,
        "schemas": _schemas(plan),
        "maintenance_info": maintenance,
    }


def _offering_json(offering: Offering) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "displayName": offering.display_name or offering.name,
        "providerDisplayName": offering.provider_display_name,
    }
    if offering.long_description:
        metadata["longDescription"] = offering.long_description
    if offering.documentation_url:
        metadata["documentationUrl"] = offering.documentation_url
    return {
        "id": offering.id,
        "name": offering.name,
        "description": offering.description,
        "tags": list(offering.tags),
        "bindable": any(plan.bindable for plan in offering.plans),
        "instances_retrievable": True,
        "bindings_retrievable": True,
        "allow_context_updates": True,
        "plan_updateable": offering.plan_updateable,
        "metadata": metadata,
        "plans": [_plan_json(offering, plan) for plan in offering.plans],
    }


@dataclass(frozen=True, slots=True)
class Entry:
    provider: Provider
    offering: Offering
    plan: Plan


class Catalog:
    """Offerings by id, plans by (offering id, plan id), and the rendered document."""

    def __init__(self, providers: Sequence[Provider]) -> None:
        self._providers = {p.offering.id: p for p in providers}
        self.body = orjson.dumps({"services": [_offering_json(p.offering) for p in providers]})
        self.etag = '"' + hashlib.sha256(self.body).hexdigest()[:32] + '"'

    @property
    def providers(self) -> list[Provider]:
        return list(self._providers.values())

    def offering(self, service_id: str) -> Provider | None:
        return self._providers.get(service_id)

    def entry(self, service_id: str, plan_id: str) -> Entry | None:
        provider = self._providers.get(service_id)
        if provider is None:
            return None
        for plan in provider.offering.plans:
            if plan.id == plan_id:
                return Entry(provider, provider.offering, plan)
        return None
