"""Stage 3: records and their links → RDF (``graph.build``), with IRIs minted in one place (``graph.iris``).

Nothing is imported here: the server reads ``graph.vocab`` alone, and must not load the builder with it.
"""
