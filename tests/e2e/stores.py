"""Remote SPARQL stores the tests start on 127.0.0.1, each in a directory of its own on free ports, and stop:
Oxigraph's server (from PyPI, in the test extra) and Debian's Virtuoso (virtuoso-opensource-7-bin, which .ci/run
installs). `makerkg load` fills them and `makerkg serve --store` answers from them (issue 16)."""

from __future__ import annotations

import secrets
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from makerkg.launch import free_port, terminate

VIRTUOSO = "virtuoso-t"
ISQL = "isql-vt"
MISSING_VIRTUOSO = (
    "Virtuoso is not installed (Debian's virtuoso-opensource-7-bin: virtuoso-t and isql-vt); .ci/run installs it"
)
DEFAULT_GRAPH = "urn:makerkg:default-graph"  # where Virtuoso holds the merge (its default graph is every graph)
LOADER = "makerkg_loader"


@dataclass(frozen=True)
class Store:
    """A running store: its query and Graph Store endpoints, what `makerkg load` and `makerkg serve` need told
    (the graph for the merge, the loading user and password), and how to stop it."""

    name: str
    query: str
    graphs: str
    process: subprocess.Popen[bytes]
    default_graph: str | None = None
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    admin: Callable[[str], str] | None = None  # runs SQL as dba (Virtuoso)

    def after_load(self) -> None:
        """What the store needs once loaded: Virtuoso reads a freshly loaded graph slowly (tens of seconds for
        200k triples) until a checkpoint has written it."""
        if self.admin is not None:
            self.admin("checkpoint;\n")

    def settings(self) -> dict[str, str]:
        """The settings `makerkg serve` and `makerkg load` read, as keyword arguments of tests.e2e.conftest.start."""
        found = {"store": self.query, "store_graphs": self.graphs}
        if self.default_graph:
            found["store_default_graph"] = self.default_graph
        if self.user and self.password:
            found |= {"store_user": self.user, "store_password": self.password}
        return found

    def stop(self) -> None:
        terminate(self.process, 30)


def wait_for(url: str, process: subprocess.Popen[bytes], log: Path, seconds: float = 60) -> None:
    """Wait until ``url`` answers ``ASK {}``; raises RuntimeError with the end of the log otherwise."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the store exited with {process.returncode}: {log.read_text(errors='replace')[-2000:]}")
        try:
            with urllib.request.urlopen(f"{url}?query=ASK%7B%7D", timeout=2):  # noqa: S310 - 127.0.0.1
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"the store did not answer within {seconds:g} s: {log.read_text(errors='replace')[-2000:]}")


def oxigraph_binary() -> str:
    found = shutil.which("oxigraph", path=str(Path(sys.executable).parent)) or shutil.which("oxigraph")
    assert found, "the oxigraph server (pip install oxigraph, in the test extra) is needed"
    return found


def start_oxigraph(directory: Path) -> Store:
    """A read-write Oxigraph server, empty, its data in ``directory``."""
    port = free_port()
    log = directory / "oxigraph.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [oxigraph_binary(), "serve", "--location", str(directory / "data"), "--bind", f"127.0.0.1:{port}"],
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    store = Store("oxigraph", f"http://127.0.0.1:{port}/query", f"http://127.0.0.1:{port}/store", process)
    try:
        wait_for(store.query, process, log)
    except RuntimeError:
        store.stop()
        raise
    return store


def virtuoso_installed() -> bool:
    return shutil.which(VIRTUOSO) is not None and shutil.which(ISQL) is not None


@dataclass(frozen=True)
class Limits:
    """What a Virtuoso of the tests' own may use: 8 KiB pages in memory, rows an answer may hold, seconds a query may
    run, and threads one query may take (None: Virtuoso's default)."""

    buffers: int = 10_000
    max_rows: int = 5_000
    seconds: int = 4
    threads_per_query: int | None = 1


# The tests' Virtuoso answers up to 5,000 rows (above the max_rows of the tests' servers, so that makerkg's cap cuts
# first, and below the build's triples, so that a test sees Virtuoso cut an answer); a query stops after 4 s, soon
# after the 3 s at which makerkg answers 503, and runs in one thread, so that one explosive query leaves the other core
# of a 2-core machine to the others.
TESTS = Limits()


def virtuoso_ini(directory: Path, http_port: int, isql_port: int, limits: Limits = TESTS) -> str:
    """A configuration for a Virtuoso of the tests' own: its files in ``directory``, listening on 127.0.0.1 only,
    no Unix socket, no HTTP proxy, no WebDAV pages, no query text or stylesheet fetched from a URL."""
    d = directory
    threads = "" if limits.threads_per_query is None else f"ThreadsPerQuery = {limits.threads_per_query}\n"
    return f"""\
[Database]
DatabaseFile = {d}/virtuoso.db
ErrorLogFile = {d}/virtuoso.log
LockFile = {d}/virtuoso.lck
TransactionFile = {d}/virtuoso.trx
xa_persistent_file = {d}/virtuoso.pxa
ErrorLogLevel = 7
FileExtend = 200
MaxCheckpointRemap = 2000
Striping = 0
TempStorage = TempDatabase

[TempDatabase]
DatabaseFile = {d}/virtuoso-temp.db
TransactionFile = {d}/virtuoso-temp.trx
MaxCheckpointRemap = 2000
Striping = 0

[Parameters]
ServerPort = 127.0.0.1:{isql_port}
DisableUnixSocket = 1
MaxClientConnections = 10
CheckpointInterval = 60
NumberOfBuffers = {limits.buffers}
MaxDirtyBuffers = {limits.buffers * 3 // 4}
{threads}DirsAllowed = {d}
AllowOSCalls = 0
CaseMode = 2

[HTTPServer]
ServerPort = 127.0.0.1:{http_port}
ServerRoot = {d}
ServerThreads = 10
MaxClientConnections = 10
HTTPProxyEnabled = 0
EnabledDavVSP = 0

[SPARQL]
ResultSetMaxRows = {limits.max_rows}
MaxQueryExecutionTime = {limits.seconds}
ExternalQuerySource = 0
ExternalXsltSource = 0
"""


def isql(port: int, password: str, statements: str) -> str:
    """Run SQL statements as dba through Virtuoso's isql; raises RuntimeError on any error it reports."""
    done = subprocess.run(
        [ISQL, f"127.0.0.1:{port}", "dba", password, "VERBOSE=OFF", "BANNER=OFF", "PROMPT=OFF"],
        input=statements.encode(),
        capture_output=True,
        timeout=120,
        check=False,
    )
    output = done.stdout.decode(errors="replace") + done.stderr.decode(errors="replace")
    if done.returncode != 0 or "*** Error" in output:
        raise RuntimeError(f"isql: {output[-2000:]}")
    return output


def start_virtuoso(directory: Path, limits: Limits = TESTS) -> Store:
    """A Virtuoso of the tests' own, empty but for its system graphs. dba gets a fresh random password at once; a
    user of its own, with a random password, may write through the authenticated Graph Store endpoint
    (/sparql-graph-crud-auth, Digest); the anonymous SPARQL user (/sparql) keeps the roles a new database gives
    it, which let it neither write nor sponge (dereference FROM IRIs)."""
    http_port, isql_port = free_port(), free_port()
    ini = directory / "virtuoso.ini"
    ini.write_text(virtuoso_ini(directory, http_port, isql_port, limits), encoding="utf-8")
    log = directory / "virtuoso.out"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [VIRTUOSO, "+foreground", "+configfile", str(ini)],
            cwd=directory,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{http_port}"
    dba, loader = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    store = Store(
        "virtuoso",
        f"{base}/sparql",
        f"{base}/sparql-graph-crud-auth",
        process,
        DEFAULT_GRAPH,
        LOADER,
        loader,
        lambda statements: isql(isql_port, dba, statements),
    )
    try:
        wait_for(store.query, process, log)
        isql(
            isql_port,
            "dba",
            f"""DB.DBA.USER_CHANGE_PASSWORD('dba', 'dba', '{dba}');
DB.DBA.USER_CREATE('{LOADER}', '{loader}');
GRANT SPARQL_UPDATE TO "{LOADER}";
""",
        )
    except RuntimeError:
        store.stop()
        raise
    return store
