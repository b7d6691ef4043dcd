"""The private directory of one ``makerkg serve`` run: what its parts find there. Apart from the server's module,
so that the command can make it (and start the store's loader in it) before that module has loaded."""

from __future__ import annotations

import fcntl
import os
import shutil
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from makerkg.errors import UsageError

PREFIX = "makerkg-serve-"
# a file each run makes in its directory once it holds the directory locked (flock, which the kernel lets go however
# the run ends; systemd-tmpfiles leaves a locked directory alone too): a directory holding it and not locked is a
# killed run's
MARK = "serving"
SOCKET_PATH_MAX = 107  # bytes of a Unix socket's path (sun_path, less its closing NUL)


@dataclass(frozen=True)
class Layout:
    """This run's private directory (mode 0700): the app server's socket, nginx's files, the metrics files; and the
    name of the query workers' shared loaders, after it."""

    root: Path
    lock: int = field(default=-1, compare=False)  # the descriptor holding the directory locked, while the run lives

    @classmethod
    def create(cls) -> Layout:
        """A new directory, locked as this run's; what runs that ended without removing theirs left is removed
        first (``sweep``). Raises UsageError when the temporary directory's path is too long for a socket in it."""
        sweep()
        root = Path(tempfile.mkdtemp(prefix=PREFIX))
        layout = cls(root, os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC))
        fcntl.flock(layout.lock, fcntl.LOCK_EX)  # before the mark: a sweep never finds a marked directory unlocked
        (root / MARK).touch(exist_ok=False)
        if len(os.fsencode(layout.socket)) > SOCKET_PATH_MAX:
            layout.remove()
            raise UsageError(
                "TMPDIR",
                f"{root.parent} is too long a path for the app server's socket in it ({layout.socket.name}: at most "
                f"{SOCKET_PATH_MAX} bytes in all); set TMPDIR to a shorter one",
            )
        return layout

    def remove(self) -> None:
        """Remove the directory, then let its lock go."""
        shutil.rmtree(self.root, ignore_errors=True)
        if self.lock >= 0:
            os.close(self.lock)

    @property
    def socket(self) -> Path:
        return self.root / "app.sock"

    @property
    def loaders(self) -> str:
        """The name the query workers' shared loaders listen under (abstract sockets: ``pool.shared_socket``)."""
        return f"{self.root.name}/loaders"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics"

    @property
    def nginx(self) -> Path:
        return self.root / "nginx"

    @property
    def granian_log(self) -> Path:
        return self.root / "granian-log.json"


def sweep(tmp: Path | None = None) -> list[Path]:
    """Remove the directories of this user's runs that ended without removing them (killed by SIGKILL, say): those
    marked as a run's that no process holds locked. One without the mark (still being made, or of an earlier
    version) is left, as is a link, or what another user owns. Returns what was removed."""
    removed = []
    for path in (tmp or Path(tempfile.gettempdir())).glob(f"{PREFIX}*"):
        try:
            found = path.lstat()
            if not stat.S_ISDIR(found.st_mode) or found.st_uid != os.getuid():
                continue  # another user's, or not a directory made by a run
            if not stat.S_ISREG((path / MARK).lstat().st_mode):
                continue
            fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            continue  # held: that run lives
        else:
            if path.is_dir():  # not removed meanwhile by another run's sweep
                shutil.rmtree(path, ignore_errors=True)  # on Linux, without following a link put inside
                removed.append(path)
        finally:
            os.close(fd)
    return removed
