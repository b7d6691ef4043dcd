"""The vocabularies the graph speaks, and the prefixes its serialisations use."""

from __future__ import annotations

from rdflib import DCTERMS, OWL, PROV, RDF, RDFS, SKOS, XSD, Namespace

from makerkg.namespaces import MKG as _MKG
from makerkg.namespaces import ONTOLOGY_IRI, PREFIXES

MKG = Namespace(_MKG)
SCHEMA = Namespace("https://schema.org/")
ORG = Namespace("http://www.w3.org/ns/org#")
VOID = Namespace("http://rdfs.org/ns/void#")
DCAT = Namespace("http://www.w3.org/ns/dcat#")
SD = Namespace("http://www.w3.org/ns/sparql-service-description#")
WD = Namespace("http://www.wikidata.org/entity/")


__all__ = [
    "DCAT",
    "DCTERMS",
    "MKG",
    "ONTOLOGY_IRI",
    "ORG",
    "OWL",
    "PREFIXES",
    "PROV",
    "RDF",
    "RDFS",
    "SCHEMA",
    "SD",
    "SKOS",
    "VOID",
    "WD",
    "XSD",
]
