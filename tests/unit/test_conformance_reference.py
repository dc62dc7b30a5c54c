"""``conformance.reference`` against the official ETSI MEC and 3GPP files in ../shared/reference."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from fixtures.reference import reference_check
from jsonschema import Draft202012Validator

from conformance.normalize import normalize
from conformance.reference import METHODS, ReferenceDocument, ReferenceLoadError

REFERENCE = Path(__file__).resolve().parents[3] / "shared" / "reference"
ETSI = REFERENCE / "etsi-mec"
GPP = REFERENCE / "3gpp"
SPECS = Path(__file__).resolve().parents[2] / "specs"

pytestmark = pytest.mark.skipif(
    not REFERENCE.is_dir(), reason=f"the reference files are not at {REFERENCE}"
)

SERVICE_INFO: dict[str, Any] = {
    "serInstanceId": "svc-1",
    "serName": "video-analytics",
    "serCategory": {"href": "/catalogue/rni", "id": "rni", "name": "RNI", "version": "v2"},
    "version": "1.0.0",
    "state": "ACTIVE",
    "transportInfo": {
        "id": "rest",
        "name": "REST",
        "type": "REST_HTTP",
        "protocol": "HTTP",
        "version": "1.1",
        "endpoint": {"uris": ["http://192.0.2.10/analytics/v1"]},
        "security": {
            "oAuth2Info": {
                "grantTypes": ["OAUTH2_CLIENT_CREDENTIALS"],
                "tokenEndpoint": "http://192.0.2.1/oauth2/token",
            }
        },
    },
    "serializer": "JSON",
    "scopeOfLocality": "MEC_HOST",
}


def load(path: Path) -> ReferenceDocument:
    return ReferenceDocument.load(path)


@pytest.fixture(scope="module")
def service_mgmt() -> ReferenceDocument:
    return load(ETSI / "MEC011_ServiceMgmtAPI.yaml")


@pytest.fixture(scope="module")
def app_support() -> ReferenceDocument:
    return load(ETSI / "MEC011_AppSupportAPI.yaml")


def with_(body: dict[str, Any], **changes: Any) -> dict[str, Any]:
    changed = copy.deepcopy(body)
    changed.update(changes)
    return changed


# MEC 011 service management


def test_a_service_list_with_v221_additions_fits_the_open_v211_schema(
    service_mgmt: ReferenceDocument,
) -> None:
    extended = with_(SERVICE_INFO, livenessInterval=30, _links={"self": {"href": "http://x/s"}})
    assert service_mgmt.check("/services", "GET", 200, [SERVICE_INFO, extended]) == []


def test_a_missing_required_member_is_named_with_its_place(
    service_mgmt: ReferenceDocument,
) -> None:
    body = [SERVICE_INFO, {k: v for k, v in SERVICE_INFO.items() if k != "serName"}]
    assert service_mgmt.check("/services", "GET", 200, body) == [
        "$[1]: 'serName' is a required property"
    ]


def test_a_wrong_enum_value_lists_the_allowed_ones(service_mgmt: ReferenceDocument) -> None:
    errors = service_mgmt.check(
        "/services/{serviceId}", "GET", 200, with_(SERVICE_INFO, state="SUSPENDED")
    )
    assert errors == ["$.state: 'SUSPENDED' is not one of ['ACTIVE', 'INACTIVE']"]


def test_one_of_reports_too_many_and_no_matching_alternative(
    service_mgmt: ReferenceDocument,
) -> None:
    both = with_(SERVICE_INFO)
    both["transportInfo"]["endpoint"] = {"uris": [], "addresses": []}
    none = with_(SERVICE_INFO)
    none["transportInfo"]["endpoint"] = {"url": "http://x"}
    path = "/applications/{appInstanceId}/services/{serviceId}"
    assert service_mgmt.check(path, "PUT", 200, both) == [
        "$.transportInfo.endpoint: matches more than one of the oneOf alternatives "
        "(exactly one allowed)"
    ]
    (error,) = service_mgmt.check(path, "PUT", 200, none)
    assert error.startswith("$.transportInfo.endpoint: matches none of the 3 oneOf alternatives")
    assert "is a required property" in error


def test_concrete_paths_with_the_base_path_find_their_template(
    service_mgmt: ReferenceDocument,
) -> None:
    concrete = "/mec_service_mgmt/v1/applications/app-1/services/svc-1"
    assert service_mgmt.operation(concrete, "put") == (
        "/applications/{appInstanceId}/services/{serviceId}"
    )
    assert service_mgmt.operation("/transports", "GET") == "/transports"
    assert service_mgmt.operation("/transports", "POST") is None
    assert service_mgmt.check(concrete, "PUT", 200, SERVICE_INFO) == []
    assert service_mgmt.check("/nowhere", "GET", 200, {}) == [
        "GET /nowhere: no such operation in MEC011_ServiceMgmtAPI.yaml"
    ]


def test_a_status_the_reference_does_not_document_is_reported(
    service_mgmt: ReferenceDocument,
) -> None:
    path = "/applications/{appInstanceId}/services"
    assert not service_mgmt.documents(path, "POST", 409)
    assert service_mgmt.check(path, "POST", 409, {"status": 409}) == [
        "POST /applications/{appInstanceId}/services 409: status not documented in "
        "MEC011_ServiceMgmtAPI.yaml (documented: 201, 400, 403, 404)"
    ]


def test_bodies_must_be_present_exactly_when_documented(service_mgmt: ReferenceDocument) -> None:
    path = "/applications/{appInstanceId}/subscriptions/{subscriptionId}"
    assert service_mgmt.check(path, "DELETE", 204, None) == []
    assert service_mgmt.check(path, "DELETE", 204, {"x": 1}) == [
        f"DELETE {path} 204: documented without a body, got one"
    ]
    assert service_mgmt.check(path, "GET", 200, None) == [
        f"GET {path} 200: documented with a body (application/json), got none"
    ]


def test_problem_details_media_types(service_mgmt: ReferenceDocument) -> None:
    path = "/services/{serviceId}"
    problem = {"type": "about:blank", "title": "Not Found", "status": 404, "detail": "no"}
    media = "application/problem+json; charset=utf-8"
    assert service_mgmt.check(path, "GET", 404, problem, media_type=media) == []
    assert service_mgmt.check(path, "GET", 404, {"status": "404"}, media_type=media) == [
        "$.status: expected integer, got string '404'"
    ]
    assert service_mgmt.check(path, "GET", 404, problem, media_type="text/html") == [
        f"GET {path} 404: media type text/html not documented "
        "(application/problem+json, text/plain)"
    ]


def test_the_degenerate_one_of_of_the_service_post_body_is_taken_as_any(
    service_mgmt: ReferenceDocument,
) -> None:
    path = "/applications/{appInstanceId}/services"
    raw = yaml.safe_load((ETSI / "MEC011_ServiceMgmtAPI.yaml").read_text())
    as_published = raw["paths"][path]["post"]["requestBody"]["content"]["application/json"]
    # As published, the schema rejects every body: both empty alternatives match.
    assert not Draft202012Validator(as_published["schema"]).is_valid({"serName": "x"})
    assert service_mgmt.check_request(path, "POST", {"transportId": "t"}) == []
    assert service_mgmt.check_request(path, "POST", SERVICE_INFO) == []
    assert service_mgmt.check_request(path, "POST", None) == [
        f"POST {path} request: the body is required"
    ]
    (quirk,) = service_mgmt.quirks
    assert "oneOf of 2 identical alternatives" in quirk
    assert "treated as any" in quirk


def test_a_notification_checks_against_its_component_schema(
    service_mgmt: ReferenceDocument,
) -> None:
    notification: dict[str, Any] = {
        "notificationType": "SerAvailabilityNotification",
        "serviceReferences": [
            {"serName": "a", "serInstanceId": "s", "state": "ACTIVE", "changeType": "ADDED"}
        ],
        "_links": {"subscription": {"href": "http://mep/subscriptions/1"}},
    }
    assert service_mgmt.check_schema("ServiceAvailabilityNotification", notification) == []
    notification["serviceReferences"][0]["changeType"] = "MOVED"
    assert service_mgmt.check_schema("ServiceAvailabilityNotification", notification) == [
        "$.serviceReferences[0].changeType: 'MOVED' is not one of "
        "['ADDED', 'REMOVED', 'STATE_CHANGED', 'ATTRIBUTES_CHANGED']"
    ]
    assert service_mgmt.check_schema("NoSuchSchema", {}) == [
        "no schema 'NoSuchSchema' in MEC011_ServiceMgmtAPI.yaml"
    ]


# MEC 011 application support


def test_current_time(app_support: ReferenceDocument) -> None:
    now = {"seconds": 1_700_000_000, "nanoSeconds": 5, "timeSourceStatus": "TRACEABLE"}
    assert app_support.check("/timing/current_time", "GET", 200, now) == []
    late = with_(now, timeSourceStatus="LATE")
    del late["nanoSeconds"]
    assert app_support.check("/timing/current_time", "GET", 200, late) == [
        "$: 'nanoSeconds' is a required property",
        "$.timeSourceStatus: 'LATE' is not one of ['TRACEABLE', 'NONTRACEABLE']",
    ]


def test_oas31_annotations_do_not_assert(app_support: ReferenceDocument) -> None:
    # minPollingInterval carries contentEncoding: int32 and examples; only its type counts.
    server = {
        "ntpServerAddrType": "IP_ADDRESS",
        "ntpServerAddr": "192.0.2.1",
        "minPollingInterval": 3,
        "maxPollingInterval": 17,
        "localPriority": 1,
        "authenticationOption": "NONE",
        "authenticationKeyNum": 1,
    }
    assert app_support.check("/timing/timing_caps", "GET", 200, {"ntpServers": [server]}) == []
    bad = {"ntpServers": [with_(server, minPollingInterval="3")]}
    assert app_support.check("/timing/timing_caps", "GET", 200, bad) == [
        "$.ntpServers[0].minPollingInterval: expected integer, got string '3'"
    ]


def test_confirm_ready_request_body(app_support: ReferenceDocument) -> None:
    path = "/mec_app_support/v1/applications/app-1/confirm_ready"
    assert app_support.check_request(path, "POST", {"indication": "READY"}) == []
    assert app_support.check_request(path, "POST", None) == []  # the body is optional there
    assert app_support.check_request(path, "POST", {"indication": "SOON"}) == [
        "$.indication: 'READY' was expected"
    ]


def test_the_subscription_link_list_requires_rel(app_support: ReferenceDocument) -> None:
    path = "/applications/{appInstanceId}/subscriptions"
    entry = {"href": "http://mep/s/1", "subscriptionType": "AppTerminationNotificationSubscription"}
    listed = {"_links": {"self": {"href": "http://mep/s"}, "subscriptions": [entry]}}
    assert app_support.check(path, "GET", 200, listed) == [
        "$['_links'].subscriptions[0]: 'rel' is a required property"
    ]
    entry["rel"] = entry["subscriptionType"]
    assert app_support.check(path, "GET", 200, listed) == []


def test_app_termination_notification(app_support: ReferenceDocument) -> None:
    body = {
        "notificationType": "AppTerminationNotification",
        "operationAction": "TERMINATING",
        "maxGracefulTimeout": 10,
        "_links": {"subscription": {"href": "http://mep/s/1"}},
    }
    assert app_support.check_schema("AppTerminationNotification", body) == []
    assert app_support.check_schema("AppTerminationNotification", with_(body, _links={})) == [
        "$['_links']: 'subscription' is a required property"
    ]


# MEC 012, 013, 015


def test_rnis_plmn_info() -> None:
    rnis = load(ETSI / "MEC012_RniAPI.yaml")
    info = {"appInstanceId": "app-1", "plmn": [{"mcc": "001", "mnc": "01"}]}
    assert rnis.check("/rni/v2/queries/plmn_info", "GET", 200, [info]) == []
    assert rnis.check("/queries/plmn_info", "GET", 200, [with_(info, plmn=[])]) == [
        "$[0].plmn: [] should be non-empty"
    ]


def test_rnis_subscription_alternatives_are_told_apart_by_their_discriminator() -> None:
    rnis = load(ETSI / "MEC012_RniAPI.yaml")
    ta = {
        "subscriptionType": "MeasTaSubscription",
        "callbackReference": "http://cb/1",
        "filterCriteriaAssoc": {"appInstanceId": "app-1"},
    }
    # MeasTa and CaReconf require the same members; only subscriptionType separates them.
    assert rnis.check_request("/subscriptions", "POST", ta) == []
    assert (
        rnis.check_request(
            "/subscriptions", "POST", with_(ta, subscriptionType="CaReconfSubscription")
        )
        == []
    )
    (error,) = rnis.check_request(
        "/subscriptions", "POST", with_(ta, subscriptionType="CellChangeSubscription")
    )
    assert error == (
        "$: matches none of the 9 oneOf alternatives; "
        "closest: $: 'filterCriteriaAssocHo' is a required property"
    )
    assert any("discriminator 'subscriptionType'" in q for q in rnis.quirks)


def test_location_zone_and_a_response_given_by_ref() -> None:
    location = load(ETSI / "MEC013_LocationAPI.yaml")
    zone = {
        "zoneId": "zone01",
        "numberOfAccessPoints": 3,
        "numberOfUnserviceableAccessPoints": 0,
        "numberOfUsers": 2,
        "resourceURL": "http://mep/location/v2/queries/zones/zone01",
    }
    path = "/location/v2/queries/zones/zone01"
    assert location.check(path, "GET", 200, {"zoneInfo": zone}) == []
    assert location.check(path, "GET", 200, {"zoneInfo": with_(zone, numberOfUsers="2")}) == [
        "$.zoneInfo.numberOfUsers: expected integer, got string '2'"
    ]
    # '404': {$ref: '#/components/responses/404'}
    assert location.check(path, "GET", 404, {"status": 404, "detail": "no zone"}) == []
    assert location.check(path, "GET", 404, {"status": 404.5}) == [
        "$.status: expected integer, got number 404.5"
    ]


def test_bandwidth_allocation() -> None:
    bwm = load(ETSI / "MEC015_BwManagementAPI.yaml")
    info = {
        "appInsId": "app-1",
        "requestType": 0,
        "allocationDirection": "00",
        "fixedAllocation": "1000000",
    }
    assert bwm.check("/bw_allocations/a-1", "GET", 200, info) == []
    assert bwm.check("/bw_allocations/a-1", "GET", 200, with_(info, requestType=2)) == [
        "$.requestType: 2 is not one of [0, 1]"
    ]


@pytest.mark.parametrize(
    "name", ["MEC011_AppSupportAPI.yaml", "MEC011_ServiceMgmtAPI.yaml", "MEC012_RniAPI.yaml"]
)
def test_the_references_own_examples_fit_their_schemas(name: str) -> None:
    document = load(ETSI / name)
    checked = 0
    for template, item in document.paths.items():
        for verb, operation in item.items():
            if verb not in METHODS:
                continue
            request = operation.get("requestBody", {}).get("content", {})
            for media, examples in _examples(request):
                checked += 1
                assert document.check_request(template, verb, examples, media_type=media) == []
            for status, response in operation.get("responses", {}).items():
                for media, example in _examples(response.get("content", {})):
                    checked += 1
                    errors = document.check(template, verb, int(status), example, media_type=media)
                    assert errors == []
    assert checked >= 5


def _examples(content: dict[str, Any]) -> list[tuple[str, Any]]:
    return [
        (media, example["value"])
        for media, body in content.items()
        for example in (body.get("examples") or {}).values()
        if isinstance(example, dict) and "value" in example
    ]


# 3GPP (OAS 3.0, references across files)


def test_capif_problem_details_follow_refs_into_other_files() -> None:
    invokers = load(GPP / "TS29222_CAPIF_API_Invoker_Management_API.yaml")
    path = "/api-invoker-management/v1/onboardedInvokers"
    problem = {
        "status": 400,
        "cause": "INVALID_REQUEST",
        "invalidParams": [{"param": "/notificationDestination", "reason": "not a URI"}],
    }
    # 400 -> TS29122_CommonData.yaml#/components/responses/400 -> its ProblemDetails ->
    # TS29571_CommonData.yaml#/components/schemas/SupportedFeatures.
    assert invokers.check(path, "POST", 400, problem) == []
    bad = with_(problem, invalidParams=[{"reason": "r"}], supportedFeatures="xyz")
    assert invokers.check(path, "POST", 400, bad) == [
        "$.invalidParams[0]: 'param' is a required property",
        "$.supportedFeatures: 'xyz' does not match '^[A-Fa-f0-9]*$'",
    ]


def test_oas30_nullable_allows_null() -> None:
    common = load(GPP / "TS29571_CommonData.yaml")
    assert common.check_schema("UintegerRm", None) == []
    assert common.check_schema("UintegerRm", 7) == []
    assert common.check_schema("UintegerRm", -1) == ["$: -1 is less than the minimum of 0"]
    assert common.check_schema("Uinteger", None) == ["$: expected integer, got null None"]


def test_a_closed_reference_schema_is_reported_as_closed() -> None:
    common = load(GPP / "TS29571_CommonData.yaml")
    assert common.closed_schemas() == [
        "TS29571_CommonData.yaml#/components/schemas/EmptyObject (additionalProperties: false)"
    ]
    (error,) = common.check_schema("EmptyObject", {"extra": 1})
    assert "is closed (additionalProperties: false)" in error
    assert "'extra' was unexpected" in error


def test_a_reference_to_a_file_that_is_not_there_is_reported() -> None:
    common = load(GPP / "TS29571_CommonData.yaml")
    missing = "TS29514_Npcf_PolicyAuthorization.yaml#/components/schemas/ReservPriority"
    assert missing in common.broken_refs()
    body = {"mbsMediaComps": {"a": {"mbsMedCompNum": 1}}, "mbsSdfResPrio": "PRIO_1"}
    errors = common.check_schema("MbsServiceInfo", body)
    assert errors[-1] == (
        f"unresolvable $ref {missing!r}: TS29514_Npcf_PolicyAuthorization.yaml is not in {GPP}"
    )


def test_refs_across_files_resolve_from_the_documents_directory(tmp_path: Path) -> None:
    (tmp_path / "Common.yaml").write_text(
        yaml.safe_dump(
            {"components": {"schemas": {"Id": {"type": "string", "pattern": "^[a-z]+$"}}}}
        )
    )
    api = {
        "openapi": "3.0.0",
        "info": {"title": "t", "version": "1"},
        "paths": {
            "/things/mine": {"get": {"responses": {"200": {"description": "literal"}}}},
            "/things/{id}": {
                "get": {
                    "responses": {
                        200: {
                            "description": "x",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "Common.yaml#/components/schemas/Id"}
                                }
                            },
                        }
                    }
                }
            },
        },
    }
    (tmp_path / "Api.yaml").write_text(yaml.safe_dump(api))
    document = load(tmp_path / "Api.yaml")
    assert document.operation("/things/mine", "GET") == "/things/mine"
    assert document.check("/things/abc", "GET", 200, "abc") == []  # an int status key works too
    assert document.check("/things/abc", "GET", 200, "ABC") == [
        "$: 'ABC' does not match '^[a-z]+$'"
    ]


def test_what_cannot_be_loaded(tmp_path: Path) -> None:
    with pytest.raises(ReferenceLoadError, match="no such file"):
        load(tmp_path / "absent.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n")
    with pytest.raises(ReferenceLoadError, match="not an OpenAPI document"):
        load(tmp_path / "list.yaml")


def test_oas30_schemas_become_2020_12() -> None:
    document = {
        "openapi": "3.0.3",
        "components": {
            "schemas": {
                "A": {"type": "string", "enum": ["x"], "nullable": True},
                "B": {"$ref": "#/components/schemas/A", "nullable": True},
                "C": {
                    "type": "number",
                    "minimum": 0,
                    "exclusiveMinimum": True,
                    "maximum": 9,
                    "exclusiveMaximum": False,
                },
                "D": {"type": "object", "properties": {"nullable": {"type": "string"}}},
            }
        },
    }
    normalized, quirks = normalize(document, source="t.yaml")
    schemas = normalized["components"]["schemas"]
    assert schemas["A"] == {"type": ["string", "null"], "enum": ["x", None]}
    assert schemas["B"] == {"anyOf": [{"$ref": "#/components/schemas/A"}, {"type": "null"}]}
    assert schemas["C"] == {"type": "number", "exclusiveMinimum": 0, "maximum": 9}
    assert schemas["D"]["properties"] == {"nullable": {"type": "string"}}
    assert quirks == []


# Our own Mp1 documents beside the reference


@pytest.mark.parametrize(
    ("ours", "official"),
    [
        ("mec011-service-mgmt.yaml", "MEC011_ServiceMgmtAPI.yaml"),
        ("mec011-app-support.yaml", "MEC011_AppSupportAPI.yaml"),
    ],
)
def test_our_schemas_keep_every_member_of_the_official_ones(ours: str, official: str) -> None:
    mine = yaml.safe_load((SPECS / ours).read_text())["components"]["schemas"]
    theirs = load(ETSI / official).document["components"]["schemas"]
    shared = sorted(set(mine) & set(theirs))
    assert len(shared) >= 8
    for name in shared:
        missing = set(theirs[name].get("properties", {})) - set(mine[name].get("properties", {}))
        assert not missing, f"{name} lacks {sorted(missing)}"


def test_the_rule_schemas_of_app_support_are_those_of_the_operator_api() -> None:
    support = yaml.safe_load((SPECS / "mec011-app-support.yaml").read_text())
    mgmt = yaml.safe_load((SPECS / "mep-mgmt.yaml").read_text())
    for name in (
        "ProblemDetails",
        "InvalidParam",
        "RuleState",
        "TrafficFilter",
        "TunnelInfo",
        "DestinationInterface",
        "TrafficRule",
        "DnsRule",
    ):
        assert support["components"]["schemas"][name] == mgmt["components"]["schemas"][name], name


def test_reference_check_helper_lists_the_errors() -> None:
    reference_check("mec011-service-mgmt", "/mec_service_mgmt/v1/services", "GET", 200, [])
    with pytest.raises(AssertionError, match=r"'serName' is a required property"):
        reference_check("mec011-service-mgmt", "/services/x", "GET", 200, {"state": "ACTIVE"})


@pytest.mark.parametrize("path", sorted(ETSI.glob("*.yaml")), ids=lambda p: p.name)
def test_no_etsi_reference_schema_is_closed(path: Path) -> None:
    # So a response carrying later-version members (V2.2.1, V3) still fits the V2.1.1 schema.
    assert load(path).closed_schemas() == []
