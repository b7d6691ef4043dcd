"""The confinement of query processes: no connection leaves them, whatever they try, and memory is bounded.

Each case runs in a fresh interpreter, since confinement cannot be undone; a listener on 127.0.0.1 counts every
connection that reaches it.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

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

SEALED = """
import json, os, socket, sys
from makerkg.store import sandbox
folder, name = sys.argv[1], sys.argv[2]
held = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)  # held before: what it opens from then on is sealed
sealed = sandbox.sealed()
outcomes = {"sealed": sealed}
for what, attempt in {
    "write": lambda: open(os.path.join(folder, "kept.txt"), "a").write("forged"),
    "write through a held directory": lambda: os.open("kept.txt", os.O_WRONLY, dir_fd=held),
    "create": lambda: open(os.path.join(folder, "new.txt"), "w"),
    "rename": lambda: os.rename(os.path.join(folder, "kept.txt"), os.path.join(folder, "moved.txt")),
    "remove": lambda: os.unlink(os.path.join(folder, "kept.txt")),
    "signal the parent": lambda: os.kill(os.getppid(), 0),
    "abstract socket": lambda: socket.socket(socket.AF_UNIX).connect(chr(0) + name),
}.items():
    try:
        attempt()
        outcomes[what] = "done"
    except OSError:
        outcomes[what] = "refused"
outcomes["read"] = open(os.path.join(folder, "kept.txt")).read()
os.kill(os.getpid(), 0)  # itself, still
print(json.dumps(outcomes))
"""

FILTERED = """
import ctypes, fcntl, json, os, struct, sys, threading
from makerkg.store import sandbox
folder = sys.argv[1]
held = open(os.path.join(folder, "log.txt"), "a")  # as a worker holds the server's log, its standard error
held.write("kept line\\n")
held.flush()
sandbox.confine_network(required=True)
own = sandbox.worker_filter()
libc = ctypes.CDLL(None, use_errno=True)
outcomes = {"own filter": own}
for what, attempt in {
    "chmod": lambda: os.chmod(os.path.join(folder, "log.txt"), 0o777),
    "utime": lambda: os.utime(os.path.join(folder, "log.txt"), (0, 0)),
    "truncate a held file": lambda: os.ftruncate(held.fileno(), 0),
    "shared memory": lambda: libc.shmget(0, 1 << 20, 0o1600) >= 0 or (_ for _ in ()).throw(OSError()),
    "fork": os.fork,
    "session": os.setsid,
    "lock": lambda: fcntl.flock(held.fileno(), fcntl.LOCK_EX),
    "record lock": lambda: fcntl.fcntl(held.fileno(), fcntl.F_SETLK, struct.pack("hhqqi", fcntl.F_RDLCK, 0, 0, 0, 0)),
    "file flags": lambda: fcntl.fcntl(held.fileno(), fcntl.F_SETFL, 0),
    "anonymous file": lambda: os.memfd_create("hoard"),
    "attribute by a newer call": lambda: libc.syscall(463, -100, b"x", 0, b"user.x", None, 0) == 0
    or (_ for _ in ()).throw(OSError(ctypes.get_errno(), "setxattrat")),
}.items():
    try:
        result = attempt()
        if what == "fork" and result == 0:
            os._exit(0)
        outcomes[what] = "done"
    except OSError:
        outcomes[what] = "refused"
ran = []
thread = threading.Thread(target=lambda: ran.append(True))
thread.start()
thread.join()
outcomes["thread"] = "ran" if ran else "not run"
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


def test_a_sealed_process_changes_no_file_and_signals_no_process_outside(tmp_path: Path) -> None:
    """Regression (an outside check): a query worker a query had taken over runs as the server's user, and rewrote
    the build's files (a forgery that outlived a restart), the code the server runs, and the run's socket (every
    client's answers), and stopped the server with SIGSTOP. Sealed (Landlock), it reads what it read, and changes
    nothing."""
    folder = tmp_path / "build"
    folder.mkdir()
    (folder / "kept.txt").write_text("as built", encoding="utf-8")
    name = f"makerkg-test/{tmp_path.name}"
    with socket.socket(socket.AF_UNIX) as listening:
        listening.bind("\0" + name)
        listening.listen(1)
        run = subprocess.run(
            [sys.executable, "-c", SEALED, str(folder), name], capture_output=True, text=True, timeout=60, check=True
        )
    outcomes = json.loads(run.stdout)
    if not outcomes["sealed"]:
        pytest.skip("no Landlock in this kernel")
    refused = {k: v for k, v in outcomes.items() if k not in ("sealed", "read")}
    if outcomes["sealed"] == "read-only files":  # a kernel before Landlock's scopes (6.12)
        refused = {k: v for k, v in refused.items() if k not in ("signal the parent", "abstract socket")}
    assert set(refused.values()) == {"refused"}, outcomes
    assert outcomes["read"] == "as built"
    assert sorted(p.name for p in folder.iterdir()) == ["kept.txt"]


def test_a_worker_changes_no_file_s_mode_holds_no_shared_memory_and_starts_no_process(tmp_path: Path) -> None:
    """Regression (an outside check): a sealed worker still changed files' modes (its run directory 0777: any local
    user could then replace the app server's socket), truncated the server's log through its standard error, held
    System V shared memory that outlived the server, and left a process of its own behind; an eighth locked the
    lock `makerkg build` waits for, set attributes through calls newer than the filter's names, and held memory in
    an anonymous file beyond its limit. Threads it still starts."""
    (tmp_path / "log.txt").write_text("", encoding="utf-8")
    mode = (tmp_path / "log.txt").stat().st_mode
    run = subprocess.run(
        [sys.executable, "-c", FILTERED, str(tmp_path)], capture_output=True, text=True, timeout=60, check=True
    )
    outcomes = json.loads(run.stdout)
    assert outcomes == {
        "own filter": True,
        "chmod": "refused",
        "utime": "refused",
        "truncate a held file": "refused",
        "shared memory": "refused",
        "fork": "refused",
        "session": "refused",
        "lock": "refused",
        "record lock": "refused",
        "file flags": "refused",
        "anonymous file": "refused",
        "attribute by a newer call": "refused",
        "thread": "ran",
    }, outcomes
    assert (tmp_path / "log.txt").read_text(encoding="utf-8") == "kept line\n"
    assert (tmp_path / "log.txt").stat().st_mode == mode
