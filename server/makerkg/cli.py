"""The ``makerkg`` command: parses arguments, calls the library, prints. Errors are one line on stderr."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from makerkg import __version__
from makerkg.config import SHACL_ENGINES, Settings, grace, load
from makerkg.errors import MakerkgError, UsageError, ValidationFailed
from makerkg.formats import GRAPH_FORMATS
from makerkg.terminal import table as _table

EXIT_OK = 0
EXIT_IO = 6  # a file or directory that cannot be read or written


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``makerkg`` command; returns the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        settings = load(
            Path(args.config) if args.config else None,
            out=getattr(args, "out", None),
            sources=getattr(args, "sources", None),
            base=getattr(args, "base", None),
            host=getattr(args, "host", None),
            port=getattr(args, "port", None),
            store=getattr(args, "store", None),
            store_graphs=getattr(args, "graphs", None),
            store_default_graph=getattr(args, "default_graph", None),
            store_user=getattr(args, "user", None),
            workers=getattr(args, "workers", None),
            threads=getattr(args, "threads", None),
            proxy=getattr(args, "proxy", None),
        )
        code: int = args.run(args, settings)
        return code
    except ValidationFailed as err:
        print(f"makerkg: {err}", file=sys.stderr)
        print(err.report, file=sys.stderr)
        return err.exit_code
    except MakerkgError as err:
        print(f"makerkg: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except OSError as err:  # a file or directory that cannot be written or read: full disk, no permission, no such
        where = f"{err.filename}: " if err.filename else ""
        print(f"makerkg: {where}{err.strerror or err}", file=sys.stderr)
        return EXIT_IO


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(2, f"makerkg: {message}\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="makerkg", description="Build, validate, query and serve the “创客中国” knowledge graph.")
    parser.add_argument("--version", action="version", version=f"makerkg {__version__}")
    parser.add_argument("--config", metavar="FILE", help="a TOML settings file (also MAKERKG_CONFIG)")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND", parser_class=_Parser)

    out_help = "the build directory (default: ./out, or MAKERKG_OUT)"
    default_graph_help = (
        "the store's graph that holds the merge of the named graphs, for a store whose default graph is not one "
        "(Virtuoso: see docs/scale.md)"
    )

    p = sub.add_parser(
        "build",
        help="sources → validated graph, published atomically",
        description=(
            "Parse the plans listed in the sources manifest, resolve names against the reference data, build the RDF "
            "graph, validate it against the SHACL shapes and publish it (store and dumps). A failed build leaves the "
            "previous one in place."
        ),
    )
    p.add_argument(
        "--sources", metavar="DIR", help="a directory with plans and a manifest.toml (default: the shipped plans)"
    )
    p.add_argument("--out", metavar="DIR", help=out_help)
    p.add_argument("--base", metavar="IRI", help="the IRI base of the data (default https://w3id.org/makerkg/)")
    p.add_argument("--strict", action="store_true", help="fail when a printed name matches no reference row")
    p.add_argument(
        "--drop",
        type=int,
        action="append",
        default=[],
        metavar="EDITION",
        help="publish without EDITION, which the published build holds but the manifest no longer lists "
        "(otherwise the build is refused); repeat for several",
    )
    p.set_defaults(run=_build)

    p = sub.add_parser(
        "validate",
        help="validate a graph against the SHACL shapes",
        description=(
            "Validate FILE (any RDF format, by extension), or the current build, against ontology/shapes.ttl. "
            "Exit 0 when it conforms, 1 on violations (with a report: focus node, path, message)."
        ),
    )
    p.add_argument("file", nargs="?", metavar="FILE")
    p.add_argument(
        "--engine",
        choices=SHACL_ENGINES,
        default=SHACL_ENGINES[0],
        help=f"the SHACL engine (default: {SHACL_ENGINES[0]}, the reference; the build uses the shacl_engine setting)",
    )
    p.add_argument("--out", metavar="DIR", help=out_help)
    p.set_defaults(run=_validate)

    p = sub.add_parser(
        "query",
        help="run a SPARQL query or a named query on the built graph",
        description=("Run SPARQL given as text or as a .rq file, or a named query with --named NAME and --param k=v."),
    )
    p.add_argument("sparql", nargs="?", metavar="SPARQL|FILE.rq")
    p.add_argument("--named", metavar="NAME", help="a named query (see `makerkg queries`)")
    p.add_argument("--param", action="append", default=[], metavar="K=V", help="a parameter of the named query")
    p.add_argument("--format", choices=("table", "json", "csv"), default="table")
    p.add_argument("--out", metavar="DIR", help=out_help)
    p.set_defaults(run=_query)

    p = sub.add_parser(
        "queries", help="list the named queries", description="List the named queries and their parameters."
    )
    p.set_defaults(run=_queries)

    p = sub.add_parser(
        "export",
        help="write the built graph in an RDF format",
        description=("Write the current build in one format; the same build gives byte-identical output."),
    )
    p.add_argument("--format", required=True, choices=[f.name for f in GRAPH_FORMATS])
    p.add_argument("-o", "--output", metavar="FILE", help="the file to write (default: standard output)")
    p.add_argument("--out", metavar="DIR", help=out_help)
    p.set_defaults(run=_export)

    p = sub.add_parser(
        "synth",
        help="write synthetic plans for scale tests",
        description=(
            "Write N synthetic plans in the two published layouts, with a manifest, into DIR: names, places and "
            "tracks reused across editions as in the real plans. Build them with `makerkg build --sources DIR`."
        ),
    )
    p.add_argument("--editions", type=int, required=True, metavar="N")
    p.add_argument("--out", required=True, metavar="DIR", dest="synth_out")
    p.add_argument("--thematic", type=int, default=17, help="thematic contests per edition (default 17)")
    p.add_argument("--seed", type=int, default=2016)
    p.set_defaults(run=_synth)

    p = sub.add_parser(
        "serve",
        help="serve the built graph: SPARQL endpoint, API, pages",
        description=(
            "Serve the current build: the SPARQL 1.1 endpoint at /sparql, the named-query API at /api, the pages, "
            "/health and /metrics. The app runs under granian, behind an nginx of its own that holds slow and idle "
            "clients (proxy = none: granian alone). A newly published build is picked up without a restart; SIGTERM "
            "stops taking connections at once and lets the requests under way finish."
        ),
    )
    p.add_argument("--host", help="the address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="the port (default 8000)")
    p.add_argument("--workers", type=int, help="web server processes (default 2)")
    p.add_argument("--threads", type=int, help="request threads per web server process (default 8)")
    p.add_argument(
        "--proxy",
        choices=("auto", "nginx", "none"),
        help="what holds the clients in front (default auto: nginx if installed)",
    )
    p.add_argument("--store", metavar="URL", help="a remote SPARQL query endpoint to serve from (see `makerkg load`)")
    p.add_argument("--default-graph", metavar="IRI", help=default_graph_help)
    p.add_argument("--out", metavar="DIR", help=out_help)
    p.set_defaults(run=_serve)

    p = sub.add_parser(
        "load",
        help="load the current build into a remote SPARQL store",
        description=(
            "Replace the content of a SPARQL 1.1 store with the current build, graph by graph, over the Graph Store "
            "HTTP Protocol; the default graph gets the merge of the named graphs. Then `makerkg serve --store URL`."
        ),
    )
    p.add_argument("--store", required=True, metavar="URL", help="the store's query endpoint")
    p.add_argument("--graphs", metavar="URL", help="its Graph Store endpoint (guessed for Oxigraph and Fuseki)")
    p.add_argument("--default-graph", metavar="IRI", help=default_graph_help)
    p.add_argument(
        "--user",
        metavar="NAME",
        help="authenticate to the Graph Store as NAME (the password: MAKERKG_STORE_PASSWORD or store_password in the "
        "config file, never an argument)",
    )
    p.add_argument("--out", metavar="DIR", help=out_help)
    p.set_defaults(run=_load)

    p = sub.add_parser(
        "diff",
        help="compare two editions region by region",
        description=("Compare editions A and B: organizers, places, tracks and registration sites, region by region."),
    )
    p.add_argument("a", type=int, metavar="A")
    p.add_argument("b", type=int, metavar="B")
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.add_argument("--out", metavar="DIR", help=out_help)
    p.set_defaults(run=_diff)
    return parser


def _progress(message: str) -> None:
    print(f"… {message.rstrip(' …')}", file=sys.stderr)


def _build(args: argparse.Namespace, settings: Settings) -> int:
    from makerkg.pipeline import build

    result = build(settings, strict=args.strict, drop=args.drop, progress=_progress)
    info = result.build.info
    summary = info.summary
    print(f"built {info.id} in {sum(result.timings.values()):.2f} s → {result.build.path}")
    rows = [[edition, *counts.values(), sum(counts.values())] for edition, counts in summary.contests.items()]
    kinds = list(next(iter(summary.contests.values())).keys()) if summary.contests else []
    _table(["edition", *kinds, "total"], rows, sys.stdout)
    print(
        f"organizations: {summary.organizations} ({summary.printed_organization_names} printed names; "
        f"{summary.organizations_in_every_edition} in every edition); resolution: "
        + ", ".join(f"{k} {v}" for k, v in summary.resolution.items())
    )
    print(
        f"places: {summary.places}; tracks: {summary.tracks}; triples: {info.triples} "
        f"({summary.quads} quads in {len(info.quads_per_graph)} graphs)"
    )
    print(f"validation: conforms to ontology/shapes.ttl ({settings.shacl_engine})")
    if summary.unresolved:
        print(f"unresolved names ({len(summary.unresolved)}), new resources until the reference data names them:")
        for line in summary.unresolved:
            print(f"  {line}")
    return EXIT_OK


def _validate(args: argparse.Namespace, settings: Settings) -> int:
    from makerkg.store import current
    from makerkg.validate import validate_build, validate_file

    if args.file:
        path = Path(args.file)
        if not path.is_file():
            raise UsageError("FILE", f"{path}: no such file")
        report = validate_file(path, args.engine)
        what = str(path)
    else:
        build = current(settings.out)
        workers = os.cpu_count() or 1
        report = validate_build(build.graph_file, build.info.triples, build.info.base, workers, args.engine)
        what = f"build {build.info.id}"
    if report.conforms:
        print(f"{what}: conforms to ontology/shapes.ttl ({args.engine})")
        return EXIT_OK
    raise ValidationFailed(report.text(), len(report.violations))


def _query(args: argparse.Namespace, settings: Settings) -> int:
    from makerkg.queries import bind_parameters, bound_text, load_queries

    if args.named:
        if args.sparql:
            raise UsageError("SPARQL", "give either a query or --named, not both")
        queries = load_queries()
        if args.named not in queries:
            raise UsageError("--named", f"no named query {args.named!r} (see `makerkg queries`)")
        named = queries[args.named]
        params: dict[str, str] = {}
        for item in args.param:
            key, sep, value = item.partition("=")
            if not sep:
                raise UsageError("--param", f"expected K=V, found {item!r}")
            params[key] = value
        from makerkg.store import current

        info = current(settings.out).info  # the base and editions of the build, whatever the settings say
        sparql = bound_text(named, bind_parameters(named, params, info.base, editions=info.editions))
    elif args.sparql:
        candidate = Path(args.sparql)
        sparql = (
            candidate.read_text(encoding="utf-8")
            if args.sparql.endswith(".rq") and candidate.is_file()
            else args.sparql
        )
    else:
        raise UsageError("SPARQL", "give a query, a .rq file or --named NAME")
    _run_query(settings, sparql, args.format)
    return EXIT_OK


def _runner(settings: Settings) -> Any:
    """The in-process, sandboxed query runner over the current build."""
    from makerkg.store import current
    from makerkg.store.local import LocalRunner
    from makerkg.store.worker import spec_for

    return LocalRunner(spec_for(current(settings.out), settings))


def _run_query(settings: Settings, sparql: str, fmt: str) -> None:
    """Check, run and print a query, with the server's pre-check, engine and caps."""
    from makerkg.formats import by_name
    from makerkg.sparql.precheck import precheck
    from makerkg.store.query import Job, solutions, value

    checked = precheck(sparql)
    runner = _runner(settings)
    out = sys.stdout
    if checked.form in ("CONSTRUCT", "DESCRIBE"):
        media = by_name("ttl").media_type
    elif fmt == "table" and checked.form == "SELECT":
        names, found = solutions(runner, sparql, settings.max_rows, prefixes=True)
        _table(names, [[value(row, n) for n in names] for row in found], out)
        print(f"({len(found)} row{'s' if len(found) != 1 else ''})", file=out)
        return
    else:
        media = by_name("csv" if fmt == "csv" else "json").media_type
    job = Job(checked.text, checked.form, media, settings.max_rows, settings.max_answer_bytes, prefixes=True)
    reply = runner.execute(job)
    body = reply.read().decode("utf-8")
    if checked.form == "ASK" and fmt == "table":
        body = "true\n" if json.loads(body)["boolean"] else "false\n"
    out.write(body.replace("\r\n", "\n") if fmt == "csv" else body)
    if reply.answer.truncated:
        print(f"makerkg: the answer was cut at {reply.answer.truncated}", file=sys.stderr)


def _queries(args: argparse.Namespace, settings: Settings) -> int:
    from makerkg.queries import load_queries

    for query in load_queries().values():
        params = ", ".join(f"{p.name}: {p.type}" + ("" if p.required else f" = {p.default}") for p in query.parameters)
        print(f"{query.name}({params})")
        print(f"    {query.title}")
    return EXIT_OK


def _export(args: argparse.Namespace, settings: Settings) -> int:
    from makerkg.export import export
    from makerkg.formats import Kind, by_name
    from makerkg.store import current

    fmt = by_name(args.format, [Kind.GRAPH])
    data = export(current(settings.out), fmt, Path(args.output) if args.output else None)
    if data is not None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    return EXIT_OK


def _synth(args: argparse.Namespace, settings: Settings) -> int:
    from makerkg import resources
    from makerkg.link import load_reference
    from makerkg.synth import synthesise

    if not 1 <= args.editions <= 9999:
        raise UsageError("--editions", f"from 1 to 9999, found {args.editions}")
    if not 1 <= args.thematic <= 10_000:
        raise UsageError("--thematic", f"from 1 to 10000, found {args.thematic}")
    manifest = synthesise(
        load_reference(resources.reference_dir()),
        args.editions,
        Path(args.synth_out),
        thematic=args.thematic,
        seed=args.seed,
    )
    print(f"wrote {args.editions} plans and {manifest}")
    return EXIT_OK


def _load(args: argparse.Namespace, settings: Settings) -> int:
    from makerkg.store import current
    from makerkg.store.remote import graph_store_url, load

    build = current(settings.out)
    graphs = settings.store_graphs or graph_store_url(args.store)
    if settings.store_user is not None and settings.store_password is None:
        raise UsageError("store_password", "a password is needed with store_user (MAKERKG_STORE_PASSWORD)")
    sent = load(build, graphs, args.store, settings.store_default_graph, settings.store_user, settings.store_password)
    for name, count in sent.items():
        print(f"{count:>9} triples → {name}")
    print(f"loaded build {build.info.id} into {graphs}; {args.store} holds every graph's triples")
    return EXIT_OK


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    from makerkg.store import current
    from makerkg.store.pool import SharedLoaders, verify
    from makerkg.web.rundir import Layout

    build = current(settings.out)  # a clear message and exit, before any worker starts, when there is no build
    run = Layout.create()
    # the store is checked through the loader the web processes then share: it starts while the rest loads; old
    # builds' loaders stop once the web processes have left them (twice their grace period)
    loaders = SharedLoaders(run.loaders, settings, 2 * grace(settings))
    checker = loaders.start(build)
    try:
        from makerkg.web.server import listen_address, serve

        def started(how: str) -> None:
            print(f"serving build {build.info.id} at http://{listen_address(settings.host, settings.port)}/ ({how})",
                  file=sys.stderr)  # fmt: skip

        def check() -> None:  # … or when its store cannot be opened or read, before anything starts
            verify(build, checker)
            if settings.store is not None:  # the web processes answer from the remote store: no one joins
                loaders.close()
            else:  # from now on (a loader that could not open the store is not one to start again)
                loaders.follow()

        serve(settings, started, check=check, layout=run)
    finally:
        loaders.close()
        run.remove()
    return EXIT_OK


def _diff(args: argparse.Namespace, settings: Settings) -> int:
    from dataclasses import asdict

    from makerkg.diff import compare, render_table
    from makerkg.store import current

    info = current(settings.out).info
    comparison = compare(_runner(settings), info.base, info.editions, args.a, args.b)
    if args.format == "json":
        json.dump(asdict(comparison), sys.stdout, ensure_ascii=False, indent=2)
        print()
    else:
        render_table(comparison, sys.stdout)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
