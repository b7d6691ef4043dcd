"""The SPARQL side: protocol parsing, query checks, negotiation and result serialisers (no Flask here)."""
