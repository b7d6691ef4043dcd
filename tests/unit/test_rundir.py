"""A run's private directory is removed when the run ends, and, when the run was killed before it could remove it
(SIGKILL), by the next run's start. Regression: a killed `makerkg serve` left its directory in the temporary
directory for good."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from makerkg.errors import UsageError
from makerkg.web import rundir
from makerkg.web.rundir import MARK, PREFIX, Layout

# a run that makes its directory, says where, and waits to be killed
RUN = "import sys, tempfile, time; tempfile.tempdir = sys.argv[1]; from makerkg.web.rundir import Layout; " \
      "print(Layout.create().root, flush=True); time.sleep(120)"  # fmt: skip


def test_a_killed_run_s_directory_is_removed_by_the_next_start_and_a_live_one_s_is_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with subprocess.Popen([sys.executable, "-c", RUN, str(tmp_path)], stdout=subprocess.PIPE, text=True) as run:
        assert run.stdout is not None
        try:
            other = Path(run.stdout.readline().strip())
            assert other.parent == tmp_path and (other / MARK).is_file()
            earlier = tmp_path / f"{PREFIX}earlier"  # an earlier version's run: no mark, so it may still run
            earlier.mkdir()
            mine = Layout.create()
            assert other.is_dir() and earlier.is_dir()  # that run lives
            os.kill(run.pid, signal.SIGKILL)
            run.wait()
            again = Layout.create()
            assert not other.exists()
            assert earlier.is_dir() and mine.root.is_dir() and again.root.is_dir()  # held by this process
            mine.remove()
            again.remove()
            assert sorted(p.name for p in tmp_path.iterdir()) == [earlier.name]
        finally:
            run.kill()  # at once, should an assertion fail: the run sleeps for two minutes


def test_the_sweep_leaves_what_is_no_run_s_directory(tmp_path: Path) -> None:
    """A link or a file under a run's name, and a directory whose mark is a link or a FIFO (its opening would block),
    are left as they are, at once."""
    target = tmp_path / "target"
    target.mkdir()
    (target / MARK).touch()  # unlocked: were the link followed, the target would be removed
    (tmp_path / f"{PREFIX}link").symlink_to(target)
    (tmp_path / f"{PREFIX}file").touch()
    linked = tmp_path / f"{PREFIX}linked-mark"
    linked.mkdir()
    (linked / MARK).symlink_to(target / MARK)
    fifo = tmp_path / f"{PREFIX}fifo"
    fifo.mkdir()
    os.mkfifo(fifo / MARK)
    assert rundir.sweep(tmp_path) == []
    assert (target / MARK).is_file() and (tmp_path / f"{PREFIX}file").is_file() and linked.is_dir() and fifo.is_dir()


def test_a_temporary_directory_too_long_for_a_socket_is_told(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Regression: granian failed with a traceback ("path must be shorter than SUN_LEN")."""
    deep = tmp_path / ("d" * 100)
    deep.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(deep))
    with pytest.raises(UsageError, match=r"^TMPDIR: .* too long a path .* set TMPDIR to a shorter one$"):
        Layout.create()
    assert list(deep.iterdir()) == []
