"""makerkg: a linked-open-data knowledge graph of the “创客中国” SME innovation and entrepreneurship contest."""

__version__ = "0.1.0"
