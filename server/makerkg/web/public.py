"""Where clients are told the server is: absolute URLs in the service description, the OpenAPI document and the
named-query listing.

With ``public_url`` set, they are built from it and the request's Host header is never reflected. Without it, they
are built from the request's host (after the trusted proxies' ``X-Forwarded-Host`` and ``-Proto``), and the answer
says so with ``Vary``, so that no shared cache hands one host's links to a client of another.
"""

from __future__ import annotations

from typing import Any

from flask import Response, g, request, url_for

from makerkg.web.engine import get_engine

_REFLECTED = "makerkg_host_reflected"


def host_url() -> str:
    """``scheme://host/`` as the request reached the server (after the trusted proxies' ``X-Forwarded-*``), the host
    as sent: ASCII, an internationalised name in its xn-- form. (Werkzeug's ``request.host_url`` turns it into an
    IRI with Python's IDNA 2003 codec, which raises on valid IDNA 2008 names such as ``xn--fa-hia.de``.)"""
    return f"{request.scheme}://{request.host}/"


def external_url(endpoint: str, **values: Any) -> str:
    """The absolute URL of ``endpoint``: under ``public_url``, or under the request's host (marking the answer as
    varying with it)."""
    path = url_for(endpoint, **values)
    public = get_engine().settings.public_url
    if public:
        return public + path.lstrip("/")
    g.setdefault(_REFLECTED, True)
    return host_url() + path.lstrip("/")


def base_url() -> str:
    """The URL the server is reached at, ending with '/'."""
    public = get_engine().settings.public_url
    if public:
        return public
    g.setdefault(_REFLECTED, True)
    return host_url()


def add_vary(response: Response) -> Response:
    """An ``after_request`` hook: an answer built from the request's host varies with the headers that set it."""
    if g.get(_REFLECTED):
        response.vary.add("Host")
        if get_engine().settings.trusted_proxies:
            response.vary.add("X-Forwarded-Host")
            response.vary.add("X-Forwarded-Proto")
    return response
