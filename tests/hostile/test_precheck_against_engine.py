"""The pre-check against the engine itself: texts made of the pieces that read differently to different parsers
(escapes in strings, IRIs and prefixed names, quotes, comments ended by CR, keywords glued to names) are run by
Oxigraph in a confined process; whenever the engine tries to reach the network (its SERVICE call fails with the
sandbox's refusal), the pre-check must have refused the text. The sandbox makes the attempt harmless; this test
makes sure the pre-check's clear refusal comes first."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from makerkg.errors import QueryRefused, QuerySyntaxError
from makerkg.sparql.precheck import precheck

ENGINE = """
import json, sys
from makerkg.store import sandbox
sandbox.confine_network(required=True)
import pyoxigraph as ox
store = ox.Store()
store.add(ox.Quad(ox.NamedNode("http://e/s"), ox.NamedNode("http://e/p"), ox.Literal("o"), ox.DefaultGraph()))
for line in sys.stdin:
    query = json.loads(line)
    try:
        result = store.query(query)
        if not isinstance(result, ox.QueryBoolean):
            list(result)
        outcome = "ran"
    except SyntaxError:
        outcome = "syntax"
    except OSError:  # an in-memory store reads no file: an OSError is a connection the sandbox refused
        outcome = "network"
    except Exception:
        outcome = "failed"
    print(json.dumps(outcome), flush=True)
"""

TARGET = "<http://127.0.0.1:1234/x>"
# elements of a group that Oxigraph reads one way and a careless second reader another: quotes escaped in strings,
# in IRIs and in prefixed names; comments ended by CR; strings of every kind holding the other quote
ELEMENTS = [
    "?s ex:p ?o .",
    "?s ex:p\\' ?o .",
    "?s ex:q\\# ?o .",
    'BIND("a\\u0022" AS ?z1)',
    "BIND('a\\u0027' AS ?z2)",
    'FILTER(?o != "x\'y")',
    "FILTER(?o != 'x\"y')",
    "# a comment with ' and \"\n",
    "# a comment ' \"\r",
    "<http://e/\\u0041'> ex:p ?o .",
    "?s ex:p <http://e/'> .",
    'VALUES ?v { "a\\"b" }',
    'BIND("""a"b\'c""" AS ?z3)',
    "BIND('''a'b\"c''' AS ?z4)",
    "OPTIONAL { ?s ex:p ?o }",
    "?s ex:p ?o FILTER(1<2)",
]
REACHES = [
    f"SERVICE {TARGET} {{ ?a ?b ?c }}",
    f"service {TARGET} {{}}",
    f"SeRvIcE\t{TARGET}{{}}",
    "SERVICEx:y {}",
    f"SERVICE\n{TARGET} {{}}",
    f"{{ SERVICE {TARGET} {{}} }}",
]
SPACES = [" ", "\n", "\r", "\t", "\r\n"]


@st.composite
def smuggled(draw: st.DrawFn) -> str:
    before = draw(st.lists(st.sampled_from(ELEMENTS), max_size=4))
    after = draw(st.lists(st.sampled_from(ELEMENTS), max_size=4))
    space = draw(st.sampled_from(SPACES))
    body = space.join([*before, draw(st.sampled_from(REACHES)), *after])
    return f"PREFIX ex: <http://e/> PREFIX x: <http://127.0.0.1:1234/> SELECT * WHERE {{{space}{body}{space}}}"


@pytest.fixture(scope="module")
def engine() -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen(
        [sys.executable, "-c", ENGINE], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1
    )
    yield process
    assert process.stdin is not None and process.stdout is not None
    process.stdin.close()
    process.wait(timeout=30)
    process.stdout.close()


def run(engine: subprocess.Popen[str], query: str) -> str:
    assert engine.stdin is not None and engine.stdout is not None
    engine.stdin.write(json.dumps(query) + "\n")
    engine.stdin.flush()
    return str(json.loads(engine.stdout.readline()))


@settings(deadline=None, derandomize=True, database=None, max_examples=2000, suppress_health_check=list(HealthCheck))
@given(query=smuggled())
def test_whatever_reaches_for_the_network_is_refused_first(engine: subprocess.Popen[str], query: str) -> None:
    outcome = run(engine, query)
    event(outcome)
    if outcome != "network":
        return
    with pytest.raises((QueryRefused, QuerySyntaxError)):
        precheck(query)


def test_the_engine_does_reach_for_it() -> None:
    """The oracle works: a plain SERVICE is seen trying, and refused by the pre-check."""
    query = f"SELECT * {{ SERVICE {TARGET} {{ ?s ?p ?o }} }}"
    done = subprocess.run(
        [sys.executable, "-c", ENGINE], input=json.dumps(query) + "\n", capture_output=True, text=True, timeout=60
    )
    assert json.loads(done.stdout) == "network"
    with pytest.raises(QueryRefused):
        precheck(query)
