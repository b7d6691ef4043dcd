"""Stage 3: records and their links → RDF, with IRIs minted in one place."""

from makerkg.graph.build import edition_graph, named_graphs, reference_graph, to_dataset
from makerkg.graph.iris import DEFAULT_BASE, Minter

__all__ = ["DEFAULT_BASE", "Minter", "edition_graph", "named_graphs", "reference_graph", "to_dataset"]
