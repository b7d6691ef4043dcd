"""The namespaces makerkg's graph speaks, as plain strings (importing this costs nothing; graph.vocab wraps them)."""

ONTOLOGY_IRI = "https://w3id.org/makerkg/ontology"
MKG = ONTOLOGY_IRI + "#"

PREFIXES: dict[str, str] = {
    "mkg": MKG,
    "schema": "https://schema.org/",
    "org": "http://www.w3.org/ns/org#",
    "prov": "http://www.w3.org/ns/prov#",
    "skos": "http://www.w3.org/2004/02/skos/core#",
    "dcterms": "http://purl.org/dc/terms/",
    "owl": "http://www.w3.org/2002/07/owl#",
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "rdfs": "http://www.w3.org/2000/01/rdf-schema#",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
    "wd": "http://www.wikidata.org/entity/",
}
