"""The confinement of a process that runs queries: no network, bounded memory, no core dumps.

pyoxigraph evaluates ``SERVICE`` by making HTTP requests itself, so whatever the checks before it miss, the process
that runs a query must be unable to reach any network. Two mechanisms the kernel enforces, each enough alone:

1. A new, empty network namespace (``unshare(CLONE_NEWNET)``; as an unprivileged user inside a new user namespace):
   the process sees no interface at all, not even loopback, so no connection, lookup or datagram can leave it.
2. A seccomp filter (libseccomp, through ``pyseccomp``) that makes ``socket()`` fail with EACCES for every address
   family but AF_UNIX, so that even an inherited namespace gives no network. The query worker keeps its pipe to the
   web process, an AF_UNIX socket created before the filter.

Both are applied where the kernel allows; a process that gets neither refuses to run queries (``SandboxError``)
unless the operator turned the sandbox off. Memory is bounded by ``RLIMIT_AS``: an allocation past it fails, and
Oxigraph (Rust) aborts the process, which the pool reports as a query that needed too much memory, instead of the
kernel's OOM killer choosing a victim on the whole machine.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import logging
import os
import resource
import socket
import threading
from dataclasses import dataclass

log = logging.getLogger(__name__)

_CLONE_NEWUSER = 0x10000000
_CLONE_NEWNET = 0x40000000


class SandboxError(OSError):
    """The process could not be confined as required."""


@dataclass(frozen=True)
class Confinement:
    """What was applied to the process."""

    namespace: str  # "network", "user+network", or "" when no new namespace could be made
    seccomp: bool
    memory_limit: int | None  # bytes of address space, or None
    capabilities: bool = True  # capabilities still held (a query worker gives them up)
    traceable: bool = True  # other processes of its user may trace it (a query worker is made untraceable)
    sealed: str = ""  # what Landlock forbids it (``sealed()``), "" when nothing
    own_filter: bool = False  # a worker's own filter is in force (``worker_filter()``)

    def describe(self) -> str:
        parts = []
        if self.namespace:
            parts.append(f"{self.namespace} namespace")
        if self.seccomp:
            parts.append("seccomp socket filter")
        if not self.traceable:
            parts.append("not traceable")
        if self.sealed:
            parts.append(self.sealed)
        if self.own_filter:
            parts.append("no new process, no lock")
        if not self.capabilities:
            parts.append("no capabilities")
        return " + ".join(parts) or "none"


def _unshare(flags: int) -> bool:
    """unshare(2) through libc: the os module has it only from Python 3.12."""
    libc = ctypes.CDLL(None, use_errno=True)
    return int(libc.unshare(ctypes.c_int(flags))) == 0


def _new_network_namespace() -> str:
    """Move the calling thread (call it before any other thread starts) into a new, empty network namespace."""
    if _unshare(_CLONE_NEWNET):
        return "network"
    if _unshare(_CLONE_NEWUSER | _CLONE_NEWNET):
        return "user+network"
    return ""


_OTHERS_MEMORY = ("ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd", "kcmp")
# what neither a loader nor a worker calls, and what a taken-over worker could do with it though sealed
# (``sealed``): change a file's mode, owner, times or attributes (Landlock's rights do not cover them), truncate
# or fill a file it holds open (the server's log, its standard error), hold memory outside its limit that outlives
# the server (System V's shared memory, queues and semaphores; the kernel's keys)
_NEVER_NEEDED = (
    *("chmod", "fchmod", "fchmodat", "fchmodat2", "chown", "fchown", "lchown", "fchownat"),
    *("utime", "utimes", "utimensat", "futimesat"),
    *("setxattr", "lsetxattr", "fsetxattr", "removexattr", "lremovexattr", "fremovexattr"),
    *("truncate", "ftruncate", "fallocate"),
    *("shmget", "msgget", "semget", "add_key", "request_key", "keyctl"),
    *(463, 466, 469),  # setxattrat, removexattrat (Linux 6.13), file_setattr (6.17), by number: younger than
    # some libseccomp's table of names (the same numbers on every architecture: the generic table)
)
# each call, which of its arguments names the process, and, for those that may name a group of processes too, the
# argument that says what is named and its value for one process
_OTHERS_SETTINGS: tuple[tuple[str, int, tuple[int, int] | None], ...] = (
    ("setpriority", 1, (0, os.PRIO_PROCESS)),
    ("prlimit64", 0, None),
    ("sched_setaffinity", 0, None),
    ("sched_setscheduler", 0, None),
    ("sched_setparam", 0, None),
    ("sched_setattr", 0, None),
    ("ioprio_set", 1, (0, 1)),  # IOPRIO_WHO_PROCESS
)


def _seccomp_socket_filter() -> bool:
    """Refuse socket() for every address family above AF_UNIX (all that reach a network), and io_uring, which can
    make sockets without that call, for this thread and every thread it starts."""
    try:
        import pyseccomp as seccomp
    except (ImportError, OSError) as err:  # OSError: libseccomp itself is missing
        log.warning("no seccomp filter: %s", err)
        return False
    try:
        rules = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
        rules.add_rule(seccomp.ERRNO(errno.EACCES), "socket", seccomp.Arg(0, seccomp.GT, socket.AF_UNIX))
        rules.add_rule(seccomp.ERRNO(errno.EPERM), "io_uring_setup")
        # what reads or writes another process's memory or descriptors: a worker a query had taken over could
        # otherwise forge its siblings' answers (each is also made untraceable: ``untraceable``)
        for call in _OTHERS_MEMORY:
            with contextlib.suppress(ValueError, RuntimeError, OSError):  # a call this libseccomp does not know
                rules.add_rule(seccomp.ERRNO(errno.EPERM), call)
        # and what changes another process of the same user (0: the caller itself, which is allowed): its priority,
        # its limits (the loader's descriptors, say), its scheduling
        for call, who, which in _OTHERS_SETTINGS:
            with contextlib.suppress(ValueError, RuntimeError, OSError):
                rules.add_rule(seccomp.ERRNO(errno.EPERM), call, seccomp.Arg(who, seccomp.NE, 0))
                if which is not None:  # a group of processes, or all of the user's
                    rules.add_rule(seccomp.ERRNO(errno.EPERM), call, seccomp.Arg(which[0], seccomp.NE, which[1]))
        for never in _NEVER_NEEDED:
            with contextlib.suppress(ValueError, RuntimeError, OSError):
                rules.add_rule(seccomp.ERRNO(errno.EPERM), never)
        rules.load()
    except (OSError, RuntimeError, ValueError) as err:
        log.warning("no seccomp filter: %s", err)
        return False
    return True


def address_space() -> int:
    """The bytes of address space the process holds now."""
    with open("/proc/self/statm", encoding="ascii") as handle:
        return int(handle.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


def confine_network(required: bool) -> tuple[str, bool]:
    """Cut the calling process off every network; raises SandboxError when ``required`` and nothing applied.

    Call it first thing in a new process, before any thread starts: a namespace is per thread, and threads
    started later inherit the caller's.
    """
    namespace = _new_network_namespace()
    filtered = _seccomp_socket_filter()
    if required and not (namespace or filtered):
        raise SandboxError(
            errno.EPERM,
            "this system allows neither a new network namespace nor a seccomp filter, so query workers could reach "
            "the network (SERVICE); run where one of them is allowed, or set sandbox = false to run unconfined "
            "(never on the open internet)",
        )
    return namespace, filtered


_PR_CAPBSET_DROP = 24
_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL = 47, 4
_CAPABILITY_VERSION_3 = 0x20080522


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def drop_capabilities() -> bool:
    """Give up every capability for good, in the calling thread and the threads it starts later (call it before
    any thread starts: capabilities are per thread): a process running as root keeps its user but loses its powers
    over other processes and files (ptrace, reading what its user may not, ...). Written with prctl(2) and
    capset(2) through libc: neither the os module nor a library of the standard set has them. True when the
    process holds no capability afterwards."""
    libc = ctypes.CDLL(None, use_errno=True)
    with open("/proc/sys/kernel/cap_last_cap", encoding="ascii") as handle:
        last = int(handle.read())
    for capability in range(last + 1):  # the bounding set: no later execve can get them back
        libc.prctl(_PR_CAPBSET_DROP, capability, 0, 0, 0)  # EPERM without CAP_SETPCAP: then it holds none to drop
    libc.prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    header = _CapHeader(_CAPABILITY_VERSION_3, 0)
    empty = (_CapData * 2)()  # effective, permitted and inheritable, all zero
    libc.capset(ctypes.byref(header), empty)
    return held_capabilities() == 0


_PR_GET_DUMPABLE, _PR_SET_DUMPABLE = 3, 4
_PR_SET_NO_NEW_PRIVS = 38

# Landlock (Linux 5.13 on; its scopes from 6.12): its three system calls, written with ctypes, since neither the os
# module nor a well-kept library offers them with the scopes (the one package on the registry is a pre-release
# without them). The numbers are the same on every architecture (the generic system call table).
_LANDLOCK_CREATE_RULESET, _LANDLOCK_RESTRICT_SELF = 444, 446
_LANDLOCK_CREATE_RULESET_VERSION = 1
# every right that changes the file system: write, truncate, remove, make, rename across directories (by ABI)
_LANDLOCK_WRITES = {
    1: sum(1 << bit for bit in (1, 4, 5, 6, 7, 8, 9, 10, 11, 12)),
    2: 1 << 13,  # REFER
    3: 1 << 14,  # TRUNCATE
}
_LANDLOCK_SCOPES = 0b11  # ABI 6: no abstract Unix socket, and no signal, outside the process's own domain


class _LandlockRuleset(ctypes.Structure):
    _fields_ = [
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    ]


def sealed() -> str:
    """Forbid the calling process (and what it starts) every change to the file system, through any descriptor it
    opens from now on, and, where the kernel has Landlock's scopes, every signal and abstract Unix socket outside
    itself: a worker a query had taken over runs as the server's user, which owns the build's files, the run's
    socket directory and perhaps the code, and may signal the server's processes. Descriptors open already (the
    pipe, the standard three) stay as they are. Returns what was applied ("" where Landlock is missing)."""
    libc = ctypes.CDLL(None, use_errno=True)
    abi = int(libc.syscall(_LANDLOCK_CREATE_RULESET, None, ctypes.c_size_t(0), _LANDLOCK_CREATE_RULESET_VERSION))
    if abi < 1:
        return ""
    writes = sum(rights for since, rights in _LANDLOCK_WRITES.items() if abi >= since)
    scoped = _LANDLOCK_SCOPES if abi >= 6 else 0
    size = ctypes.sizeof(_LandlockRuleset) if scoped else _LandlockRuleset.scoped.offset
    ruleset = _LandlockRuleset(writes, 0, scoped)
    fd = int(libc.syscall(_LANDLOCK_CREATE_RULESET, ctypes.byref(ruleset), ctypes.c_size_t(size), 0))
    if fd < 0:
        return ""
    try:
        libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)  # what Landlock asks of a process without CAP_SYS_ADMIN
        if int(libc.syscall(_LANDLOCK_RESTRICT_SELF, fd, 0)) != 0:
            return ""
    finally:
        os.close(fd)
    return "read-only files, no signal out" if scoped else "read-only files"


def untraceable() -> bool:
    """Make the calling process non-dumpable: a process of its user that holds no capability (a sibling query worker
    a query had taken over, say) can then neither trace it nor read or write its memory (``/proc/PID/mem``), which
    it could to forge its answers. Call it before giving up capabilities, which it survives: a sibling could attach
    between the two otherwise. True when the process is non-dumpable afterwards."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)
    return int(libc.prctl(_PR_GET_DUMPABLE, 0, 0, 0, 0)) == 0


_CLONE_THREAD = 0x00010000
# fcntl's commands that lock a file or take a lease on it (F_SETLK, F_SETLKW, F_OFD_SETLK, F_OFD_SETLKW,
# F_SETLEASE), or change an open file's flags (F_SETFL: O_APPEND off, to write over the server's log)
_FCNTL_REFUSED = (6, 7, 37, 38, 1024, 4)
_IOCTL_REFUSED = (0x40086602, 0x401C5820)  # FS_IOC_SETFLAGS, FS_IOC_FSSETXATTR: a file's flags


def worker_filter() -> bool:
    """The filter each worker loads on top of the loader's (the loader forks workers, locks nothing it could be
    refused): no new process, session or process group (threads it still starts), no lock or lease on a file, no
    change of an open file's flags or attributes, no anonymous file (``memfd_create``: memory outside the limit). A
    worker a query had taken over could otherwise leave a process behind that outlives the server, hold the lock
    the next `makerkg build` waits for, write over the server's log, or hold memory beyond its limit. True when it
    is in force."""
    try:
        import pyseccomp as seccomp
    except (ImportError, OSError):
        return False
    try:
        rules = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
        for call in ("fork", "vfork", "setsid", "setpgid", "flock", "memfd_create"):
            rules.add_rule(seccomp.ERRNO(errno.EPERM), call)
        rules.add_rule(seccomp.ERRNO(errno.EPERM), "clone", seccomp.Arg(0, seccomp.MASKED_EQ, _CLONE_THREAD, 0))
        for command in _FCNTL_REFUSED:
            rules.add_rule(seccomp.ERRNO(errno.EPERM), "fcntl", seccomp.Arg(1, seccomp.EQ, command))
        for request in _IOCTL_REFUSED:
            rules.add_rule(seccomp.ERRNO(errno.EPERM), "ioctl", seccomp.Arg(1, seccomp.EQ, request))
        # clone3's flags are in memory, out of the filter's reach: refused as unknown, so that the C library makes
        # its threads with clone, as it does on kernels without clone3
        with contextlib.suppress(ValueError, RuntimeError, OSError):
            rules.add_rule(seccomp.ERRNO(errno.ENOSYS), "clone3")
        rules.load()
    except (OSError, RuntimeError, ValueError) as err:
        log.warning("no filter of new processes: %s", err)
        return False
    return True


def held_capabilities() -> int:
    """The calling thread's effective and permitted capabilities, as a bit mask (0: none)."""
    held = 0
    with open(f"/proc/self/task/{threading.get_native_id()}/status", encoding="ascii") as lines:
        for line in lines:
            if line.startswith(("CapEff:", "CapPrm:")):
                held |= int(line.split()[1], 16)
    return held


def limit_memory(extra: int) -> int:
    """Let the process grow by ``extra`` bytes of address space beyond what it holds now; returns the limit."""
    limit = address_space() + extra
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a query that aborts leaves no core file behind
    return limit
