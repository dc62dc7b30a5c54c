"""The broker's composition root. It shares the process's store with the MEP."""

from __future__ import annotations

from aiohttp import web

from broker.settings import BrokerSettings
from mep.core import keys
from mep.core.deps import Deps
from mep.core.web import base_app

BROKER_SETTINGS: web.AppKey[BrokerSettings] = web.AppKey("broker_settings")


def create_broker_app(settings: BrokerSettings, deps: Deps) -> web.Application:
    app = base_app("osb")
    app[BROKER_SETTINGS] = settings
    app[keys.STORE] = deps.store
    return app
