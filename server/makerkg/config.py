"""Settings: defaults, then a TOML file, then ``MAKERKG_*`` environment variables."""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from makerkg.errors import UsageError

DEFAULT_BASE = "https://w3id.org/makerkg/"


@dataclass(frozen=True)
class Settings:
    """Everything makerkg can be configured with."""

    out: Path = Path("out")  # where builds are published
    base: str = DEFAULT_BASE  # the IRI base of the data
    sources: Path | None = None  # None: the plans shipped with makerkg
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 2  # web server processes
    threads: int = 8  # request threads per web server process
    query_workers: int = 3  # query processes per web server process: with 2 held by slow queries, one stays free
    access_log: str = ""  # "-" for standard output, or a file; off by default (it costs some 0.1 ms a request)
    access_log_format: str = "text"  # "text" (the Combined Log Format and the time taken) or "json" (one object a line)
    query_timeout: float = 10.0  # seconds
    max_rows: int = 10_000
    max_answer_bytes: int = 32 << 20  # an answer is cut at this size (its rows, or triples, up to it)
    max_request_bytes: int = 100_000
    query_memory: int = 1024  # MiB a query worker may allocate beyond the store it holds; 0: no limit
    # MiB of its own (pages of the in-memory store its queries touched, which it copies) a query worker may keep
    # while idle: one holding more is forked afresh after store.worker.RETIRE_IDLE seconds without a job; 0: never
    worker_kept_memory: int = 64
    sandbox: bool = True  # query workers refuse to start where they cannot be cut off the network
    engine: str = "auto"  # "memory", "disk", or "auto": in memory up to memory_store_statements statements
    # a worker holds ~320 bytes a statement in memory and loads ~100k statements a second: at 400k (a graph of
    # ~180k triples) 130 MiB and 4 s to replace a worker; above it, the on-disk store (docs/scale.md)
    memory_store_statements: int = 400_000
    shacl_engine: str = "pyshacl-turbo"  # the build's SHACL engine: "pyshacl-turbo" or "pyshacl", the reference
    # (chosen by measurement, docs/scale.md; `makerkg validate` runs pyshacl unless told otherwise)
    build_grace: float = 600.0  # seconds a replaced build is kept for servers still reading it
    cache_bytes: int = 64 << 20  # answers kept per web server process for the build being served; 0: no cache
    cache_entry_bytes: int = 1 << 20  # the largest answer kept
    store: str | None = None  # a remote SPARQL query endpoint instead of the embedded store
    store_graphs: str | None = None  # its Graph Store HTTP Protocol endpoint (guessed for Oxigraph and Fuseki)
    # the store's graph holding the merge of the named graphs, for a store whose default graph is not one (Virtuoso's
    # is the union of all it holds): `makerkg load` writes the merge there and `makerkg serve` names it
    store_default_graph: str | None = None
    store_user: str | None = None  # the user `makerkg load` authenticates as (Basic or Digest, as the store asks)
    store_password: str | None = field(default=None, repr=False)  # from the config file or MAKERKG_STORE_PASSWORD
    rate_limit: int = 0  # requests per minute per client and web server process; 0: no limit
    rate_burst: int = 20  # requests a client may send at once before rate_limit applies
    # requests a client may have in progress at once in one web server process (past it: 429); 0: no limit. At the
    # defaults one client can hold at most 4 of the 6 query workers, and the others' requests still find two
    client_concurrency: int = 2
    trusted_proxies: int = 0  # reverse proxies in front of `makerkg serve` whose X-Forwarded-* entries are believed
    # the networks whose clients may read /metrics (comma-separated, CIDR notation; "" for none): the machine itself
    metrics_from: str = "127.0.0.0/8, ::1/128"
    public_url: str = ""  # the URL clients reach the server at (https://kg.example.org/); "": the request's Host
    proxy: str = "auto"  # what `makerkg serve` puts in front of the app server: "nginx" (its own), "none", or "auto":
    # nginx where it is installed, else none with a warning
    header_timeout: float = 10.0  # seconds a client may take to send a request's headers (also an idle connection)
    body_timeout: float = 10.0  # seconds a client may pause while sending a request body (with proxy = "nginx")


def grace(settings: Settings) -> float:
    """Seconds a stopping server waits for the requests under way, and a web process keeps the pool of the build it
    served before the current one: the longest query, and a little more."""
    return settings.query_timeout + 5


_ENV_PREFIX = "MAKERKG_"
_KINDS = {bool: "true or false", int: "an integer", float: "a number", str: "text"}  # as a message names them
_BOOLEANS = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False, "off": False}
PROXIES = ("auto", "nginx", "none")
# The SHACL engines, the reference first. pyshacl-turbo reports the same violations as pySHACL on every broken
# fixture of tests/unit/test_shapes.py (a test runs both on each) in a fraction of the time (docs/scale.md).
SHACL_ENGINES = ("pyshacl", "pyshacl-turbo")
ACCESS_LOG_FORMATS = ("text", "json")
MAX_HEADER_TIMEOUT = 60.0  # the longest header timeout granian accepts (proxy = "none")


def load(path: Path | None = None, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Defaults, then ``path`` (TOML, keys as the field names), then ``MAKERKG_<FIELD>``, then ``overrides``."""
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    config_path = path or (Path(env["MAKERKG_CONFIG"]) if env.get("MAKERKG_CONFIG") else None)
    if config_path is not None:
        try:
            values.update(tomllib.loads(config_path.read_text(encoding="utf-8")))
        except OSError as err:
            raise UsageError(str(config_path), f"cannot read the configuration file ({err.strerror})") from err
        except UnicodeDecodeError as err:
            raise UsageError(str(config_path), f"not UTF-8 text (byte {err.start})") from err
        except tomllib.TOMLDecodeError as err:
            where = f"{config_path}:{toml_line(err)}" if toml_line(err) else str(config_path)
            raise UsageError(where, f"not valid TOML ({toml_message(err)})") from err
    for f in fields(Settings):
        key = variable(f.name)
        if key in env:
            values[f.name] = env[key]
    values.update({k: v for k, v in overrides.items() if v is not None})
    return _coerce(values)


def toml_line(err: tomllib.TOMLDecodeError) -> int | None:
    """The line tomllib names in its message ("… (at line 3, column 7)"), or None.

    >>> toml_line(tomllib.TOMLDecodeError("Invalid value (at line 3, column 7)"))
    3
    """
    found = re.search(r"\(at line (\d+), column \d+\)", str(err))
    return int(found.group(1)) if found else None


def toml_message(err: tomllib.TOMLDecodeError) -> str:
    """tomllib's message without the position, which the caller puts first as file:line.

    >>> toml_message(tomllib.TOMLDecodeError("Invalid value (at line 3, column 7)"))
    'Invalid value at column 7'
    """
    return re.sub(r" \(at line \d+, (column \d+)\)", r" at \1", str(err)).replace(
        " (at end of document)", " at the end"
    )


def _coerce(values: Mapping[str, Any]) -> Settings:
    settings = Settings()
    known = {f.name: f for f in fields(Settings)}
    changes: dict[str, Any] = {}
    for name, raw in values.items():
        if name not in known:
            raise UsageError(name, f"not a setting (known: {', '.join(known)})")
        default = getattr(settings, name)
        try:
            if name in ("out", "sources"):
                changes[name] = Path(raw)
            elif isinstance(default, bool):
                word = str(raw).strip().lower()
                if word not in _BOOLEANS:
                    raise ValueError(word)
                changes[name] = _BOOLEANS[word]
            elif isinstance(default, int):
                if isinstance(raw, bool | float):  # TOML's true would read as 1, 8000.5 as 8000
                    raise ValueError(raw)
                changes[name] = int(raw)
            elif isinstance(default, float):
                if isinstance(raw, bool):
                    raise ValueError(raw)
                changes[name] = float(raw)
            else:
                changes[name] = str(raw)
        except ValueError as err:
            raise UsageError(name, f"expected {_KINDS[type(default)]}, found {raw!r}") from err
    result = replace(settings, **changes)
    if not _http_url(result.base, directory=True):
        raise UsageError("base", f"an http(s) IRI with a host, ending with '/', is needed, found {result.base!r}")
    if result.shacl_engine not in SHACL_ENGINES:
        raise UsageError("shacl_engine", f"one of {', '.join(SHACL_ENGINES)}, found {result.shacl_engine!r}")
    if result.engine not in ("auto", "memory", "disk"):
        raise UsageError("engine", f"expected auto, memory or disk, found {result.engine!r}")
    numbers = ("query_timeout", "max_rows", "max_answer_bytes", "max_request_bytes", "workers", "threads")
    for name in (*numbers, "query_workers", "header_timeout", "body_timeout"):
        if getattr(result, name) <= 0:
            raise UsageError(name, f"must be positive, found {getattr(result, name)}")
    for name in (
        "rate_limit", "client_concurrency", "trusted_proxies", "query_memory", "memory_store_statements",
        "worker_kept_memory", "build_grace", "cache_bytes", "cache_entry_bytes",
    ):  # fmt: skip
        if getattr(result, name) < 0:
            raise UsageError(name, f"must not be negative, found {getattr(result, name)}")
    if not 0 < result.port < 65536:
        raise UsageError("port", f"a TCP port from 1 to 65535 is needed, found {result.port}")
    if result.rate_burst <= 0:
        raise UsageError("rate_burst", f"must be positive, found {result.rate_burst}")
    if result.header_timeout > MAX_HEADER_TIMEOUT:
        raise UsageError("header_timeout", f"at most {MAX_HEADER_TIMEOUT:g} s, found {result.header_timeout:g}")
    for name, allowed in (("proxy", PROXIES), ("access_log_format", ACCESS_LOG_FORMATS)):
        if getattr(result, name) not in allowed:
            raise UsageError(name, f"one of {', '.join(allowed)}, found {getattr(result, name)!r}")
    if result.public_url and not _http_url(result.public_url, directory=True):
        raise UsageError(
            "public_url", f"an http(s) URL with a host, ending with '/', is needed, found {result.public_url!r}"
        )
    for name in ("store", "store_graphs"):
        if getattr(result, name) and not _http_url(getattr(result, name)):
            raise UsageError(name, f"an http(s) URL with a host is needed, found {getattr(result, name)!r}")
    if result.store_default_graph and not iri(result.store_default_graph):
        raise UsageError("store_default_graph", f"an absolute IRI is needed, found {result.store_default_graph!r}")
    try:
        networks(result.metrics_from)
    except ValueError as err:
        raise UsageError("metrics_from", f"comma-separated IP networks (CIDR) are needed: {err}") from err
    if not _HOST.fullmatch(result.host):
        raise UsageError("host", f"an IP address or a host name is needed, found {result.host!r}")
    return result


def iri(text: str) -> bool:
    """Whether ``text`` is an absolute IRI as the engine reads one (RFC 3987: no space, ``<>"{}|\\^```, stray ``%``,
    nor a private-use character), the one reading of IRIs every check shares.

    >>> iri("urn:x:g"), iri("http://a:b/"), iri("g"), iri("http://e/%zz/"), iri("http://e/a b")
    (True, False, False, False, False)
    """
    import pyoxigraph  # here: the settings' module is loaded by every process, most of which never check an IRI

    try:
        pyoxigraph.NamedNode(text)
    except ValueError:
        return False
    return True


def _http_url(url: str, directory: bool = False) -> bool:
    """Whether ``url`` is an http(s) IRI with a host and a valid port, with no fragment; ending with ``/`` when it is
    a ``directory`` (a base, the server's public URL), which takes no query either.

    >>> _http_url("https://w3id.org/makerkg/", True), _http_url("http://[::1]:8000/kg/", True)
    (True, True)
    >>> _http_url("http://ex.org/kg", True), _http_url("http:///kg/"), _http_url("http://ex.org/a b/")
    (False, False, False)
    >>> _http_url("http://e/%zz/"), _http_url("http://a:b/"), _http_url("http://a/#x/", True), _http_url("http://a@b@c/")
    (False, False, False, False)
    """
    if not url.startswith(("http://", "https://")) or "#" in url or not iri(url):
        return False
    if directory and (not url.endswith("/") or "?" in url):
        return False
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 - read for its check: a port that is no number, or out of range, raises
    except ValueError:  # e.g. an unclosed IPv6 literal
        return False
    return bool(parts.hostname) and parts.netloc.count("@") <= 1


def ip_address(text: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The IP address ``text`` writes, or None when it writes none (a name, garbage, nothing).

    >>> ip_address("::1"), ip_address("localhost"), ip_address(None)
    (IPv6Address('::1'), None, None)
    """
    try:
        return ipaddress.ip_address(text or "")
    except ValueError:
        return None


def networks(value: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """The IP networks of a comma-separated list in CIDR notation (an address alone is a network of one); raises
    ValueError naming the first that is not one.

    >>> [str(n) for n in networks("127.0.0.0/8, ::1, 192.0.2.7, ::ffff:10.0.0.0/104")]
    ['127.0.0.0/8', '::1/128', '192.0.2.7/32', '10.0.0.0/8']
    """
    found: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
    for part in value.split(","):
        if part.strip():
            try:
                network = ipaddress.ip_network(part.strip())
            except ValueError as err:
                raise ValueError(f"{part.strip()!r} is not an IP network ({err})") from None
            mapped = network.network_address.ipv4_mapped if isinstance(network, ipaddress.IPv6Network) else None
            if mapped is not None and network.prefixlen >= 96:  # ::ffff:a.b.c.d/n: the IPv4 network, as clients are
                network = ipaddress.IPv4Network(f"{mapped}/{network.prefixlen - 96}")
            found.append(network)
    return tuple(found)


_HOST = re.compile(r"[A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]+\]|[0-9A-Fa-f:]+")


def variable(name: str) -> str:
    """The environment variable a setting is read from; raises UsageError for a name ``Settings`` lacks.

    >>> variable("query_timeout")
    'MAKERKG_QUERY_TIMEOUT'
    """
    if name not in {f.name for f in fields(Settings)}:
        raise UsageError(name, "no such setting")
    return _ENV_PREFIX + name.upper()


def environ(settings: Settings) -> dict[str, str]:
    """``settings`` as the ``MAKERKG_*`` variables ``load`` reads back to the same settings (for the processes
    ``makerkg serve`` starts).

    >>> load(env=environ(Settings(port=8123, store=None))).port
    8123
    """
    found: dict[str, str] = {}
    for f in fields(Settings):
        value = getattr(settings, f.name)
        if value is None:
            continue
        found[variable(f.name)] = str(value).lower() if isinstance(value, bool) else str(value)
    return found
