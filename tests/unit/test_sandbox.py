"""The confinement of query processes: no connection leaves them, whatever they try, and memory is bounded.

Each case runs in a fresh interpreter, since confinement cannot be undone; a listener on 127.0.0.1 counts every
connection that reaches it.
"""

from __future__ import annotations

import json
import subprocess
import sys

CONFINED = """
import json, socket, sys
from makerkg.store import sandbox
namespace, filtered = sandbox.confine_network(required=True)
port = int(sys.argv[1])
outcomes = {"namespace": namespace, "seccomp": filtered}
for name, attempt in {
    "tcp": lambda: socket.create_connection(("127.0.0.1", port), timeout=2),
    "udp": lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"x", ("127.0.0.1", port)),
    "tcp6": lambda: socket.create_connection(("::1", port), timeout=2),
    "lookup": lambda: socket.getaddrinfo("example.com", 80),
}.items():
    try:
        attempt()
        outcomes[name] = "reached"
    except OSError as err:
        outcomes[name] = "refused"
import pyoxigraph as ox
try:
    list(ox.Store().query(f"SELECT * {{ SERVICE <http://127.0.0.1:{port}/sparql> {{ ?s ?p ?o }} }}"))
    outcomes["service"] = "answered"
except OSError:
    outcomes["service"] = "refused"
a, b = socket.socketpair()
a.send(b"pipe")
outcomes["unix"] = b.recv(4).decode()
print(json.dumps(outcomes))
"""

MEMORY = """
import json, resource
from makerkg.store import sandbox
limit = sandbox.limit_memory(64 << 20)
try:
    hog = bytearray(256 << 20)
    outcome = "allocated"
except MemoryError:
    outcome = "refused"
print(json.dumps({"outcome": outcome, "limit": limit, "core": resource.getrlimit(resource.RLIMIT_CORE)[0]}))
"""


def test_a_confined_process_reaches_no_network(listener: tuple[int, list[bytes]]) -> None:
    port, reached = listener
    run = subprocess.run(
        [sys.executable, "-c", CONFINED, str(port)], capture_output=True, text=True, timeout=60, check=True
    )
    outcomes = json.loads(run.stdout)
    assert outcomes["namespace"] or outcomes["seccomp"]
    assert {k: outcomes[k] for k in ("tcp", "udp", "tcp6", "lookup", "service", "unix")} == {
        "tcp": "refused",
        "udp": "refused",
        "tcp6": "refused",
        "lookup": "refused",
        "service": "refused",
        "unix": "pipe",
    }
    assert reached == []


def test_memory_beyond_the_limit_is_refused() -> None:
    run = subprocess.run([sys.executable, "-c", MEMORY], capture_output=True, text=True, timeout=60, check=True)
    outcome = json.loads(run.stdout)
    assert outcome["outcome"] == "refused"
    assert outcome["core"] == 0
