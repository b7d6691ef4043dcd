"""The private directory of one ``makerkg serve`` run: what its parts find there. Apart from the server's module,
so that the command can make it (and start the store's loader in it) before that module has loaded."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Layout:
    """This run's private directory (mode 0700): the app server's socket, nginx's files, the metrics files; and the
    name of the query workers' shared loaders, after it."""

    root: Path

    @classmethod
    def create(cls) -> Layout:
        return cls(Path(tempfile.mkdtemp(prefix="makerkg-serve-")))

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
