"""The pure parts of CAPIF discovery and of the platform's published APIs."""

from __future__ import annotations

from mep.capif.discover import DiscoverQuery, answer, security_methods
from mep.capif.platform import Route, interface, interfaces, platform_api_id, resources
from mep.capif.service_api_models import (
    AefLocation,
    AefProfile,
    InterfaceDescription,
    ServiceAPIDescription,
    ServiceKpis,
    Version,
)


def _profile(aef_id: str, **members: object) -> AefProfile:
    return AefProfile.model_validate(
        {
            "aefId": aef_id,
            "versions": [{"apiVersion": "v1"}],
            "domainName": "api.example.com",
            **members,
        }
    )


def _answered(query: DiscoverQuery, *profiles: AefProfile) -> list[str] | None:
    api = ServiceAPIDescription(api_name="a", aef_profiles=list(profiles))
    found = answer(query, api)
    return None if found is None else [p.aef_id for p in found.aef_profiles or []]


def test_kpis_compare_amounts_across_units_and_the_response_time_the_other_way() -> None:
    fast = _profile("fast", serviceKpis={"avalComp": "2 TFLOPS", "maxRestime": 2})
    slow = _profile("slow", serviceKpis={"avalComp": "900 GFLOPS", "maxRestime": 20})
    bare = _profile("bare")
    wanted = ServiceKpis(aval_comp="1000 GFLOPS")
    assert _answered(DiscoverQuery("i", service_kpis=wanted), fast, slow, bare) == ["fast"]
    wanted = ServiceKpis(max_restime=5)
    assert _answered(DiscoverQuery("i", service_kpis=wanted), fast, slow, bare) == ["fast"]


def test_a_preferred_location_narrows_but_never_empties() -> None:
    here = _profile("here", aefLocation={"dcId": "dc1", "civicAddr": {"country": "FR"}})
    there = _profile("there", aefLocation={"dcId": "dc2"})
    query = DiscoverQuery("i", preferred_aef_loc=AefLocation(dc_id="dc1"))
    assert _answered(query, here, there) == ["here"]
    query = DiscoverQuery("i", preferred_aef_loc=AefLocation(civic_addr={"country": "DE"}))
    assert _answered(query, here, there) == ["here", "there"]


def test_security_methods_fall_back_to_the_interfaces_then_the_ccfs() -> None:
    listed = InterfaceDescription(fqdn="a.example.com", security_methods=["PSK"])
    profile = AefProfile(
        aef_id="a", versions=[Version(api_version="v1")], interface_descriptions=[listed]
    )
    assert security_methods(profile) == ["PSK"]
    assert security_methods(_profile("b")) == ["OAUTH", "PKI"]
    assert security_methods(_profile("c", securityMethods=["PKI"])) == ["PKI"]


def test_platform_resources_come_from_the_routes_under_the_root() -> None:
    routes = [
        Route("/rni/v2/subscriptions", "GET"),
        Route("/rni/v2/subscriptions", "POST"),
        Route("/rni/v2/subscriptions", "HEAD"),
        Route("/rni/v2/queries/rab_info", "GET"),
        Route("/rni/v20/other", "GET"),
        Route("/location/v2/queries/users", "GET"),
    ]
    found = {r.uri: (r.operations, r.comm_type) for r in resources("/rni/v2", routes)}
    assert found == {
        "/queries/rab_info": (["GET"], "REQUEST_RESPONSE"),
        "/subscriptions": (["GET", "POST"], "SUBSCRIBE_NOTIFY"),
    }


def test_platform_interfaces() -> None:
    assert interface("https://[2001:db8::1]:8443/mep").model_dump(exclude_none=True) == {
        "ipv6Addr": "2001:db8::1",
        "port": 8443,
        "apiPrefix": "/mep",
    }
    same = interfaces("https://edge.example.net", "https://edge.example.net")
    assert [i.fqdn for i in same] == ["edge.example.net"]
    assert same[0].port == 443
    two = interfaces("http://10.0.0.1:8080", "https://10.0.0.1:8443")
    assert [(i.ipv4_addr, i.port, i.security_methods) for i in two] == [
        ("10.0.0.1", 8443, None),
        ("10.0.0.1", 8080, ["OAUTH"]),
    ]
    assert platform_api_id("APF1", "rni") == platform_api_id("APF1", "rni")
    assert platform_api_id("APF1", "rni") != platform_api_id("APF2", "rni")
