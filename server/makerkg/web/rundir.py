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

PREFIX = "makerkg-serve-"
LOCK = "serving"  # a file each run holds locked while it lives: the kernel lets go of it however the run ends


@dataclass(frozen=True)
class Layout:
    """This run's private directory (mode 0700): the app server's socket, nginx's files, the metrics files; and the
    name of the query workers' shared loaders, after it."""

    root: Path
    lock: int = field(default=-1, compare=False)  # the descriptor holding LOCK, while the run lives

    @classmethod
    def create(cls) -> Layout:
        """A new directory, locked as this run's; what runs that ended without removing theirs left is removed
        first (``sweep``)."""
        sweep()
        root = Path(tempfile.mkdtemp(prefix=PREFIX))
        # locked before it has its name, so that a sweep never finds it unlocked
        fd = os.open(root / f".{LOCK}", os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.rename(root / f".{LOCK}", root / LOCK)
        return cls(root, fd)

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
    whose LOCK no process holds. A directory without one (still being made, or of an earlier version) is left.
    Returns what was removed."""
    removed = []
    for path in (tmp or Path(tempfile.gettempdir())).glob(f"{PREFIX}*"):
        try:
            found = path.lstat()
            if not stat.S_ISDIR(found.st_mode) or found.st_uid != os.getuid():
                continue  # another user's, or not a directory made by a run
            fd = os.open(path / LOCK, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            continue  # held: that run lives
        else:
            shutil.rmtree(path, ignore_errors=True)  # on Linux, without following a link put inside
            removed.append(path)
        finally:
            os.close(fd)
    return removed
