"""Typed keys of the broker application."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from broker.operations import OperationRunner
from broker.service import Broker


@dataclass(frozen=True, slots=True)
class BrokerAuth:
    username: str
    password: str
    #: Also accepted as ``Authorization: Bearer`` (Kubernetes' bearer authInfo): the operator's.
    bearer: str | None = None


AUTH: web.AppKey[BrokerAuth] = web.AppKey("osb_auth", BrokerAuth)
BROKER: web.AppKey[Broker] = web.AppKey("osb_broker", Broker)
RUNNER: web.AppKey[OperationRunner] = web.AppKey("osb_runner", OperationRunner)
