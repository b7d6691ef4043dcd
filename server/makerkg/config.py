"""Settings: defaults, then a TOML file, then ``MAKERKG_*`` environment variables."""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
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
    max_request_bytes: int = 100_000
    store: str | None = None  # a remote SPARQL query endpoint instead of the embedded store
    store_graphs: str | None = None  # its Graph Store HTTP Protocol endpoint (guessed for Oxigraph and Fuseki)
    rate_limit: int = 0  # requests per minute per client and web server process; 0: no limit
    rate_burst: int = 20  # requests a client may send at once before rate_limit applies
    trusted_proxies: int = 0  # reverse proxies in front of `makerkg serve` whose X-Forwarded-* entries are believed
    public_url: str = ""  # the URL clients reach the server at (https://kg.example.org/); "": the request's Host
    proxy: str = "nginx"  # what `makerkg serve` puts in front of the app server: "nginx" (its own), or "none"
    header_timeout: float = 10.0  # seconds a client may take to send a request's headers (also an idle connection)
    body_timeout: float = 10.0  # seconds a client may pause while sending a request body (with proxy = "nginx")


_ENV_PREFIX = "MAKERKG_"
PROXIES = ("nginx", "none")
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
        except tomllib.TOMLDecodeError as err:
            raise UsageError(str(config_path), f"not valid TOML ({err})") from err
    for f in fields(Settings):
        key = _ENV_PREFIX + f.name.upper()
        if key in env:
            values[f.name] = env[key]
    values.update({k: v for k, v in overrides.items() if v is not None})
    return _coerce(values)


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
                changes[name] = str(raw).lower() in ("1", "true", "yes", "on")
            elif isinstance(default, int):
                changes[name] = int(raw)
            elif isinstance(default, float):
                changes[name] = float(raw)
            else:
                changes[name] = str(raw)
        except ValueError as err:
            raise UsageError(name, f"expected a {type(default).__name__}, found {raw!r}") from err
    result = replace(settings, **changes)
    if not result.base.endswith("/") or not result.base.startswith(("http://", "https://")):
        raise UsageError("base", f"an http(s) IRI ending with '/' is needed, found {result.base!r}")
    numbers = ("query_timeout", "max_rows", "max_request_bytes", "workers", "threads", "query_workers")
    for name in (*numbers, "header_timeout", "body_timeout"):
        if getattr(result, name) <= 0:
            raise UsageError(name, f"must be positive, found {getattr(result, name)}")
    for name in ("rate_limit", "trusted_proxies"):
        if getattr(result, name) < 0:
            raise UsageError(name, f"must not be negative, found {getattr(result, name)}")
    if result.rate_burst <= 0:
        raise UsageError("rate_burst", f"must be positive, found {result.rate_burst}")
    if result.header_timeout > MAX_HEADER_TIMEOUT:
        raise UsageError("header_timeout", f"at most {MAX_HEADER_TIMEOUT:g} s, found {result.header_timeout:g}")
    for name, allowed in (("proxy", PROXIES), ("access_log_format", ACCESS_LOG_FORMATS)):
        if getattr(result, name) not in allowed:
            raise UsageError(name, f"one of {', '.join(allowed)}, found {getattr(result, name)!r}")
    if result.public_url and (
        not result.public_url.startswith(("http://", "https://")) or not result.public_url.endswith("/")
    ):
        raise UsageError("public_url", f"an http(s) URL ending with '/' is needed, found {result.public_url!r}")
    if not _HOST.fullmatch(result.host):
        raise UsageError("host", f"an IP address or a host name is needed, found {result.host!r}")
    return result


_HOST = re.compile(r"[A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]+\]|[0-9A-Fa-f:]+")


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
        found[_ENV_PREFIX + f.name.upper()] = str(value).lower() if isinstance(value, bool) else str(value)
    return found
