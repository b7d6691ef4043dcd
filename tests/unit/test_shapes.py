"""Tests of the makerkg ontology (ontology/makerkg.ttl) and SHACL shapes (ontology/shapes.ttl).

The broken-graph table below starts from tests/fixtures/shapes/valid.ttl, removes and adds a few triples
(Turtle snippets, resolved against the same base and prefixes as the fixture) and expects validation to
fail with an exact sh:resultMessage on an exact focus node. Validation runs the way the pipeline does:
pyshacl with inference="none", advanced=False and no ontology graph (classes are asserted in the data).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pyshacl
import pytest
from rdflib import RDF, RDFS, Graph, Literal, Namespace, URIRef
from rdflib.namespace import OWL, SH
from rdflib.term import Node

from makerkg.config import SHACL_ENGINES
from makerkg.validate import REFERENCE_ENGINE, check

ROOT = Path(__file__).resolve().parents[2]
ONTOLOGY_TTL = ROOT / "ontology" / "makerkg.ttl"
SHAPES_TTL = ROOT / "ontology" / "shapes.ttl"
VALID_TTL = ROOT / "tests" / "fixtures" / "shapes" / "valid.ttl"

BASE = "https://w3id.org/makerkg/"
ONTOLOGY_IRI = URIRef("https://w3id.org/makerkg/ontology")
MKG = Namespace("https://w3id.org/makerkg/ontology#")
DCTERMS = Namespace("http://purl.org/dc/terms/")

PREAMBLE = f"""
@base <{BASE}> .
@prefix mkg:     <https://w3id.org/makerkg/ontology#> .
@prefix schema:  <https://schema.org/> .
@prefix org:     <http://www.w3.org/ns/org#> .
@prefix prov:    <http://www.w3.org/ns/prov#> .
@prefix skos:    <http://www.w3.org/2004/02/skos/core#> .
@prefix dcterms: <http://purl.org/dc/terms/> .
@prefix owl:     <http://www.w3.org/2002/07/owl#> .
@prefix rdfs:    <http://www.w3.org/2000/01/rdf-schema#> .
@prefix xsd:     <http://www.w3.org/2001/XMLSchema#> .
"""

# Every mkg: term docs/model.md names (classes, individuals, properties).
MODEL_CLASSES = {
    "ContestSeries",
    "Edition",
    "Contest",
    "ContestKind",
    "OrganizerRole",
    "DeclaredCount",
    "SourceExcerpt",
    "ProvinceLevelDivision",
    "PrefectureLevelDivision",
    "SeparatelyPlannedCity",
    "CountyLevelDivision",
    "StateLevelNewArea",
    "ProductionConstructionCorps",
    "Renaming",
    "Succession",
}
MODEL_INDIVIDUALS = {
    "NationalFinal",
    "RegionalContest",
    "ThematicContest",
    "OverseasContest",
    "ContestKindScheme",
    "LeadHost",
    "Host",
    "Undertaker",
}
MODEL_OBJECT_PROPERTIES = {
    "declaredCount",
    "contestKind",
    "track",
    "leadOrganizer",
    "undertaker",
    "registrationPage",
    "jurisdiction",
    "candidate",
}
MODEL_DATATYPE_PROPERTIES = {
    "ordinal",
    "year",
    "count",
    "rowNumber",
    "printedPlace",
    "printedName",
    "position",
    "printedRegistration",
    "firstLine",
    "lastLine",
    "divisionCode",
    "lastListed",
    "unresolved",
}


def run_validation(data: Graph, shapes: Graph) -> tuple[bool, Graph]:
    conforms, results, _text = pyshacl.validate(
        data,
        shacl_graph=shapes,
        ont_graph=None,
        inference="none",
        advanced=False,
        abort_on_first=False,
        allow_warnings=False,
    )
    return conforms, results


def parse_snippet(snippet: str) -> Graph:
    return Graph().parse(data=PREAMBLE + snippet, format="turtle")


def languages(graph: Graph, subject: Node, prop: URIRef) -> list[str]:
    """The language tags of subject's prop values, sorted ("" for a literal without one, "-" for a non-literal)."""
    return sorted((o.language or "") if isinstance(o, Literal) else "-" for o in graph.objects(subject, prop))


def mkg_terms(graph: Graph) -> set[URIRef]:
    return {s for s in set(graph.subjects()) if isinstance(s, URIRef) and s.startswith(str(MKG))}


@pytest.fixture(scope="module")
def ontology() -> Graph:
    return Graph().parse(ONTOLOGY_TTL)


@pytest.fixture(scope="module")
def shapes() -> Graph:
    return Graph().parse(SHAPES_TTL)


@pytest.fixture(scope="module")
def valid() -> Graph:
    return Graph().parse(VALID_TTL)


# --------------------------------------------------------------------------------------------------
# Ontology
# --------------------------------------------------------------------------------------------------


def test_ontology_header(ontology: Graph) -> None:
    assert (ONTOLOGY_IRI, RDF.type, OWL.Ontology) in ontology
    assert (ONTOLOGY_IRI, OWL.versionIRI, URIRef("https://w3id.org/makerkg/ontology/1.0.0")) in ontology
    assert (ONTOLOGY_IRI, OWL.versionInfo, Literal("1.0.0")) in ontology
    assert (ONTOLOGY_IRI, DCTERMS.license, URIRef("https://creativecommons.org/licenses/by/4.0/")) in ontology
    assert ontology.value(ONTOLOGY_IRI, DCTERMS.created) is not None
    for prop in (DCTERMS.title, DCTERMS.description):
        assert languages(ontology, ONTOLOGY_IRI, prop) == ["en", "zh"], prop


def test_ontology_declares_every_model_term(ontology: Graph) -> None:
    defined = {str(t)[len(str(MKG)) :] for t in mkg_terms(ontology)}
    expected = MODEL_CLASSES | MODEL_INDIVIDUALS | MODEL_OBJECT_PROPERTIES | MODEL_DATATYPE_PROPERTIES
    assert defined == expected
    for name in MODEL_CLASSES:
        assert (MKG[name], RDF.type, OWL.Class) in ontology, name
    for name in MODEL_OBJECT_PROPERTIES:
        assert (MKG[name], RDF.type, OWL.ObjectProperty) in ontology, name
        assert (MKG[name], RDF.type, OWL.DatatypeProperty) not in ontology, name
    for name in MODEL_DATATYPE_PROPERTIES:
        assert (MKG[name], RDF.type, OWL.DatatypeProperty) in ontology, name
        assert (MKG[name], RDF.type, OWL.ObjectProperty) not in ontology, name


@pytest.mark.parametrize("prop", [RDFS.label, RDFS.comment])
def test_every_term_has_english_and_chinese_text(ontology: Graph, prop: URIRef) -> None:
    missing = []
    for term in sorted(mkg_terms(ontology)):
        langs = languages(ontology, term, prop)
        if langs != ["en", "zh"]:
            missing.append(f"{term}: {langs}")
        if (term, RDFS.isDefinedBy, ONTOLOGY_IRI) not in ontology:
            missing.append(f"{term}: no rdfs:isDefinedBy")
    assert not missing, missing


def test_axioms(ontology: Graph) -> None:
    schema = Namespace("https://schema.org/")
    prov = Namespace("http://www.w3.org/ns/prov#")
    skos = Namespace("http://www.w3.org/2004/02/skos/core#")
    expected_subclass = [
        (MKG.ContestSeries, schema.EventSeries),
        (MKG.Edition, schema.Event),
        (MKG.Contest, schema.Event),
        (MKG.Contest, prov.Activity),
        (MKG.ContestKind, skos.Concept),
        (MKG.OrganizerRole, prov.Role),
        (MKG.SourceExcerpt, prov.Entity),
        (MKG.SeparatelyPlannedCity, MKG.PrefectureLevelDivision),
    ]
    for name in (
        "ProvinceLevelDivision",
        "PrefectureLevelDivision",
        "CountyLevelDivision",
        "StateLevelNewArea",
        "ProductionConstructionCorps",
    ):
        expected_subclass.append((MKG[name], schema.AdministrativeArea))
    for sub, sup in expected_subclass:
        assert (sub, RDFS.subClassOf, sup) in ontology, (sub, sup)
    assert (MKG.track, RDFS.subPropertyOf, DCTERMS.subject) in ontology
    assert (MKG.leadOrganizer, RDFS.subPropertyOf, schema.organizer) in ontology
    assert (MKG.registrationPage, RDFS.subPropertyOf, schema.url) in ontology
    for kind in ("NationalFinal", "RegionalContest", "ThematicContest", "OverseasContest"):
        assert (MKG[kind], RDF.type, MKG.ContestKind) in ontology
        assert (MKG[kind], skos.inScheme, MKG.ContestKindScheme) in ontology
        assert languages(ontology, MKG[kind], skos.prefLabel) == ["en", "zh"]
    for role in ("LeadHost", "Host", "Undertaker"):
        assert (MKG[role], RDF.type, MKG.OrganizerRole) in ontology
    assert (MKG.ContestKindScheme, RDF.type, skos.ConceptScheme) in ontology


def test_shapes_and_fixture_use_only_defined_mkg_terms(ontology: Graph, shapes: Graph, valid: Graph) -> None:
    defined = mkg_terms(ontology)
    for graph in (shapes, valid):
        used = {t for triple in graph for t in triple if isinstance(t, URIRef) and t.startswith(str(MKG))}
        assert used <= defined, used - defined
    sparql = " ".join(str(q) for q in shapes.objects(None, SH.select))
    used_in_sparql = {MKG[name] for name in re.findall(r"mkg:(\w+)", sparql)}
    assert used_in_sparql <= defined, used_in_sparql - defined


# --------------------------------------------------------------------------------------------------
# Shapes: the valid fixture
# --------------------------------------------------------------------------------------------------


def test_shapes_graph_is_valid_shacl(valid: Graph, shapes: Graph) -> None:
    # meta_shacl validates the shapes graph against SHACL-SHACL before validating the data.
    conforms, _results, text = pyshacl.validate(
        valid, shacl_graph=shapes, inference="none", advanced=False, meta_shacl=True
    )
    assert conforms, text


def test_every_shape_has_a_message(shapes: Graph) -> None:
    property_shapes = set(shapes.objects(None, SH.property))
    sparql_constraints = set(shapes.objects(None, SH.sparql))
    node_shapes_with_logic = set(shapes.subjects(SH["or"], None))
    assert property_shapes and sparql_constraints and node_shapes_with_logic
    for node in property_shapes | sparql_constraints | node_shapes_with_logic:
        assert languages(shapes, node, SH.message) == ["en"], node


def test_valid_fixture_conforms(valid: Graph, shapes: Graph) -> None:
    conforms, results = run_validation(valid, shapes)
    assert conforms, results.serialize(format="turtle")


def test_an_unresolved_place_without_a_level_conforms(valid: Graph, shapes: Graph) -> None:
    """A printed place the reference data does not settle is a place of unknown level, flagged (issue 14)."""
    graph = broken_graph(
        valid,
        f"{R} schema:location <place/110000> .",
        f"""{R} schema:location <place/u-0123456789ab> .
        <place/u-0123456789ab> a schema:AdministrativeArea ; mkg:unresolved true ; skos:prefLabel "朝阳"@zh ;
            mkg:candidate <place/110000> , <place/330100> .""",
    )
    conforms, results = run_validation(graph, shapes)
    assert conforms, results.serialize(format="turtle")


# --------------------------------------------------------------------------------------------------
# Shapes: broken graphs
# --------------------------------------------------------------------------------------------------

R = "<edition/8/regional/110000>"
T = "<edition/8/thematic/visual-intelligence>"
DOC = "<source/plan-08.txt>"


def case(case_id: str, *, remove: str = "", add: str = "", focus: str, message: str) -> Any:
    return pytest.param(remove, add, focus, message, id=case_id)


CASES = [
    # --- series -----------------------------------------------------------------------------
    case(
        "series-name-without-en",
        remove='<series> schema:name "Maker China SME Innovation and Entrepreneurship Contest"@en .',
        focus="series",
        message="The contest series needs exactly two non-empty schema:name values: one in Chinese (@zh) "
        "and one in English (@en).",
    ),
    case(
        "series-without-editions",
        remove="<series> schema:subEvent <edition/8> .",
        focus="series",
        message="The contest series needs schema:subEvent links to its editions, each a mkg:Edition.",
    ),
    # --- edition ----------------------------------------------------------------------------
    case(
        "edition-name-without-zh",
        remove='<edition/8> schema:name "第八届“创客中国”中小企业创新创业大赛"@zh .',
        add='<edition/8> schema:name "第八届“创客中国”中小企业创新创业大赛" .',
        focus="edition/8",
        message="An edition needs exactly one schema:name: the plan's title without 赛事计划, as a non-empty "
        "Chinese string tagged @zh.",
    ),
    case(
        "edition-ordinal-decimal",
        remove='<edition/8> mkg:ordinal "8"^^xsd:integer .',
        add="<edition/8> mkg:ordinal 8.0 .",
        focus="edition/8",
        message="An edition needs exactly one mkg:ordinal (the N of 第N届), a positive xsd:integer.",
    ),
    case(
        "edition-year-string",
        remove='<edition/8> mkg:year "2023"^^xsd:gYear .',
        add='<edition/8> mkg:year "2023" .',
        focus="edition/8",
        message='An edition needs exactly one mkg:year typed xsd:gYear (e.g. "2023"^^xsd:gYear).',
    ),
    case(
        "edition-without-series",
        remove="<edition/8> schema:superEvent <series> .",
        focus="edition/8",
        message="An edition needs exactly one schema:superEvent: the series, a mkg:ContestSeries.",
    ),
    case(
        "edition-listed-by-another-node",
        add="<series-2> schema:subEvent <edition/8> .",
        focus="edition/8",
        message="The series must list this edition: add <series> schema:subEvent <edition> for its "
        "schema:superEvent, and let no other node list it as a sub-event.",
    ),
    case(
        "edition-sub-event-not-a-contest",
        add="<edition/8> schema:subEvent <place/110000> .",
        focus="edition/8",
        message="An edition needs schema:subEvent links to its contests, each a mkg:Contest.",
    ),
    case(
        "edition-derived-from-excerpt",
        remove=f"<edition/8> prov:wasDerivedFrom {DOC} .",
        add="<edition/8> prov:wasDerivedFrom <source/plan-08.txt#line=16,17> .",
        focus="edition/8",
        message="An edition needs exactly one prov:wasDerivedFrom: its contest plan, a schema:DigitalDocument.",
    ),
    case(
        "edition-declared-count-wrong-class",
        add=f"<edition/8> mkg:declaredCount {R} .",
        focus="edition/8",
        message="Each mkg:declaredCount of an edition must be a mkg:DeclaredCount.",
    ),
    case(
        "declared-2-regional-found-1",
        remove='<edition/8#declared-regional> mkg:count "1"^^xsd:integer .',
        add='<edition/8#declared-regional> mkg:count "2"^^xsd:integer .',
        focus="edition/8",
        message="Edition declares 2 contests of kind https://w3id.org/makerkg/ontology#RegionalContest but has 1.",
    ),
    case(
        "declared-thematic-found-0",
        remove=f"{T} mkg:contestKind mkg:ThematicContest .",
        add=f"{T} mkg:contestKind mkg:OverseasContest .",
        focus="edition/8",
        message="Edition declares 1 contests of kind https://w3id.org/makerkg/ontology#ThematicContest but has 0.",
    ),
    case(
        "lead-role-without-direct-lead-organizer",
        remove=f"{R} mkg:leadOrganizer <org/bj-jxj> .",
        focus="edition/8",
        message="Contest https://w3id.org/makerkg/edition/8/regional/110000: role node "
        "https://w3id.org/makerkg/edition/8/regional/110000#lead-1 names https://w3id.org/makerkg/org/bj-jxj "
        "with prov:hadRole https://w3id.org/makerkg/ontology#LeadHost, but the contest lacks the matching direct "
        "triple (schema:organizer for mkg:LeadHost and mkg:Host, also mkg:leadOrganizer for mkg:LeadHost, "
        "mkg:undertaker for mkg:Undertaker); assert it, as the graph is used without reasoning.",
    ),
    case(
        "undertaker-without-role-node",
        add=f"{T} mkg:undertaker <org/zj-jxt> .",
        focus="edition/8",
        message="Contest https://w3id.org/makerkg/edition/8/thematic/visual-intelligence has mkg:undertaker "
        "https://w3id.org/makerkg/org/zj-jxt but no prov:qualifiedAssociation role node with that prov:agent "
        "and a matching prov:hadRole; add the role node or drop the triple.",
    ),
    # --- declared counts --------------------------------------------------------------------
    case(
        "declared-count-kind-not-a-kind",
        remove="<edition/8#declared-regional> mkg:contestKind mkg:RegionalContest .",
        add="<edition/8#declared-regional> mkg:contestKind mkg:LeadHost .",
        focus="edition/8#declared-regional",
        message="A declared count needs exactly one mkg:contestKind: mkg:NationalFinal, mkg:RegionalContest, "
        "mkg:ThematicContest or mkg:OverseasContest.",
    ),
    case(
        "declared-count-negative",
        remove='<edition/8#declared-thematic> mkg:count "1"^^xsd:integer .',
        add="<edition/8#declared-thematic> mkg:count -1 .",
        focus="edition/8#declared-thematic",
        message="A declared count needs exactly one mkg:count, a non-negative xsd:integer (the N of 共N个).",
    ),
    case(
        "declared-count-derived-from-document",
        remove="<edition/8#declared-thematic> prov:wasDerivedFrom <source/plan-08.txt#line=241,242> .",
        add=f"<edition/8#declared-thematic> prov:wasDerivedFrom {DOC} .",
        focus="edition/8#declared-thematic",
        message="A declared count needs exactly one prov:wasDerivedFrom: the mkg:SourceExcerpt of its section "
        "header line.",
    ),
    case(
        "declared-count-orphan",
        remove="<edition/8> mkg:declaredCount <edition/8#declared-thematic> .",
        focus="edition/8#declared-thematic",
        message="A declared count must be the mkg:declaredCount of exactly one mkg:Edition.",
    ),
    # --- contests ---------------------------------------------------------------------------
    case(
        "contest-name-without-zh",
        remove=f'{R} schema:name "第八届“创客中国”北京市中小企业创新创业大赛"@zh .',
        add=f'{R} schema:name "第八届“创客中国”北京市中小企业创新创业大赛" .',
        focus="edition/8/regional/110000",
        message="A contest needs exactly one schema:name: the name as printed, a non-empty Chinese string tagged @zh.",
    ),
    case(
        "contest-name-tagged-en",
        remove=f'{T} schema:name "第八届“创客中国”视觉智能中小企业创新创业大赛"@zh .',
        add=f'{T} schema:name "8th Maker China Visual Intelligence SME Contest"@en .',
        focus="edition/8/thematic/visual-intelligence",
        message="A contest needs exactly one schema:name: the name as printed, a non-empty Chinese string tagged @zh.",
    ),
    case(
        "contest-name-empty",
        remove=f'{T} schema:name "第八届“创客中国”视觉智能中小企业创新创业大赛"@zh .',
        add=f'{T} schema:name ""@zh .',
        focus="edition/8/thematic/visual-intelligence",
        message="A contest needs exactly one schema:name: the name as printed, a non-empty Chinese string tagged @zh.",
    ),
    case(
        "contest-without-kind",
        remove=f"{R} mkg:contestKind mkg:RegionalContest .",
        focus="edition/8/regional/110000",
        message="A contest needs exactly one mkg:contestKind: mkg:NationalFinal, mkg:RegionalContest, "
        "mkg:ThematicContest or mkg:OverseasContest.",
    ),
    case(
        "contest-super-event-is-series",
        remove=f"{R} schema:superEvent <edition/8> .",
        add=f"{R} schema:superEvent <series> .",
        focus="edition/8/regional/110000",
        message="A contest needs exactly one schema:superEvent: its edition, a mkg:Edition.",
    ),
    case(
        "contest-not-listed-by-edition",
        remove=f"<edition/8> schema:subEvent {R} .",
        focus="edition/8/regional/110000",
        message="The edition must list this contest: add <edition> schema:subEvent <contest> for its "
        "schema:superEvent, and let no other node list it as a sub-event.",
    ),
    case(
        "contest-row-number-zero",
        remove=f'{R} mkg:rowNumber "1"^^xsd:integer .',
        add=f'{R} mkg:rowNumber "0"^^xsd:integer .',
        focus="edition/8/regional/110000",
        message="A contest has at most one mkg:rowNumber (序号), a positive xsd:integer.",
    ),
    case(
        "contest-without-location",
        remove=f"{R} schema:location <place/110000> .",
        focus="edition/8/regional/110000",
        message="A contest needs exactly one schema:location, a schema:AdministrativeArea (the printed place "
        "resolved against data/reference/divisions.csv and places.csv, or flagged mkg:unresolved).",
    ),
    case(
        "contest-two-printed-places",
        add=f'{R} mkg:printedPlace "北京"@zh .',
        focus="edition/8/regional/110000",
        message="A contest needs exactly one mkg:printedPlace: the place cell as printed, a non-empty string "
        "tagged @zh.",
    ),
    case(
        "contest-track-not-a-concept",
        add=f"{R} mkg:track <place/110000> .",
        focus="edition/8/regional/110000",
        message="A contest has at most one mkg:track, a skos:Concept in the tracks scheme.",
    ),
    case(
        "contest-without-organizer",
        remove=f"{R} schema:organizer <org/bj-jxj> .",
        focus="edition/8/regional/110000",
        message="A contest needs at least one schema:organizer (every host, lead or not), each an org:Organization.",
    ),
    case(
        "contest-lead-organizer-not-an-organization",
        add=f"{R} mkg:leadOrganizer <place/110000> .",
        focus="edition/8/regional/110000",
        message="Each mkg:leadOrganizer of a contest must be an org:Organization.",
    ),
    case(
        "contest-undertaker-not-an-organization",
        add=f"{T} mkg:undertaker <track/visual-intelligence> .",
        focus="edition/8/thematic/visual-intelligence",
        message="Each mkg:undertaker of a contest must be an org:Organization.",
    ),
    case(
        "contest-role-node-untyped",
        remove="<edition/8/regional/110000#lead-1> a prov:Association .",
        focus="edition/8/regional/110000",
        message="A contest needs a prov:qualifiedAssociation role node, typed prov:Association, for each "
        "printed organizer name.",
    ),
    case(
        "contest-registration-page-literal",
        remove=f"{R} mkg:registrationPage <http://www.smebj.cn> .",
        add=f'{R} mkg:registrationPage "http://www.smebj.cn" .',
        focus="edition/8/regional/110000",
        message="Each mkg:registrationPage must be an http(s) IRI, not a literal (a printed address without "
        "scheme gets http://).",
    ),
    case(
        "contest-registration-page-not-http",
        remove=f"{R} mkg:registrationPage <http://www.smebj.cn> .",
        add=f"{R} mkg:registrationPage <ftp://www.smebj.cn/> .",
        focus="edition/8/regional/110000",
        message="Each mkg:registrationPage must be an http(s) IRI, not a literal (a printed address without "
        "scheme gets http://).",
    ),
    case(
        "contest-printed-registration-en",
        remove=f'{R} mkg:printedRegistration "www.smebj.cn"@zh .',
        add=f'{R} mkg:printedRegistration "www.smebj.cn"@en .',
        focus="edition/8/regional/110000",
        message="A contest has at most one mkg:printedRegistration: the registration cell as printed, a "
        "non-empty string tagged @zh.",
    ),
    case(
        "contest-without-source-excerpt",
        remove=f"{R} prov:wasDerivedFrom <source/plan-08.txt#line=24,29> .",
        focus="edition/8/regional/110000",
        message="A contest needs exactly one prov:wasDerivedFrom: the mkg:SourceExcerpt of its row's lines.",
    ),
    case(
        "thematic-contest-without-track",
        remove=f"{T} mkg:track <track/visual-intelligence> .",
        focus="edition/8/thematic/visual-intelligence",
        message="A thematic contest (mkg:contestKind mkg:ThematicContest) needs exactly one mkg:track: its "
        "track concept from data/reference/tracks.csv.",
    ),
    # --- organizer role nodes ---------------------------------------------------------------
    case(
        "role-node-without-agent",
        remove="<edition/8/regional/110000#lead-1> prov:agent <org/bj-jxj> .",
        focus="edition/8/regional/110000#lead-1",
        message="An organizer role node needs exactly one prov:agent, an org:Organization.",
    ),
    case(
        "role-node-role-not-a-role",
        remove="<edition/8/regional/110000#lead-1> prov:hadRole mkg:LeadHost .",
        add="<edition/8/regional/110000#lead-1> prov:hadRole mkg:NationalFinal .",
        focus="edition/8/regional/110000#lead-1",
        message="An organizer role node needs exactly one prov:hadRole: mkg:LeadHost, mkg:Host or mkg:Undertaker.",
    ),
    case(
        "role-node-printed-name-empty",
        remove='<edition/8/thematic/visual-intelligence#host-2> mkg:printedName "浙江省经济和信息化厅"@zh .',
        add='<edition/8/thematic/visual-intelligence#host-2> mkg:printedName ""@zh .',
        focus="edition/8/thematic/visual-intelligence#host-2",
        message="An organizer role node needs exactly one mkg:printedName: the name as printed, a non-empty "
        "string tagged @zh.",
    ),
    case(
        "role-node-position-zero",
        remove='<edition/8/thematic/visual-intelligence#host-2> mkg:position "2"^^xsd:integer .',
        add="<edition/8/thematic/visual-intelligence#host-2> mkg:position 0 .",
        focus="edition/8/thematic/visual-intelligence#host-2",
        message="An organizer role node needs exactly one mkg:position (1-based place of the name in its cell), "
        "a positive xsd:integer.",
    ),
    case(
        "role-node-shared-by-two-contests",
        add=f"{T} prov:qualifiedAssociation <edition/8/regional/110000#lead-1> .",
        focus="edition/8/regional/110000#lead-1",
        message="An organizer role node belongs to exactly one contest: mint a separate node per contest.",
    ),
    # --- source documents and excerpts ------------------------------------------------------
    case(
        "document-not-a-prov-entity",
        remove=f"{DOC} a prov:Entity .",
        focus="source/plan-08.txt",
        message="A source document must also be typed prov:Entity.",
    ),
    case(
        "document-title-en",
        remove=f'{DOC} dcterms:title "第八届“创客中国”中小企业创新创业大赛赛事计划"@zh .',
        add=f'{DOC} dcterms:title "Plan of the 8th Maker China contest"@en .',
        focus="source/plan-08.txt",
        message="A source document needs exactly one dcterms:title: the plan's title as printed, a non-empty "
        "string tagged @zh.",
    ),
    case(
        "document-without-source",
        remove=f'{DOC} dcterms:source "Attachment 2 (附件2) of the notice 工信部联企业函〔2023〕191号 on holding '
        'the 8th “创客中国” SME innovation and entrepreneurship contest." .',
        focus="source/plan-08.txt",
        message="A source document needs a dcterms:source saying where it was published (the manifest's source field).",
    ),
    case(
        "document-identifier-uppercase",
        remove=f'{DOC} dcterms:identifier "sha256:1ec3e0a7fe877e4c00be3bfa7db69a48e67e5dd6a3af1519a36482f80119fffa" .',
        add=f'{DOC} dcterms:identifier "sha256:1EC3E0A7FE877E4C00BE3BFA7DB69A48E67E5DD6A3AF1519A36482F80119FFFA" .',
        focus="source/plan-08.txt",
        message='A source document needs exactly one dcterms:identifier "sha256:" followed by the 64 lowercase '
        "hex digits of the file's SHA-256.",
    ),
    case(
        "document-encoding-html",
        remove=f'{DOC} schema:encodingFormat "text/plain" .',
        add=f'{DOC} schema:encodingFormat "text/html" .',
        focus="source/plan-08.txt",
        message='A source document needs exactly one schema:encodingFormat "text/plain".',
    ),
    case(
        "excerpt-iri-off-by-one",
        remove='<source/plan-08.txt#line=24,29> mkg:firstLine "25"^^xsd:integer .',
        add='<source/plan-08.txt#line=24,29> mkg:firstLine "24"^^xsd:integer .',
        focus="source/plan-08.txt",
        message="Source excerpt https://w3id.org/makerkg/source/plan-08.txt#line=24,29 has mkg:firstLine 24 and "
        "mkg:lastLine 29, so its IRI must end in the RFC 5147 fragment #line=23,29.",
    ),
    case(
        "excerpt-without-document",
        remove=f"<source/plan-08.txt#line=16,17> dcterms:isPartOf {DOC} .",
        focus="source/plan-08.txt#line=16,17",
        message="A source excerpt needs exactly one dcterms:isPartOf: its source document, a schema:DigitalDocument.",
    ),
    case(
        "excerpt-first-line-negative",
        remove='<source/plan-08.txt#line=16,17> mkg:firstLine "17"^^xsd:integer .',
        add="<source/plan-08.txt#line=16,17> mkg:firstLine -3 .",
        focus="source/plan-08.txt#line=16,17",
        message="A source excerpt needs exactly one mkg:firstLine (1-based), a positive xsd:integer.",
    ),
    case(
        "excerpt-without-last-line",
        remove='<source/plan-08.txt#line=16,17> mkg:lastLine "17"^^xsd:integer .',
        focus="source/plan-08.txt#line=16,17",
        message="A source excerpt needs exactly one mkg:lastLine (1-based, inclusive), a positive xsd:integer.",
    ),
    case(
        "excerpt-first-line-after-last-line",
        add=f"""<source/plan-08.txt#line=30,29> a mkg:SourceExcerpt ; dcterms:isPartOf {DOC} ;
                mkg:firstLine "31"^^xsd:integer ; mkg:lastLine "29"^^xsd:integer .""",
        focus="source/plan-08.txt#line=30,29",
        message="A source excerpt's mkg:firstLine must not be greater than its mkg:lastLine.",
    ),
    # --- organizations ----------------------------------------------------------------------
    case(
        "organization-not-schema-organization",
        remove="<org/zj-jxt> a schema:Organization .",
        focus="org/zj-jxt",
        message="An organization must be typed both org:Organization and schema:Organization.",
    ),
    case(
        "organization-without-zh-pref-label",
        remove='<org/bj-jxj> skos:prefLabel "北京市经济和信息化局"@zh .',
        focus="org/bj-jxj",
        message="An organization needs a non-empty skos:prefLabel in Chinese (@zh), its canonical name, and at "
        "most one skos:prefLabel per language.",
    ),
    case(
        "organization-two-zh-pref-labels",
        add='<org/bj-jxj> skos:prefLabel "北京市经信局"@zh .',
        focus="org/bj-jxj",
        message="An organization needs a non-empty skos:prefLabel in Chinese (@zh), its canonical name, and at "
        "most one skos:prefLabel per language.",
    ),
    case(
        "organization-alt-label-en",
        add='<org/zj-jxt> skos:altLabel "Zhejiang Provincial Department of Economy and Information Technology"@en .',
        focus="org/zj-jxt",
        message="Each skos:altLabel of an organization (another name or a printed form) must be a non-empty "
        "string tagged @zh.",
    ),
    case(
        "organization-label-plain",
        remove='<org/zj-jxt> rdfs:label "浙江省经济和信息化厅"@zh .',
        add='<org/zj-jxt> rdfs:label "浙江省经济和信息化厅" .',
        focus="org/zj-jxt",
        message="An organization's rdfs:label values must be non-empty language-tagged strings, at most one per "
        "language.",
    ),
    case(
        "organization-two-zh-names",
        add='<org/miit> schema:name "工信部"@zh .',
        focus="org/miit",
        message="An organization's schema:name values must be non-empty language-tagged strings, at most one per "
        "language.",
    ),
    case(
        "organization-classified-as-place",
        add="<org/zj-jxt> org:classification <place/330000> .",
        focus="org/zj-jxt",
        message="Each org:classification of an organization must be an organization-kind skos:Concept.",
    ),
    case(
        "organization-two-jurisdictions",
        add="<org/bj-jxj> mkg:jurisdiction <place/330000> .",
        focus="org/bj-jxj",
        message="An organization has at most one mkg:jurisdiction, a schema:AdministrativeArea.",
    ),
    case(
        "organization-sub-organization-of-place",
        add="<org/miit-cstc> org:subOrganizationOf <place/110000> .",
        focus="org/miit-cstc",
        message="Each org:subOrganizationOf of an organization must be an org:Organization.",
    ),
    case(
        "organization-kind-in-tracks-scheme",
        remove="<org-kind/ministry> skos:inScheme <scheme/org-kinds> .",
        add="<org-kind/ministry> skos:inScheme <scheme/tracks> .",
        focus="org-kind/ministry",
        message="An organization kind needs exactly one skos:inScheme: the org-kinds scheme (IRI ending in "
        "/scheme/org-kinds).",
    ),
    case(
        "organization-kind-without-zh-pref-label",
        remove='<org-kind/ministry> skos:prefLabel "国务院组成部门"@zh .',
        focus="org-kind/ministry",
        message="An organization kind needs a non-empty skos:prefLabel in Chinese (@zh) and at most one "
        "skos:prefLabel per language.",
    ),
    case(
        "change-event-without-original",
        remove="<org/change/miit-ic-renamed> org:originalOrganization <org/miit-ic> .",
        focus="org/change/miit-ic-renamed",
        message="An organization change event needs at least one org:originalOrganization, an org:Organization.",
    ),
    case(
        "change-event-result-not-an-organization",
        remove="<org/change/miit-ic-renamed> org:resultingOrganization <org/miit-cstc> .",
        add="<org/change/miit-ic-renamed> org:resultingOrganization <place/110000> .",
        focus="org/change/miit-ic-renamed",
        message="An organization change event needs at least one org:resultingOrganization, an org:Organization.",
    ),
    case(
        "change-event-without-source",
        remove='<org/change/miit-ic-renamed> dcterms:source "Test fixture only: not a citation."@en .',
        focus="org/change/miit-ic-renamed",
        message="An organization change event needs a dcterms:source citing where the change is documented.",
    ),
    case(
        "change-event-without-date",
        remove='<org/change/miit-ic-renamed> dcterms:date "2019"^^xsd:gYear .',
        focus="org/change/miit-ic-renamed",
        message="An organization change event needs exactly one dcterms:date, an xsd:gYear or xsd:date (when the "
        "documented change took place).",
    ),
    case(
        "change-event-renaming-and-succession",
        add="<org/change/miit-ic-renamed> a mkg:Succession .",
        focus="org/change/miit-ic-renamed",
        message="An organization change event is typed exactly one of mkg:Renaming (the same body renamed) and "
        "mkg:Succession (another body took over).",
    ),
    # --- places -----------------------------------------------------------------------------
    case(
        "place-without-level",
        remove="<place/330100> a mkg:PrefectureLevelDivision .",
        focus="place/330100",
        message="A place must be typed with its level besides schema:AdministrativeArea, unless it is flagged "
        "mkg:unresolved true (a printed place the reference data does not settle).",
    ),
    case(
        "place-last-listed-plain-string",
        add='<place/330100> mkg:lastListed "2019-04" .',
        focus="place/330100",
        message="A place has at most one mkg:lastListed, an xsd:gYearMonth (the last revision of the code list "
        "that lists a former division).",
    ),
    case(
        "place-candidate-an-organization",
        add="<place/330100> mkg:candidate <org/miit> .",
        focus="place/330100",
        message="Each mkg:candidate of an unresolved place must be a schema:AdministrativeArea.",
    ),
    # --- names the reference data does not know ---------------------------------------------
    case(
        "unresolved-false",
        add="<place/330100> mkg:unresolved false .",
        focus="place/330100",
        message="mkg:unresolved is given once, as true, on a resource that only the plans name.",
    ),
    case(
        "unresolved-without-label",
        add="<org/u-0123456789ab> mkg:unresolved true .",
        focus="org/u-0123456789ab",
        message="An unresolved resource needs a skos:prefLabel @zh: the form first printed.",
    ),
    case(
        "place-extra-type",
        add="<place/110000> a schema:City .",
        focus="place/110000",
        message="A place must be typed schema:AdministrativeArea plus its level, and nothing else: "
        "mkg:ProvinceLevelDivision, mkg:PrefectureLevelDivision, mkg:SeparatelyPlannedCity, "
        "mkg:CountyLevelDivision, mkg:StateLevelNewArea or mkg:ProductionConstructionCorps.",
    ),
    case(
        "place-without-zh-pref-label",
        remove='<place/330000> skos:prefLabel "浙江省"@zh .',
        focus="place/330000",
        message="A place needs a non-empty skos:prefLabel in Chinese (@zh) and at most one skos:prefLabel per "
        "language.",
    ),
    case(
        "place-two-en-names",
        add='<place/110000> schema:name "Peking"@en .',
        focus="place/110000",
        message="A place's schema:name values must be non-empty language-tagged strings, at most one per language.",
    ),
    case(
        "place-alt-label-plain",
        add='<place/110000> skos:altLabel "京" .',
        focus="place/110000",
        message="Each skos:altLabel of a place (another name or a printed form) must be a non-empty "
        "language-tagged string.",
    ),
    case(
        "place-two-parents",
        add="<place/330100> schema:containedInPlace <place/110000> .",
        focus="place/330100",
        message="A place has at most one schema:containedInPlace: its parent, a schema:AdministrativeArea.",
    ),
    case(
        "place-division-code-five-digits",
        remove='<place/330100> mkg:divisionCode "330100" .',
        add='<place/330100> mkg:divisionCode "33010" .',
        focus="place/330100",
        message="A place has at most one mkg:divisionCode: its six-digit GB/T 2260 code as an xsd:string.",
    ),
    case(
        "place-division-code-integer",
        remove='<place/330100> mkg:divisionCode "330100" .',
        add="<place/330100> mkg:divisionCode 330100 .",
        focus="place/330100",
        message="A place has at most one mkg:divisionCode: its six-digit GB/T 2260 code as an xsd:string.",
    ),
    case(
        "place-same-as-not-wikidata",
        add="<place/110000> owl:sameAs <http://dbpedia.org/resource/Beijing> .",
        focus="place/110000",
        message="Each owl:sameAs of a place must be a Wikidata entity IRI (http://www.wikidata.org/entity/Q…).",
    ),
    # --- tracks -----------------------------------------------------------------------------
    case(
        "track-in-org-kinds-scheme",
        remove="<track/visual-intelligence> skos:inScheme <scheme/tracks> .",
        add="<track/visual-intelligence> skos:inScheme <scheme/org-kinds> .",
        focus="track/visual-intelligence",
        message="A track needs exactly one skos:inScheme: the tracks scheme (IRI ending in /scheme/tracks).",
    ),
    case(
        "track-without-zh-pref-label",
        remove='<track/visual-intelligence> skos:prefLabel "视觉智能"@zh .',
        focus="track/visual-intelligence",
        message="A track needs a non-empty skos:prefLabel in Chinese (@zh) and at most one skos:prefLabel per "
        "language.",
    ),
    case(
        "track-alt-label-empty",
        add='<track/visual-intelligence> skos:altLabel ""@zh .',
        focus="track/visual-intelligence",
        message="Each skos:altLabel of a track (a printed variant) must be a non-empty language-tagged string.",
    ),
]


def broken_graph(valid: Graph, remove: str, add: str) -> Graph:
    graph = Graph()
    for triple in valid:
        graph.add(triple)
    to_remove = parse_snippet(remove)
    to_add = parse_snippet(add)
    assert len(to_remove) + len(to_add) > 0, "a case must change the graph"
    for triple in to_remove:
        assert triple in graph, f"triple to remove is not in the valid fixture: {triple}"
        graph.remove(triple)
    for triple in to_add:
        assert triple not in graph, f"triple to add is already in the graph: {triple}"
        graph.add(triple)
    return graph


def results_of(results: Graph) -> list[tuple[Node | None, str]]:
    return [
        (results.value(r, SH.focusNode), str(m))
        for r in results.subjects(RDF.type, SH.ValidationResult)
        for m in results.objects(r, SH.resultMessage)
    ]


@pytest.mark.parametrize(("remove", "add", "focus", "message"), CASES)
def test_broken_graph_is_reported(valid: Graph, shapes: Graph, remove: str, add: str, focus: str, message: str) -> None:
    conforms, results = run_validation(broken_graph(valid, remove, add), shapes)
    assert not conforms
    found = results_of(results)
    expected = (URIRef(BASE + focus), message)
    assert expected in found, "\n".join(f"{f} | {m}" for f, m in found)


@pytest.mark.parametrize(("remove", "add", "focus", "message"), CASES)
def test_every_engine_reports_what_pyshacl_reports(
    valid: Graph, remove: str, add: str, focus: str, message: str
) -> None:
    """Issue 16: the build may validate with another engine only if it reports on every broken graph of the table
    exactly the violations pySHACL (the reference) reports: focus node, path, constraint component, severity,
    message and value. Each engine runs as the build runs it, on N-Triples."""
    data = broken_graph(valid, remove, add).serialize(format="nt", encoding="utf-8")
    reports = {engine: check(data, SHAPES_TTL, engine) for engine in SHACL_ENGINES}
    reference = reports[REFERENCE_ENGINE]
    assert not reference.conforms
    assert (BASE + focus, message) in [(v.focus, v.message) for v in reference.violations]
    for engine, report in reports.items():
        assert (report.conforms, report.violations) == (reference.conforms, reference.violations), engine


@pytest.mark.parametrize("engine", SHACL_ENGINES)
def test_the_valid_fixture_conforms_in_every_engine(valid: Graph, engine: str) -> None:
    report = check(valid.serialize(format="nt", encoding="utf-8"), SHAPES_TTL, engine)
    assert (report.conforms, report.violations) == (True, ())


def _message_pattern(template: str) -> re.Pattern[str]:
    # A SPARQL message template's {?var} / {$var} placeholders match any substituted text.
    parts = re.split(r"\{[?$]\w+\}", template)
    return re.compile(".+".join(re.escape(p) for p in parts))


def test_every_message_has_a_case(shapes: Graph) -> None:
    expected_messages = [p.values[3] for p in CASES]
    uncovered = [
        str(m)
        for m in set(shapes.objects(None, SH.message))
        if not any(_message_pattern(str(m)).fullmatch(e) for e in expected_messages)
    ]
    assert not uncovered, uncovered


def test_every_node_shape_has_a_case(shapes: Graph) -> None:
    # Each node shape owns at least one of the messages the table expects.
    expected_messages = [p.values[3] for p in CASES]
    node_shapes = set(shapes.subjects(RDF.type, SH.NodeShape))
    assert len(node_shapes) == 14
    for node_shape in node_shapes:
        owned = list(shapes.objects(node_shape, SH.message))
        for child in list(shapes.objects(node_shape, SH.property)) + list(shapes.objects(node_shape, SH.sparql)):
            owned.extend(shapes.objects(child, SH.message))
        assert any(_message_pattern(str(m)).fullmatch(e) for m in owned for e in expected_messages), node_shape
