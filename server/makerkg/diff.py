"""``makerkg diff A B``: two editions compared region by region, built from the named queries."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, TextIO

from makerkg.errors import UsageError
from makerkg.queries import bind_parameters, bound_text, load_queries
from makerkg.store.embedded import Result, text
from makerkg.terminal import table


class Queryable(Protocol):
    def query(self, sparql: str) -> Result: ...


def _rows(
    store: Queryable, name: str, params: dict[str, str], base: str, editions: Sequence[int]
) -> list[dict[str, str]]:
    query = load_queries()[name]
    result = store.query(bound_text(query, bind_parameters(query, params, base, editions=editions)))
    return [{v: text(t) for v, t in zip(result.variables, row, strict=True)} for row in result.rows]


def _split(text: str, separator: str) -> list[str]:
    return sorted(p for p in text.split(separator) if p)


def compare(store: Queryable, a: int, b: int, base: str) -> dict[str, Any]:
    """Organizers, registration sites, tracks and places of editions ``a`` and ``b``; raises UsageError if
    either edition is not in the graph."""
    editions = sorted({int(r["n"]) for r in _editions(store)})
    for name, value in (("A", a), ("B", b)):
        if value not in editions:
            known = ", ".join(str(e) for e in sorted(editions))
            raise UsageError(name, f"no edition {value} in the graph (editions: {known})")
    pair = {"a": str(a), "b": str(b)}
    hosts = {r["region"]: r for r in _rows(store, "region-hosts", pair, base, editions)}
    sites = {r["region"]: r for r in _rows(store, "registration-changes", pair, base, editions)}
    regions = []
    for region, row in sorted(hosts.items(), key=lambda item: item[0]):
        site = sites.get(region, {})
        regions.append(
            {
                "region": region,
                "name": row["regionName"],
                "hosts": {"a": _split(row["hostsInA"], "、"), "b": _split(row["hostsInB"], "、")},
                "hosts_changed": row["changed"] == "true",
                "hosts_renamed": row["renamed"] == "true",
                "sites": {"a": _split(site.get("sitesInA", ""), " "), "b": _split(site.get("sitesInB", ""), " ")},
                "sites_changed": site.get("changed") == "true",
            }
        )
    tracks = [
        {
            "track": r["track"],
            "name": r["trackName"],
            "status": r["status"],
            "places": {"a": _split(r["placesInA"], "、"), "b": _split(r["placesInB"], "、")},
        }
        for r in _rows(store, "tracks-compared", pair, base, editions)
    ]
    since = {"edition": str(b), "since": str(a)}
    new = [
        {"organization": r["organization"], "name": r["name"], "renamed_from": r["renamedFrom"]}
        for r in _rows(store, "orgs-new", since, base, editions)
    ]
    gone = [
        {"organization": r["organization"], "name": r["name"], "renamed_to": r["renamedTo"]}
        for r in _rows(store, "orgs-gone", since, base, editions)
    ]
    places = [
        {
            "place": r["place"],
            "name": r["placeName"],
            "contests": {"a": int(r["contestsInA"]), "b": int(r["contestsInB"])},
        }
        for r in _rows(store, "places-in-both", pair, base, editions)
    ]
    return {
        "a": a,
        "b": b,
        "regions": regions,
        "tracks": tracks,
        "organizations": {"new": new, "gone": gone},
        "places_in_both": places,
    }


def _editions(store: Queryable) -> list[dict[str, str]]:
    result = store.query(
        "SELECT ?n WHERE { ?e a <https://w3id.org/makerkg/ontology#Edition> ; "
        "<https://w3id.org/makerkg/ontology#ordinal> ?n }"
    )
    return [{"n": text(row[0])} for row in result.rows if row[0] is not None]


def render_table(comparison: dict[str, Any], out: TextIO) -> None:
    """The comparison as tables for a terminal; changes are marked with *."""
    a, b = comparison["a"], comparison["b"]
    out.write(f"Regional contests, edition {a} → {b} (* marks a change; renamed: the same host, renamed)\n\n")
    rows: list[Sequence[str]] = []
    for r in comparison["regions"]:
        rows.append(
            [
                r["name"],
                "、".join(r["hosts"]["a"]) or "—",
                "、".join(r["hosts"]["b"]) or "—",
                _host_mark(r),
                " ".join(r["sites"]["a"]) or "—",
                " ".join(r["sites"]["b"]) or "—",
                "*" if r["sites_changed"] else "",
            ]
        )
    table(["region", f"hosts {a}", f"hosts {b}", "", f"registration {a}", f"registration {b}", ""], rows, out)
    changed = sum(1 for r in comparison["regions"] if r["hosts_changed"])
    renamed = sum(1 for r in comparison["regions"] if r["hosts_renamed"])
    moved = sum(1 for r in comparison["regions"] if r["sites_changed"])
    out.write(
        f"\n{changed} region(s) changed hosts; {renamed} kept a host that was renamed; "
        f"{moved} changed registration sites.\n\n"
    )
    out.write(f"Thematic tracks, edition {a} → {b}\n\n")
    table(
        ["track", "status", f"place {a}", f"place {b}"],
        [
            [t["name"], t["status"], "、".join(t["places"]["a"]) or "—", "、".join(t["places"]["b"]) or "—"]
            for t in comparison["tracks"]
        ],
        out,
    )
    out.write(
        f"\nOrganizations new in {b}: {len(comparison['organizations']['new'])}; "
        f"gone since {a}: {len(comparison['organizations']['gone'])}\n\n"
    )
    table(
        ["new", "gone"],
        _columns(
            [
                o["name"] + (f" (renamed from {o['renamed_from']})" if o["renamed_from"] else "")
                for o in comparison["organizations"]["new"]
            ],
            [
                o["name"] + (f" (renamed to {o['renamed_to']})" if o["renamed_to"] else "")
                for o in comparison["organizations"]["gone"]
            ],
        ),
        out,
    )
    out.write(f"\nPlaces hosting contests in both editions: {len(comparison['places_in_both'])}\n")


def _host_mark(region: dict[str, Any]) -> str:
    """* for a change of host; renamed for a host that only changed its name (a documented mkg:Renaming)."""
    marks = (["*"] if region["hosts_changed"] else []) + (["renamed"] if region["hosts_renamed"] else [])
    return " ".join(marks)


def _columns(left: list[str], right: list[str]) -> list[list[str]]:
    return [
        [left[i] if i < len(left) else "", right[i] if i < len(right) else ""]
        for i in range(max(len(left), len(right)))
    ]
