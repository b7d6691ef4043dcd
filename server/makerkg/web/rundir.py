"""The private directory of one ``makerkg serve`` run: what its parts find there. Apart from the server's module,
so that the command can make it (and start the store's loader in it) before that module has loaded."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Layout:
    """This run's private directory (mode 0700): the app server's socket, the query workers' shared loaders'
    sockets, nginx's files, the metrics files."""

    root: Path

    @classmethod
    def create(cls) -> Layout:
        return cls(Path(tempfile.mkdtemp(prefix="makerkg-serve-")))

    @property
    def socket(self) -> Path:
        return self.root / "app.sock"

    @property
    def loaders(self) -> Path:
        return self.root / "loaders"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics"

    @property
    def nginx(self) -> Path:
        return self.root / "nginx"

    @property
    def granian_log(self) -> Path:
        return self.root / "granian-log.json"
