"""The DataPlane adapter the settings choose (``MEP_DATAPLANE``)."""

from __future__ import annotations

from mep.core.settings import MepSettings
from mep.dataplane.nftables import NftablesDataPlane
from mep.dataplane.none import RecordingDataPlane
from mep.dataplane.port import DataPlane


def create_dataplane(settings: MepSettings) -> DataPlane:
    """``nftables`` enforces; ``none`` (the default: a bare machine may have no nft, or no
    right to change its packet filter) records."""
    if settings.dataplane == "nftables":
        return NftablesDataPlane(
            table=settings.dataplane_table,
            netns=settings.dataplane_netns or None,
            interfaces=settings.dataplane_interfaces,
            timeout=settings.dataplane_timeout,
        )
    return RecordingDataPlane()
