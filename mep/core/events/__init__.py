"""Event streams: the :class:`EventLog` port and the factory choosing its adapter.

Adapters are imported by :func:`open_event_log` only, so importing this package pulls in neither
redis nor aiokafka.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mep.core.events.port import Consumer, Event, EventLog, EventLogError

if TYPE_CHECKING:
    import redis.asyncio

__all__ = ["Consumer", "Event", "EventLog", "EventLogError", "open_event_log"]

_FORMS = "'memory', 'redis' or 'kafka://host:port[,host:port...]'"


def _kafka_bootstrap(spec: str) -> str:
    """``host:port,host:port`` out of ``kafka://host:port,host:port``; ValueError if malformed."""
    servers = spec.removeprefix("kafka://").split(",")
    for server in servers:
        host, sep, port = server.rpartition(":")
        if not (host and sep and port.isdigit() and 0 < int(port) < 65536):
            raise ValueError(f"MEP_EVENTS={spec!r}: {server!r} is not host:port; expected {_FORMS}")
    return ",".join(servers)


async def open_event_log(spec: str, *, redis_client: redis.asyncio.Redis | None) -> EventLog:
    """The event log named by ``spec`` (the ``MEP_EVENTS`` setting).

    ``"memory"``: in this process. ``"redis"``: Redis Streams on ``redis_client``, the store's
    client, which the log does not close. ``"kafka://host:port[,host:port]"``: Kafka brokers.
    """
    if spec == "memory":
        from mep.core.events.memory import MemoryEventLog

        return MemoryEventLog()
    if spec == "redis":
        if redis_client is None:
            raise ValueError("MEP_EVENTS=redis needs MEP_STORE=redis://...")
        from mep.core.events.redis_streams import RedisStreamsEventLog

        return RedisStreamsEventLog(redis_client, owns_client=False)
    if spec.startswith("kafka://"):
        bootstrap = _kafka_bootstrap(spec)
        from mep.core.events.kafka import KafkaEventLog

        return await KafkaEventLog.open(bootstrap)
    raise ValueError(f"MEP_EVENTS={spec!r} is not one of {_FORMS}")
