"""The reconciliation service (issue 15) checked against the W3C Reconciliation Service API, version 0.2: its
manifest, result batches, suggest and flyout answers validated by JSON Schemas written here from the
specification's text and schemas (Reconciliation Service API 0.2, sections "Service Manifest", "Reconciliation
Query Responses", "Suggest Responses", "Flyout Services"); the queries the tests send are checked against the
query batch schema too. The build's resolution reconciles misprints, short names and dual names with a match."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from flask import Flask
from flask.testing import FlaskClient

from makerkg import resources
from makerkg.config import load
from makerkg.link.reference import load_reference
from makerkg.names import MAX_NAME
from makerkg.pipeline import build
from makerkg.synth import synthesise
from makerkg.web import create_app
from makerkg.web.catalog import get_catalog
from makerkg.web.engine import get_engine

BASE = "https://w3id.org/makerkg/"

# --- the specification's shapes, as JSON Schema ------------------------------------------------------------------

TYPE = {
    "type": "object",
    "required": ["id", "name"],
    "properties": {"id": {"type": "string"}, "name": {"type": "string"}},
}
TEMPLATE = {"type": "string", "pattern": r".*\{\{id\}\}.*"}
SUGGEST_SERVICE = {
    "type": "object",
    "properties": {
        "service_url": {"type": "string"},
        "service_path": {"type": "string"},
        "flyout_service_url": {"type": "string"},
        "flyout_service_path": {"type": "string", "pattern": r".*\$\{id\}.*"},
    },
}
MANIFEST = {
    "type": "object",
    "required": ["versions", "name", "identifierSpace", "schemaSpace"],
    "properties": {
        "versions": {"type": "array", "items": {"type": "string"}, "contains": {"enum": ["0.2"]}},
        "name": {"type": "string"},
        "identifierSpace": {"type": "string"},
        "schemaSpace": {"type": "string"},
        "documentation": {"type": "string"},
        "serviceVersion": {"type": "string"},
        "batchSize": {"type": "integer", "minimum": 1},
        "view": {"type": "object", "required": ["url"], "properties": {"url": TEMPLATE}},
        "defaultTypes": {"type": "array", "items": TYPE, "uniqueItems": True},
        "preview": {
            "type": "object",
            "required": ["url", "width", "height"],
            "properties": {"url": TEMPLATE, "width": {"type": "integer"}, "height": {"type": "integer"}},
        },
        "suggest": {
            "type": "object",
            "properties": {"entity": SUGGEST_SERVICE, "property": SUGGEST_SERVICE, "type": SUGGEST_SERVICE},
        },
    },
}
PROPERTY_VALUE = {
    "oneOf": [
        {"type": "string"},
        {"type": "number"},
        {"type": "boolean"},
        {"type": "object", "required": ["id"], "properties": {"id": {"type": "string"}, "name": {"type": "string"}}},
    ]
}
QUERY_BATCH = {
    "type": "object",
    "additionalProperties": {
        "type": "object",
        "properties": {
            "query": {"type": "string"},
            "type": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
            "limit": {"type": "number"},
            "properties": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["pid", "v"],
                    "properties": {
                        "pid": {"type": "string"},
                        "v": {"oneOf": [PROPERTY_VALUE, {"type": "array", "items": PROPERTY_VALUE}]},
                    },
                },
            },
            "type_strict": {"enum": ["any", "should", "all"]},
        },
        "anyOf": [{"required": ["query"]}, {"required": ["properties"], "properties": {"properties": {"minItems": 1}}}],
        "additionalProperties": False,
    },
}
CANDIDATE = {
    "type": "object",
    "required": ["id", "name", "score"],
    "properties": {
        "id": {"type": "string", "minLength": 1},
        "name": {"type": "string", "minLength": 1},
        "description": {"type": "string"},
        "score": {"type": "number"},
        "match": {"type": "boolean"},
        "features": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"id": {"type": "string"}, "value": {"oneOf": [{"type": "boolean"}, {"type": "number"}]}},
            },
        },
        "type": {"type": "array", "items": {"oneOf": [TYPE | {"required": ["id"]}, {"type": "string"}]}},
    },
}
RESULT_BATCH = {
    "type": "object",
    "additionalProperties": {
        "type": "object",
        "required": ["result"],
        "properties": {"result": {"type": "array", "items": CANDIDATE}},
    },
}
SUGGEST_ENTITIES = {
    "type": "object",
    "required": ["result"],
    "properties": {
        "result": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["id", "name"],
                "properties": {
                    "id": {"type": "string"},
                    "name": {"type": "string"},
                    "description": {"type": "string"},
                    "notable": {"type": "array", "items": {"oneOf": [TYPE, {"type": "string"}]}},
                },
            },
        }
    },
}
SUGGEST_OTHERS = {
    "type": "object",
    "required": ["result"],
    "properties": {"result": {"type": "array", "items": TYPE}},
}
FLYOUT = {
    "type": "object",
    "required": ["id", "html"],
    "properties": {"id": {"type": "string"}, "html": {"type": "string"}},
}


def run(client: FlaskClient, batch: dict[str, Any], method: str = "POST") -> dict[str, Any]:
    """Send a batch (checked against the query batch schema first) and check the answer's schema."""
    jsonschema.validate(batch, QUERY_BATCH)
    if method == "POST":
        response = client.post("/reconcile", data={"queries": json.dumps(batch, ensure_ascii=False)})
    else:
        response = client.get("/reconcile", query_string={"queries": json.dumps(batch, ensure_ascii=False)})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.content_type == "application/json; charset=utf-8"
    answer: dict[str, Any] = response.get_json()
    jsonschema.validate(answer, RESULT_BATCH)
    assert set(answer) == set(batch)
    for result in answer.values():
        scores = [c["score"] for c in result["result"]]
        assert scores == sorted(scores, reverse=True)  # "SHOULD be sorted by decreasing score"
    return answer


def one(client: FlaskClient, query: dict[str, Any]) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = run(client, {"q0": query})["q0"]["result"]
    return result


def test_the_manifest_answers_a_get_without_parameters(client: FlaskClient) -> None:
    response = client.get("/reconcile")
    assert response.status_code == 200
    manifest = response.get_json()
    jsonschema.validate(manifest, MANIFEST)
    assert manifest["versions"] == ["0.1", "0.2"]
    assert manifest["identifierSpace"] == BASE and manifest["schemaSpace"] == "https://w3id.org/makerkg/ontology#"
    assert [t["id"] for t in manifest["defaultTypes"]] == ["organization", "place", "track", "contest"]
    assert manifest["view"]["url"] == "http://localhost/{{id}}"
    assert manifest["preview"]["url"] == "http://localhost/reconcile/preview?id={{id}}"
    assert manifest["suggest"]["entity"] == {
        "service_url": "http://localhost/reconcile",
        "service_path": "/suggest/entity",
        "flyout_service_path": "/suggest/entity/flyout?id=${id}",
    }
    assert response.headers["Access-Control-Allow-Origin"] == "*"  # CORS, which 0.2 makes mandatory


def test_the_view_template_leads_to_each_candidate_s_page(client: FlaskClient) -> None:
    template = client.get("/reconcile").get_json()["view"]["url"]
    for candidate in one(client, {"query": "江苏"})[:5]:
        url = template.replace("{{id}}", candidate["id"]).removeprefix("http://localhost")
        assert client.get(url, headers={"Accept": "text/html"}).status_code == 200, url
        assert BASE + candidate["id"] in client.get(url + ".nt").get_data(as_text=True)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"query": "山东省工业和信息厅", "type": "organization"}, "org/sd-gxt"),  # misprint, plan-11.txt line 67
        ({"query": "广东省工业和信息厅"}, "org/gd-gxt"),  # misprint, plan-11.txt lines 68, 69
        ({"query": "工信部", "type": "organization"}, "org/miit"),  # short name
        ({"query": "杭州", "type": "place"}, "place/330100"),  # short name
        ({"query": "杭州", "type": ["place", "organization"]}, "place/330100"),
        ({"query": "工业和信息化部网络安全产业发展中心(工业和信息化部信息中心)"}, "org/miit-nisc"),  # half-width
        ({"query": "工业和信息化部网络安全产业发展中心（工业和信息化部信息中心）"}, "org/miit-nisc"),  # as printed
        ({"query": "工业和信息化部信息中心(工业和信息化部网络安全产业发展中心)"}, "org/miit-nisc"),  # the names swapped
        ({"query": "浙江省杭州市", "type": "place"}, "place/330100"),
        ({"query": "浙江杭州", "type": "place"}, "place/330100"),  # read as a chain of places
        ({"query": "Jiangsu", "type": "place"}, "place/320000"),
        ({"query": "320000", "type": "place"}, "place/320000"),
        ({"query": "org/miit"}, "org/miit"),  # an id
        ({"query": BASE + "track/visual-intelligence"}, "track/visual-intelligence"),  # an IRI
        ({"query": "视觉智能", "type": "track"}, "track/visual-intelligence"),
        ({"query": "第十一届“创客中国”江苏省中小企业创新创业大赛", "type": "contest"}, "edition/11/regional/320000"),
    ],
)
def test_names_the_build_resolves_reconcile_with_a_match(
    client: FlaskClient, query: dict[str, Any], expected: str
) -> None:
    candidates = one(client, query)
    assert candidates[0]["id"] == expected and candidates[0]["match"] is True and candidates[0]["score"] == 100
    assert [c["id"] for c in candidates if c["match"]] == [expected]
    assert {"id": "name_exact", "value": True} in candidates[0]["features"]


@pytest.mark.parametrize(
    ("query", "described", "settled"),
    [
        ("朝阳", "place/110105", "北京市朝阳区"),
        ("朝阳区", "place/110105", "北京朝阳区"),
        ("长沙", "place/430100", "长沙市"),
    ],
)
def test_a_name_that_names_places_the_graph_lacks_is_no_match(
    client: FlaskClient, query: str, described: str, settled: str
) -> None:
    """朝阳 names four divisions by the build's rules, and the linker would take none of them; the graph describes
    only Beijing's 朝阳区, which is the best candidate but not a match (it was, and OpenRefine takes a match). A form
    that names one place is a match."""
    candidates = one(client, {"query": query, "type": "place"})
    assert candidates[0]["id"] == described and candidates[0]["score"] == 100
    assert not any(c["match"] for c in candidates)
    first = one(client, {"query": settled, "type": "place"})[0]
    assert first["id"] == described and first["match"] is True
    # a place as ambiguous as the name settles nothing (it matched: 朝阳 lies in 朝阳, the one the graph holds)
    itself = one(client, {"query": query, "type": "place", "properties": [{"pid": "place", "v": query}]})
    assert itself[0]["id"] == described and not any(c["match"] for c in itself)


def test_an_unknown_name_gets_ranked_candidates_without_a_match(client: FlaskClient) -> None:
    candidates = one(client, {"query": "江苏省工信厅", "type": "organization", "limit": 3})
    assert [c["id"] for c in candidates] == ["org/js-gxt", "org/jx-gxt", "org/hl-gxt"]  # 江苏, 江西, 黑龙江 …厅
    assert not any(c["match"] for c in candidates) and all(c["score"] < 100 for c in candidates)
    assert candidates[0]["description"] == "provincial government department; of 江苏省; edition 8"
    assert candidates[0]["type"] == [{"id": "organization", "name": "Organization (主办、承办单位)"}]


def test_nothing_alike_gets_no_candidates(client: FlaskClient) -> None:
    assert one(client, {"query": "Völkerbund", "type": "organization"}) == []


def test_properties_narrow_the_candidates(client: FlaskClient) -> None:
    outside = one(client, {"query": "杭州", "type": "place", "properties": [{"pid": "place", "v": "江苏"}]})
    assert [(c["id"], c["match"]) for c in outside] == [("place/320500", False)]  # only 苏州 looks alike in 江苏
    inside = one(client, {"query": "杭州", "type": "place", "properties": [{"pid": "place", "v": "浙江"}]})
    assert inside[0]["id"] == "place/330100" and inside[0]["match"]
    by_id = one(client, {"query": "杭州", "properties": [{"pid": "place", "v": {"id": "place/330000"}}]})
    assert by_id[0]["id"] == "place/330100" and by_id[0]["match"]
    # an organization: where its government is, or where its contests are held
    zhejiang = one(
        client, {"query": "经济和信息化厅", "type": "organization", "properties": [{"pid": "place", "v": "330000"}]}
    )
    # 宁波's bureau is of a city in 浙江; the ministry's centre leads the thematic contests held in 杭州
    assert [c["id"] for c in zhejiang] == ["org/zj-jxt", "org/ningbo-jxj", "org/miit-nisc"]
    assert not any(c["match"] for c in zhejiang)
    track = {"query": "增材制造", "type": "track"}
    in_8 = one(client, {**track, "properties": [{"pid": "edition", "v": 8}]})  # 增材制造: only in the 11th plan
    assert [(c["id"], c["match"]) for c in in_8] == [("track/biomanufacturing", False)]  # 生物制造 looks alike
    assert one(client, {**track, "properties": [{"pid": "edition", "v": "11"}]})[0]["match"]
    assert one(client, {"query": "工信部", "properties": [{"pid": "kind", "v": "ministry"}]})[0]["match"]
    institutions = one(client, {"query": "工信部", "properties": [{"pid": "kind", "v": ["public institution"]}]})
    assert [(c["id"], c["match"]) for c in institutions] == [("org/miit-nisc", False)]  # the ministry's own centre


def test_a_query_of_properties_alone_lists_what_has_them(client: FlaskClient) -> None:
    ministries = one(client, {"type": "organization", "properties": [{"pid": "kind", "v": "部委"}]})
    assert sorted(c["id"] for c in ministries) == ["org/miit", "org/mof"] and not any(c["match"] for c in ministries)


def test_a_batch_answers_each_query_and_get_answers_as_post(client: FlaskClient) -> None:
    batch = {"a": {"query": "工信部"}, "b": {"query": "杭州", "limit": 1}, "c": {"query": "江苏省工信厅"}}
    posted, got = run(client, batch), run(client, batch, method="GET")
    assert posted == got
    assert [r["result"][0]["id"] for r in posted.values()] == ["org/miit", "place/330100", "org/js-gxt"]
    assert len(posted["b"]["result"]) == 1


def test_jsonp_wraps_the_answer_for_older_clients(client: FlaskClient) -> None:
    response = client.get("/reconcile?callback=jQuery_123")
    assert response.content_type == "text/javascript; charset=utf-8"
    body = response.get_data(as_text=True)
    assert body.startswith("/**/jQuery_123(") and body.endswith(");")
    jsonschema.validate(json.loads(body.removeprefix("/**/jQuery_123(").removesuffix(");")), MANIFEST)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("not json", "queries: not JSON"),
        ("[]", "queries: expected a JSON object of queries keyed by their ids"),
        (
            '{"q0": {"query": "x", "type": "person"}}',
            "queries: q0: unknown type 'person'; types: organization, place, track, contest",
        ),
        (
            '{"q0": {"query": "x", "properties": [{"pid": "colour", "v": "red"}]}}',
            "queries: q0: unknown property 'colour'; properties: place, edition, kind",
        ),
        ('{"q0": {"query": "x", "limit": 0}}', "queries: q0: limit must be a positive integer"),
        ('{"q0": {"type": "place"}}', "queries: q0: a query or properties are required"),
        ('{"q0": {"query": "x", "misnamed": 1}}', "queries: q0: unknown field 'misnamed'"),
        (
            '{"q0": {"query": "x", "properties": [{"pid": "edition", "v": "eleventh"}]}}',
            "queries: q0: an edition is an ordinal",
        ),
    ],
)
def test_a_bad_batch_is_a_400_naming_the_query(client: FlaskClient, data: str, message: str) -> None:
    response = client.post("/reconcile", data={"queries": data}, headers={"Accept": "application/problem+json"})
    assert response.status_code == 400
    problem = response.get_json()
    assert problem["detail"].startswith(message) and problem["parameter"] == "queries"


def test_a_batch_larger_than_batch_size_is_a_413(client: FlaskClient) -> None:
    batch = {f"q{i}": {"query": "杭州"} for i in range(101)}
    response = client.post("/reconcile", data={"queries": json.dumps(batch)})
    assert response.status_code == 413 and "batchSize" in response.get_data(as_text=True)


def test_a_bad_callback_is_refused(client: FlaskClient) -> None:
    assert client.get("/reconcile?callback=alert(1)//").status_code == 400


def test_preview_is_a_small_html_page(client: FlaskClient) -> None:
    response = client.get("/reconcile/preview?id=org/miit")
    assert response.status_code == 200 and response.content_type == "text/html; charset=utf-8"
    html = response.get_data(as_text=True)
    assert "工业和信息化部" in html and "Ministry of Industry and Information Technology" in html
    assert client.get("/reconcile/preview?id=org%2Fmiit").status_code == 200  # encoded as a URI component
    assert client.get("/reconcile/preview?id=org/nobody").status_code == 400


def test_suggest_entities_by_prefix_with_a_flyout(client: FlaskClient) -> None:
    response = client.get("/reconcile/suggest/entity?prefix=工信")
    jsonschema.validate(response.get_json(), SUGGEST_ENTITIES)
    (first, *_) = response.get_json()["result"]
    assert first == {
        "id": "org/miit",
        "name": "工业和信息化部",
        "description": "ministry or commission of the State Council; edition 8",
        "notable": [{"id": "organization", "name": "Organization (主办、承办单位)"}],
    }
    places = client.get("/reconcile/suggest/entity?prefix=江&type=place").get_json()["result"]
    assert places and all(p["id"].startswith("place/") for p in places)
    more = client.get("/reconcile/suggest/entity?prefix=江&type=place&cursor=1").get_json()["result"]
    assert more[0] == places[1]
    flyout = client.get("/reconcile/suggest/entity/flyout?id=org/miit").get_json()
    jsonschema.validate(flyout, FLYOUT)
    assert flyout["id"] == "org/miit" and "<strong>工业和信息化部</strong>" in flyout["html"]


def test_a_bad_suggest_parameter_is_a_400_naming_it(client: FlaskClient) -> None:
    for query, parameter in (("prefix=x&type=person", "type"), ("prefix=x&cursor=-1", "cursor")):
        response = client.get(f"/reconcile/suggest/entity?{query}", headers={"Accept": "application/json"})
        assert response.status_code == 400 and response.get_json()["parameter"] == parameter


def test_suggest_types_and_properties(client: FlaskClient) -> None:
    types = client.get("/reconcile/suggest/type?prefix=pl").get_json()
    jsonschema.validate(types, SUGGEST_OTHERS)
    assert [t["id"] for t in types["result"]] == ["place"]
    properties = client.get("/reconcile/suggest/property?prefix=").get_json()
    jsonschema.validate(properties, SUGGEST_OTHERS)
    assert [p["id"] for p in properties["result"]] == ["place", "edition", "kind"]


def test_the_try_page_names_the_service(client: FlaskClient) -> None:
    html = client.get("/reconcile/try").get_data(as_text=True)
    assert 'id="service-url">http://localhost/reconcile</code>' in html


# --- names several resources bear: synthetic editions (makerkg synth) print 朝阳, which the build never guesses ----


@pytest.fixture(scope="module")
def synthetic_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FlaskClient]:
    sources = tmp_path_factory.mktemp("synth-sources")
    synthesise(load_reference(resources.reference_dir()), 2, sources, thematic=6, seed=14)
    out: Path = tmp_path_factory.mktemp("synth-out")
    build(load(env={}, out=out, sources=sources))
    application: Flask = create_app(load(env={}, out=out))
    yield application.test_client()
    application.extensions["makerkg"].close()


def test_a_name_several_places_bear_is_ambiguous_until_a_property_settles_it(synthetic_client: FlaskClient) -> None:
    both = one(synthetic_client, {"query": "朝阳区", "type": "place"})
    exact = [c["id"] for c in both if c["score"] == 100]
    assert exact == ["place/110105", "place/220104"] and not any(c["match"] for c in both)  # 北京市 and 长春市
    beijing = one(synthetic_client, {"query": "朝阳区", "type": "place", "properties": [{"pid": "place", "v": "北京"}]})
    assert beijing[0]["id"] == "place/110105" and beijing[0]["match"]
    jilin = one(synthetic_client, {"query": "朝阳区", "type": "place", "properties": [{"pid": "place", "v": "吉林省"}]})
    assert jilin[0]["id"] == "place/220104" and jilin[0]["match"]


# --- hostile input (attack round 2, findings 1, 5 and 7) ---------------------------------------------------------
# every text is refused with a 400 naming the parameter, and the query and field, when it is longer than a name can
# be (as sent or once normalised), not valid Unicode, nested too deeply or a number JSON does not have; never a 500,
# never an answer computed at a cost that grows with the square of the text

FDFA = "\ufdfa"  # one character that NFKC makes 18 (15 without their spaces)
DEEP = "[" * 45_000 + "]" * 45_000
TOO_LONG = f"longer than {MAX_NAME} characters"
NORMALISED = f"longer than {MAX_NAME} characters once normalised (NFKC)"
PROBLEM = {"Accept": "application/problem+json"}


def _query(**fields: object) -> str:
    return json.dumps({"q": {"query": "杭州", **fields}})


def _value(pid: str, v: object) -> str:
    return json.dumps({"q": {"query": "杭州", "properties": [{"pid": pid, "v": v}]}})


def _post(client: FlaskClient, queries: str) -> tuple[int, dict[str, str]]:
    """POST a batch as a form whose body is raw UTF-8, as the attack sent it (within the body cap)."""
    body = ("queries=" + queries).encode()
    response = client.post("/reconcile", data=body, content_type="application/x-www-form-urlencoded", headers=PROBLEM)
    return response.status_code, response.get_json()


@pytest.mark.parametrize(
    ("queries", "message"),
    [
        ('{"q": {"query": "a", "limit": NaN}}', "queries: not JSON (NaN is not a JSON number)"),
        ('{"q": {"query": "a", "limit": Infinity}}', "queries: not JSON (Infinity is not a JSON number)"),
        ('{"q": {"query": "a", "limit": -Infinity}}', "queries: not JSON (-Infinity is not a JSON number)"),
        ('{"q": {"query": "a", "limit": 1e999}}', "queries: q: limit must be a positive integer"),
        ('{"q": {"query": "a", "limit": 1e-999}}', "queries: q: limit must be a positive integer"),
        (_value("edition", "9" * 5000), f"queries: q: edition value {TOO_LONG}"),
        ('{"q": {"query": "a", "properties": [{"pid": "edition", "v": ' + "9" * 4000 + "}]}}", "queries: q: edition"),
        (_value("edition", "9" * 7), "queries: q: an edition is an ordinal such as 11, found '9999999'"),
        ('{"\\ud800": {"query": "a"}}', "queries: a query id is not valid Unicode (a lone surrogate at character 1)"),
        ('{"q": {"query": "x\\udfff"}}', "queries: q: query is not valid Unicode (a lone surrogate at character 2)"),
        (_value("place", "\ud800"), "queries: q: place value is not valid Unicode"),
        (_value("place", {"id": "place/330100", "name": "\udc00"}), "queries: q: place value name is not valid"),
        ("queries", "queries: not JSON"),
        (DEEP, "queries: not JSON this service reads (nested too deeply)"),
        ('{"q": {"query": "a", "properties": [{"pid": "place", "v": ' + DEEP + "}]}}", "queries: not JSON this"),
        (_value("place", [[["浙江"]]]), "queries: q: place value must be a string, a number or an object with an id"),
        (_value("kind", {"id": {"id": "ministry"}}), "queries: q: kind value must be a string, a number or an object"),
        (_query(query="a" * (MAX_NAME + 1)), f"queries: q: query {TOO_LONG}"),
        (_query(query=FDFA * 20), f"queries: q: query {NORMALISED}"),
        (_value("place", FDFA * 20), f"queries: q: place value {NORMALISED}"),
        (_value("kind", {"id": "x" * 300}), f"queries: q: kind value {TOO_LONG}"),
        (_value("place", ["浙江"] * 21), "queries: q: 21 property values; at most 20"),
        (_query(type="place" * 100), f"queries: q: type {TOO_LONG}"),
        (json.dumps({"q" * 300: {"query": "a"}}), f"queries: a query id {TOO_LONG}"),
    ],
)
def test_a_hostile_batch_is_a_400_naming_the_query_and_field(client: FlaskClient, queries: str, message: str) -> None:
    """Attack round 2, finding 5: NaN, Infinity, 1e999, 5,000 digits, lone surrogates and deep nesting were 500s."""
    status, problem = _post(client, queries)
    assert status == 400
    assert problem["detail"].startswith(message) and problem["parameter"] == "queries"
    assert "\n" not in problem["detail"]


@pytest.mark.parametrize("name", [FDFA * 33_000, "a" * 99_000])
def test_the_longest_name_under_the_body_cap_is_refused_before_any_matching(client: FlaskClient, name: str) -> None:
    """Attack round 2, finding 1: 33,000 x U+FDFA (99 kB, 594,000 characters once normalised) cost about 200
    CPU-seconds in a web thread, and 'a' x 99,000 about 15; both are refused as they are read."""
    status, problem = _post(client, json.dumps({"q0": {"query": name}}, ensure_ascii=False))
    assert status == 400 and problem["detail"] == f"queries: q0: query {TOO_LONG}"


def test_the_matching_is_bounded_whatever_the_text(app: Flask) -> None:
    """A text far longer than any name names nothing, and is not compared prefix by prefix (the chain of places)
    nor character by character (similar names) with every name of the graph."""
    with app.app_context():
        catalog = get_catalog(get_engine().snapshot())
        for text in (FDFA * 33_000, "浙江省" * 30_000, "a" * 99_000):
            assert catalog.exact(text) == [] and catalog.search(text) == [] and catalog.similar(text) == []
        assert [h.entity.path for h in catalog.exact("浙江省杭州市")] == ["place/330100"]


@pytest.mark.parametrize(
    ("path", "parameter", "message"),
    [
        ("/reconcile/suggest/entity?prefix=a&cursor=" + "9" * 5000, "cursor", "cursor: expected a number of"),
        ("/reconcile/suggest/entity?prefix=a&cursor=1e999", "cursor", "cursor: expected a number of suggestions"),
        ("/reconcile/suggest/entity?prefix=" + "%EF%B7%BA" * 20, "prefix", f"prefix: {NORMALISED}"),
        ("/reconcile/suggest/entity?prefix=" + "a" * 201, "prefix", f"prefix: {TOO_LONG}"),
        ("/reconcile/suggest/type?prefix=" + "%EF%B7%BA" * 20, "prefix", f"prefix: {NORMALISED}"),
        ("/reconcile/suggest/property?prefix=a&cursor=NaN", "cursor", "cursor: expected a number of suggestions"),
        ("/search?format=json&q=" + "%EF%B7%BA" * 20, "q", f"q: {NORMALISED}"),
        ("/search?format=json&q=" + "a" * 201, "q", f"q: {TOO_LONG}"),
        ("/search?format=json&q=" + "%EF%B7%BA" * 201, "q", f"q: {TOO_LONG}"),
    ],
)
def test_a_hostile_parameter_is_a_400_naming_it(client: FlaskClient, path: str, parameter: str, message: str) -> None:
    """Attack round 2, finding 5: a cursor of 5,000 digits was a 500."""
    response = client.get(path, headers=PROBLEM)
    assert response.status_code == 400
    problem = response.get_json()
    assert problem["detail"].startswith(message) and problem["parameter"] == parameter


@pytest.mark.parametrize(
    "path",
    [
        "/reconcile/preview?id=<script>alert(1)</script>",
        "/reconcile/suggest/entity/flyout?id=<script>alert(1)</script>",
        "/reconcile/suggest/entity?prefix=a&type=<script>",
        "/search?q=a&kind=<script>",
        "/org/?kind=<script>",
        "/api/queries/<script>",
    ],
)
def test_an_error_quoting_the_request_is_never_html(client: FlaskClient, path: str) -> None:
    """Attack round 2, finding 7: errors quote the request; even a browser asking for HTML gets them as text that
    it is told not to sniff."""
    response = client.get(path, headers={"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"})
    assert response.status_code in (400, 404)
    assert response.mimetype == "text/plain" and response.headers["X-Content-Type-Options"] == "nosniff"
    assert "<script>" in response.get_data(as_text=True)


@pytest.mark.parametrize("path", ["/reconcile", "/reconcile/try"])
def test_links_built_on_the_host_say_so_and_public_url_replaces_it(built: Any, path: str) -> None:
    """Found by an outside attack: the manifest and the try page built their links on the Host header without
    Vary: Host, so a shared cache in front could hand a forged preview URL to every OpenRefine user."""
    out = built.build.path.parent.parent
    app = create_app(load(env={}, out=out))
    try:
        answer = app.test_client().get(path, headers={"Host": "evil.example"})
        assert answer.status_code == 200 and b"evil.example" in answer.get_data()
        assert "Host" in answer.headers["Vary"]
    finally:
        app.extensions["makerkg"].close()
    app = create_app(load(env={}, out=out, public_url="https://kg.example.org/"))
    try:
        answer = app.test_client().get(path, headers={"Host": "evil.example"})
        assert answer.status_code == 200 and b"evil.example" not in answer.get_data()
        assert b"https://kg.example.org/reconcile" in answer.get_data()
        assert "Host" not in answer.headers.get("Vary", "")
    finally:
        app.extensions["makerkg"].close()
