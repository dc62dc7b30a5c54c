"""What the Mp1 scenario's steps share: the runner, the APIs, the two app instances."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from conformance.callbacks import CallbackServer
from conformance.runner import Api, Runner

MGMT_INSTANCE = "/mep_mgmt/v1/app_instances/{appInstanceId}"
TOKEN_ENDPOINT = "/oauth2/token"  # noqa: S105 - a path, not a secret

TRAFFIC_RULE_ID = "tr-conformance"
DNS_RULE_ID = "dns-conformance"
UNKNOWN = "no-such-id-0c1f"


def traffic_rule(state: str = "ACTIVE") -> dict[str, Any]:
    """A rule that touches only TEST-NET-1 (RFC 5737) traffic, whatever the data plane."""
    return {
        "trafficRuleId": TRAFFIC_RULE_ID,
        "filterType": "FLOW",
        "priority": 1,
        "trafficFilter": [{"dstAddress": ["192.0.2.10"], "dstPort": ["9"], "protocol": ["UDP"]}],
        "action": "DROP",
        "state": state,
    }


def dns_rule(tag: str, state: str = "ACTIVE") -> dict[str, Any]:
    return {
        "dnsRuleId": DNS_RULE_ID,
        "domainName": f"conformance-{tag}.example",
        "ipAddressType": "IP_V4",
        "ipAddress": "192.0.2.10",
        "ttl": 30,
        "state": state,
    }


def now_plus(seconds: float) -> dict[str, int]:
    """A MEC TimeStamp ``seconds`` from now."""
    moment = time.time() + seconds
    return {"seconds": int(moment), "nanoSeconds": int((moment % 1) * 1e9)}


@dataclass
class Mp1:
    run: Runner
    callbacks: CallbackServer
    mgmt: Api
    support: Api
    services: Api
    operator: str
    tag: str
    wait: float
    producer: str = ""
    consumer: str = ""
    producer_token: str = ""
    consumer_token: str = ""

    @property
    def service_names(self) -> tuple[str, str]:
        return f"conformance-{self.tag}-a", f"conformance-{self.tag}-b"
