"""The errors makerkg raises: each carries its data, and ``str()`` gives one line a user can act on."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


def cut(text: str, limit: int = 60) -> str:
    """``text`` as a message quotes a request's value: at most ``limit`` characters, then an ellipsis.

    >>> cut("PUT"), cut("x" * 70, 5)
    ('PUT', 'xxxxx…')
    """
    return text if len(text) <= limit else text[:limit] + "…"


class MakerkgError(Exception):
    """Base of every error makerkg reports to a user."""

    exit_code = 2


class PlanError(MakerkgError):
    """A plan, manifest or reference table that cannot be read: names the file and line."""

    exit_code = 3

    def __init__(self, path: Path | str, line: int | None, expected: str, found: str) -> None:
        self.path = Path(path)
        self.line = line
        self.expected = expected
        self.found = found
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else f"{self.path}"
        return f"{where}: expected {self.expected}, found {self.found}"


class UnresolvedNames(MakerkgError):
    """``--strict``: printed names that match nothing in the reference data."""

    exit_code = 4

    def __init__(self, names: Sequence[str]) -> None:
        self.names = tuple(names)
        super().__init__(str(self))

    def __str__(self) -> str:
        shown = "; ".join(self.names[:5]) + (" …" if len(self.names) > 5 else "")
        return f"{len(self.names)} printed name(s) match nothing in data/reference: {shown}"


class ValidationFailed(MakerkgError):
    """The graph does not conform to the SHACL shapes."""

    exit_code = 1

    def __init__(self, report: str, violations: int) -> None:
        self.report = report
        self.violations = violations
        super().__init__(str(self))

    def __str__(self) -> str:
        return f"the graph does not conform to ontology/shapes.ttl: {self.violations} violation(s)"


class StoreMissing(MakerkgError):
    """No built graph where one is expected, or one that cannot be opened."""

    exit_code = 5

    def __init__(self, path: Path, why: str) -> None:
        self.path = path
        self.why = why
        super().__init__(str(self))

    def __str__(self) -> str:
        return f"{self.path}: {self.why} (run `makerkg build` first)"


class StoreUnavailable(MakerkgError):
    """The remote SPARQL store (``makerkg serve --store URL``) did not answer, or answered with an error of its own."""

    def __init__(self, url: str, why: str) -> None:
        self.url = url
        self.why = why
        super().__init__(f"the SPARQL store at {url} {why}")


class ServeFailed(MakerkgError):
    """A `makerkg serve` that ``makerkg.launch`` started exited or did not answer in time; carries the end of its
    log, which its message quotes after its first line."""

    def __init__(self, why: str, log_tail: str) -> None:
        self.why = why
        self.log_tail = log_tail
        super().__init__(f"makerkg serve {why}; the end of its log:\n{log_tail}")


class QueryRefused(MakerkgError):
    """A query makerkg will not run, with the reason."""

    exit_code = 2

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class QuerySyntaxError(MakerkgError):
    """A query the SPARQL parser rejects, with its message."""

    exit_code = 2

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


class UsageError(MakerkgError):
    """A command-line argument or request parameter that is not acceptable: names the parameter."""

    exit_code = 2

    def __init__(self, parameter: str, why: str) -> None:
        self.parameter = parameter
        self.why = why
        super().__init__(str(self))

    def __str__(self) -> str:
        return f"{self.parameter}: {self.why}"


class ProtocolError(MakerkgError):
    """A SPARQL protocol request that cannot be served as sent: the HTTP status, the parameter and why."""

    exit_code = 2

    def __init__(self, status: int, parameter: str, message: str, allow: str | None = None) -> None:
        self.status = status
        self.parameter = parameter
        self.message = message
        self.allow = allow  # the Allow header a 405 must carry
        super().__init__(str(self))

    def __str__(self) -> str:
        return f"{self.parameter}: {self.message}"


class NotAcceptable(MakerkgError):
    """No representation the client accepts: lists the media types on offer."""

    exit_code = 2

    def __init__(self, offers: Sequence[str]) -> None:
        self.offers = tuple(offers)
        super().__init__(str(self))

    def __str__(self) -> str:
        return f"none of the media types on offer is acceptable: {', '.join(self.offers)}"


class QueryTimeout(MakerkgError):
    """The query ran past the deadline and its worker was stopped."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        super().__init__(str(self))

    def __str__(self) -> str:
        return (
            f"the query ran longer than the limit of {self.seconds:g} s (query_timeout) and was stopped; "
            "simplify it or add a LIMIT"
        )


class QueryTooLarge(MakerkgError):
    """The query needed more memory than a query worker may take, and its worker was stopped."""

    def __init__(self, limit_mib: int) -> None:
        self.limit_mib = limit_mib
        super().__init__(str(self))

    def __str__(self) -> str:
        return (
            f"the query needed more than the {self.limit_mib} MiB a query may use (query_memory) and was stopped; "
            "simplify it or add a LIMIT"
        )


class QueryFailed(MakerkgError):
    """The engine parsed the query but could not evaluate it (an unbound SERVICE name, a bad regular expression…)."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


class Busy(MakerkgError):
    """Every query worker stayed busy for the whole wait."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        super().__init__(f"all query workers are busy; try again in {seconds:g} s")


class WorkerLost(MakerkgError):
    """The worker process ended while running the query."""

    def __init__(self) -> None:
        super().__init__("the query worker stopped unexpectedly; try again")
