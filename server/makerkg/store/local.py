"""The command line's query runner: the same engine, checks and caps as the server's workers, in this process.

The process confines itself first (``sandbox.confine_network``): ``makerkg query`` needs no network once it runs,
and a query that names SERVICE past the pre-check fails closed here as it does in the server.
"""

from __future__ import annotations

from makerkg.store import sandbox
from makerkg.store.execute import answers, run
from makerkg.store.query import Answer, Job, Reply
from makerkg.store.worker import StoreSpec, open_store


class LocalRunner:
    """Runs jobs in this process, on the store ``spec`` names; implements ``QueryRunner``."""

    def __init__(self, spec: StoreSpec, *, confine: bool = True) -> None:
        """Open the store; ``confine`` first cuts this process off the network, as the server's workers are (only
        a test process that must go on reaching 127.0.0.1 passes False)."""
        if confine:
            sandbox.confine_network(required=spec.sandbox)
        self._store = open_store(spec)

    def execute(self, job: Job) -> Reply:
        messages = answers(run(self._store, job))  # type: ignore[arg-type]
        first = next(messages)
        assert isinstance(first, Answer)  # noqa: S101 - answers() begins with one
        return Reply(first, (m for m in messages if isinstance(m, bytes)))

    def close(self) -> None:
        """Nothing to stop."""
