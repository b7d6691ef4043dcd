"""granian's logging as `makerkg serve` runs it: granian's own configuration, less one warning.

granian warns at every start when its request threads are more than twice the cores and one ("Configuration allows
spawning up to N Python threads, which seems quite high …"). makerkg's request threads mostly wait for a query
worker, so 8 on 2 cores is meant (docs/deployment.md), and the warning would only tell every user to change a
setting that is right. granian has no switch for it; a logging filter, named in the configuration granian reads
(``--log-config``), drops that one message. Kept in a module of its own that imports nothing else: granian's master
process imports it.
"""

from __future__ import annotations

import logging
from typing import Any

THREADS_NOTE = "Configuration allows spawning up to "  # how granian's warning begins


class WithoutThreadsNote(logging.Filter):
    """Drops granian's warning about its thread count; lets every other record through.

    >>> note = logging.makeLogRecord({"msg": "Configuration allows spawning up to 8 Python threads, which …"})
    >>> other = logging.makeLogRecord({"msg": "Worker (pid 7) died"})
    >>> WithoutThreadsNote().filter(note), WithoutThreadsNote().filter(other)
    (False, True)
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(THREADS_NOTE)


def config() -> dict[str, Any]:
    """What granian's ``--log-config`` file holds: its handlers, each with the filter (granian merges the top-level
    keys into its own configuration, so its formatters and loggers stay as they are)."""
    return {
        "filters": {"threads_note": {"()": f"{__name__}.{WithoutThreadsNote.__name__}"}},
        "handlers": {
            name: {
                "formatter": name if name == "access" else "generic",
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stdout",
                "filters": ["threads_note"],
            }
            for name in ("console", "access")
        },  # fmt: skip
    }
