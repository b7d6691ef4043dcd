"""The Flask app, made by ``create_app``: the only way to get one (reached as ``makerkg.web.create_app``)."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

from flask import Flask, Response, g, request
from flask_compress import Compress
from flask_cors import CORS
from werkzeug.http import parse_date, parse_etags
from werkzeug.middleware.proxy_fix import ProxyFix

from makerkg.config import Settings, ip_address, load
from makerkg.errors import cut
from makerkg.formats import FORMATS
from makerkg.web import (
    api,
    cache,
    dumps,
    errors,
    graphs,
    limits,
    listings,
    maps,
    ops,
    pages,
    public,
    reconcile,
    search,
    seo,
    sparql,
    ui,
    vendor,
)  # fmt: skip
from makerkg.web.engine import Engine, get_engine, representation_etag

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

EXPOSED = [
    "Cache-Status", "Content-Location", "ETag", "Makerkg-Result-Truncated", "Repr-Digest", "Retry-After", "Vary"
]  # fmt: skip
# the text formats answers come in, compressed when the client asks (br or gzip) and they are over 1 kB
COMPRESSED = sorted(
    {f.media_type for f in FORMATS}
    | {"text/html", "text/plain", "text/css", "text/javascript", "application/json", "application/problem+json"}
)
MAX_AGE = 300  # seconds an answer may be reused without asking: a build changes only when one is published


class _App(Flask):
    def make_default_options_response(self) -> Response:
        """An answer to OPTIONS has no body, and so no media type (Flask's said text/html, and a client accepting
        brotli got a body of one byte: an empty one, compressed)."""
        response = super().make_default_options_response()
        del response.headers["Content-Type"]
        return response


def _preflight_methods(response: Response) -> Response:
    """A CORS preflight names the methods the resource answers, as its ``Allow`` does (flask-cors named every
    method, PUT and DELETE too, which are 405 here)."""
    preflight = "Access-Control-Allow-Methods" in response.headers
    if request.method == "OPTIONS" and preflight and "Allow" in response.headers:
        methods = sorted(m.strip() for m in response.headers["Allow"].split(","))
        response.headers["Access-Control-Allow-Methods"] = ", ".join(methods)
    return response


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> Flask:
    """An app serving the current build under ``settings.out`` (through ``engine``, when one was made already, so
    that its first query worker started while this module loaded); raises StoreMissing when there is no build."""
    settings = settings or load()
    app = _App(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_request_bytes
    app.config["JSON_AS_ASCII"] = False
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    engine = app.extensions["makerkg"] = engine or Engine(settings)  # … which its query workers start from
    app.before_request(_request_names_a_host)  # first: the cache's key and the links read the host
    app.before_request(_body_not_encoded)
    answers = cache.register(app, settings)  # first: what it keeps is the answer as it finally leaves
    app.after_request(_preflight_methods)  # before CORS registers its own: Flask runs them last first
    # read routes answer any origin, without credentials; preflight requests are answered for POST queries
    CORS(app, origins="*", send_wildcard=True, supports_credentials=False, expose_headers=EXPOSED, max_age=86400)
    errors.register(app)
    ops.install(app, settings.access_log_format if settings.access_log else None)
    limits.register(app, settings)

    @app.before_request
    def from_cache() -> Response | None:  # after the rate limit, which counts every request
        if request.method == "POST":
            return None  # a POSTed query is looked up by its text, in the endpoint
        return cache.lookup(answers, engine.snapshot().build.info.id)

    app.register_blueprint(sparql.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(ui.bp)
    app.register_blueprint(dumps.bp)
    app.register_blueprint(graphs.bp)
    app.register_blueprint(listings.bp)
    app.register_blueprint(seo.bp)
    app.register_blueprint(search.bp)
    app.register_blueprint(reconcile.bp)
    app.register_blueprint(maps.bp)
    app.register_blueprint(vendor.bp)
    app.register_blueprint(pages.bp)  # last: its catch-all route serves every other path under the base
    app.after_request(_preconditions)  # before _etag is registered, so that it runs after it: it reads the ETag
    app.after_request(_etag)
    app.after_request(public.add_vary)
    app.after_request(_cache_control)
    app.after_request(_security_headers)
    # registered after the ETag's hook, so it runs before it (the ETag names the coding), and before the answer
    # cache keeps the answer: compressed once, answered compressed
    app.config.update(
        COMPRESS_MIMETYPES=COMPRESSED,
        COMPRESS_MIN_SIZE=1024,
        COMPRESS_ALGORITHM=["br", "gzip"],
        COMPRESS_REGISTER=False,
    )
    compress = Compress(app)

    @app.after_request
    def compressed(response: Response) -> Response:
        """Every answer the client would take compressed, but a build's file sent as it is (``dumps.serve_as_is``)."""
        return response if g.get(dumps.AS_IS) else compress.after_request(response)

    app.after_request(_close_streamed_source)  # after Compress: runs before it
    app.context_processor(_template_globals)
    hops = settings.trusted_proxies
    if hops:
        # the client, scheme and host as the trusted proxies saw them: each appends its entry to X-Forwarded-For,
        # -Proto and -Host, so the n-th entry from the right is the one the outermost trusted proxy wrote
        fixed = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
        app.wsgi_app = _PeerOfOwnProxy(fixed, hops)  # type: ignore[method-assign]
    engine.ready()  # … while the app was set up
    engine.follow()
    return app


class _PeerOfOwnProxy:
    """WSGI middleware before ProxyFix. It lowers the case of X-Forwarded-Proto, which ProxyFix takes as written (an
    upper-case HTTPS was refused). And a request that came over a Unix socket (no peer address) came from `makerkg
    serve`'s own nginx, the only process that can reach it; when it carries fewer X-Forwarded-For entries than the
    trusted proxies (the client reached that nginx directly, past the operator's proxy: a local scraper of /metrics,
    say), ProxyFix would leave the client unknown, and the client is the peer nginx saw, its own entry, the last.
    Written here since ProxyFix takes no such rule; it changes nothing for a peer that has an address."""

    def __init__(self, app: WSGIApplication, hops: int) -> None:
        self.app, self.hops = app, hops

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if "HTTP_X_FORWARDED_PROTO" in environ:  # a scheme's case does not matter (RFC 3986, 3.1): HTTPS is https
            environ["HTTP_X_FORWARDED_PROTO"] = environ["HTTP_X_FORWARDED_PROTO"].lower()
        entries = [e.strip() for e in environ.get("HTTP_X_FORWARDED_FOR", "").split(",") if e.strip()]
        if entries and len(entries) < self.hops and ip_address(environ.get("REMOTE_ADDR")) is None:
            environ["REMOTE_ADDR"] = entries[-1]
        return self.app(environ, start_response)


FRAMED = ("reconcile.preview",)  # pages made to be shown in another site's frame (OpenRefine's preview)


# a host name (labels of letters, digits and hyphens, as Werkzeug reads a host: it drops one with "_") or an IP
# literal in brackets, and an optional port from 1 to 65535 (Werkzeug drops a host with another, or a leading 0)
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST = re.compile(rf"(?P<name>{_LABEL}(?:\.{_LABEL})*\.?|\[(?P<ip>[0-9A-Fa-f:.]+)\])(?::(?P<port>[1-9][0-9]{{0,4}}))?")


def _host_readable(host: str) -> bool:
    """Whether links can be built on ``host`` (``name[:port]``).

    >>> [_host_readable(h) for h in ("xn--fa-hia.de", "a.org:8080", "[::1]:80", "127.0.0.1", "example.org.")]
    [True, True, True, True, True]
    >>> [_host_readable(h) for h in ("a.com:0", "a.com:65536", "a.com:080", "[1::2::3]", "a.com,b.com", "my_host")]
    [False, False, False, False, False, False]
    """
    found = _HOST.fullmatch(host)
    if found is None or (found["port"] is not None and int(found["port"]) > 65535):
        return False
    return found["ip"] is None or isinstance(ip_address(found["ip"]), ipaddress.IPv6Address)


def _request_names_a_host() -> Response | None:
    """A 400 for a request whose host (``Host``, or a trusted proxy's ``X-Forwarded-Host``) or scheme (a trusted
    proxy's ``X-Forwarded-Proto``) no link can be built on: links and the cache's key are built on them, and an
    unreadable one made answers with hostless links, or errors (``host_url``, the service description)."""
    if request.scheme not in ("http", "https"):
        shown = cut(request.scheme, 20)
        return errors.problem(400, f"X-Forwarded-Proto: {shown!r} is not http or https", parameter="X-Forwarded-Proto")
    sent = request.environ.get("HTTP_HOST")  # ProxyFix has put the trusted X-Forwarded-Host here
    if sent and not _host_readable(sent):  # none: HTTP/1.0 without Host (the server's own name)
        return errors.problem(400, f"Host: {cut(sent)!r} is not a host name, nor an IP address in brackets, with an "
                              "optional port from 1 to 65535", parameter="Host")  # fmt: skip
    return None


def _body_not_encoded() -> Response | None:
    """A 415 for a request body in a content coding (RFC 9110, 15.5.16): it would be read as if it were not one."""
    coding = request.headers.get("Content-Encoding", "").strip().lower()
    has_body = bool(request.content_length) or "Transfer-Encoding" in request.headers
    if coding in ("", "identity") or not has_body:
        return None
    return errors.problem(415, f"Content-Encoding: {coding[:40]!r} is not read here; send the body as it is",
                          {"Accept-Encoding": "identity"}, parameter="Content-Encoding")  # fmt: skip


def _security_headers(response: Response) -> Response:
    """Browsers take every answer as the media type it says (never sniffed into HTML or script), and no other
    site may frame the pages (clickjacking), but for the reconciliation previews, made to be framed."""
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    if response.mimetype == "text/html" and request.endpoint not in FRAMED:
        response.headers.setdefault("Content-Security-Policy", "frame-ancestors 'self'")
        response.headers.setdefault("X-Frame-Options", "SAMEORIGIN")
    return response


def _cache_control(response: Response) -> Response:
    """Let clients and caches reuse an answer for a while, then revalidate it with its ETag."""
    if request.method in ("GET", "HEAD") and response.status_code == 200 and "Cache-Control" not in response.headers:
        response.cache_control.public = True
        response.cache_control.max_age = MAX_AGE
    return response


def _template_globals() -> dict[str, str]:
    return {"build_id": get_engine().snapshot().build.info.id}


def _preconditions(response: Response) -> Response:
    """``If-Match`` and ``If-Unmodified-Since`` on GET and HEAD (RFC 9110, 13.1.1, 13.1.4 and 13.2.2).

    If-Match: the answer when the representation has one of the ETags given (strong comparison), or ``*`` and there
    is one; else a 412 without it. Werkzeug's file answers read it the other way round (``*`` and a mismatch both
    gave 412, with the whole file), and other answers ignored it. Without If-Match, a valid If-Unmodified-Since
    earlier than the answer's Last-Modified (a dump's) is a 412: a client resuming a download asks so that it never
    joins parts of two files; Werkzeug ignored it."""
    given = request.headers.get("If-Match")
    if request.method not in ("GET", "HEAD") or response.status_code not in (200, 206, 412):
        return response
    if given is None:
        since = parse_date(request.headers.get("If-Unmodified-Since"))
        modified = response.last_modified
        if since is None or modified is None or modified <= since:
            return response
        response.close()
        return errors.problem(
            412,
            f"If-Unmodified-Since: this representation was last modified later, at {response.headers['Last-Modified']}",
            parameter="If-Unmodified-Since",
        )
    etag, weak = response.get_etag()
    conditions = parse_etags(given)
    if conditions.star_tag or (etag is not None and not weak and conditions.contains(etag)):
        # RFC 9110, 13.2.2: If-None-Match is evaluated once If-Match has passed (Werkzeug leaves it out then)
        none_match = parse_etags(request.headers.get("If-None-Match"))
        if etag is not None and (none_match.star_tag or none_match.contains_weak(etag)):
            response.status_code = 304
        elif response.status_code == 412:  # Werkzeug's reading of "*" on a file
            response.status_code = 206 if "Content-Range" in response.headers else 200
        return response
    response.close()
    return errors.problem(412, "If-Match: the representation here has another ETag (or none)", parameter="If-Match")


def _close_streamed_source(response: Response) -> Response:
    """Close a streamed answer's source (a dump's file, a query's parts) when the answer is closed, even once
    flask-compress has put a compressing stream in its place: it never closes what it reads, and a dump sent in br
    kept its file open until the answer was collected."""
    close = getattr(response.response, "close", None)
    if response.is_streamed and callable(close):
        response.call_on_close(close)
    return response


def _etag(response: Response) -> Response:
    """An ETag derived from the build and the representation: data change only when a build is published. A streamed
    answer has none (a query's later parts may still fail), unless its view set one.

    It runs after compression: an answer in a content coding is another representation, with a strong ETag of its
    own (RFC 9110, 8.8.3: ``…:br``, as flask-compress marks the ETags views set)."""
    coding = response.headers.get("Content-Encoding")
    fresh = ops.NO_STORE in (response.headers.get("Cache-Control") or "")  # computed at each request
    if request.method in ("GET", "HEAD") and response.status_code == 200 and not response.is_streamed and not fresh:
        etag = representation_etag(get_engine().snapshot(), response.content_type or "")
        response.set_etag(f"{etag}:{coding}" if coding else etag)
        if "If-None-Match" in request.headers:
            response.make_conditional(request)
    elif coding is not None:
        given, weak = response.get_etag()  # a view's own
        if given is not None and not weak and not given.endswith(f":{coding}"):
            response.set_etag(f"{given}:{coding}")
    return response
