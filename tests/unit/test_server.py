"""What `makerkg serve` starts, from its settings: nginx's configuration (checked by nginx itself where it is
installed), granian's command, and the settings that shape them, refused with the setting's name when invalid."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from makerkg.config import environ, load
from makerkg.errors import UsageError
from makerkg.pipeline import BuildResult
from makerkg.web import create_app
from makerkg.web.server import POST_PATHS, _Relay, find_nginx, granian_command, nginx_config


def check_with_nginx(config: str, root: Path) -> None:
    """``nginx -t`` on ``config``, when nginx is installed (tests/e2e runs it for real)."""
    nginx = find_nginx()
    if nginx is None:
        return
    conf = root / "nginx.conf"
    conf.write_text(config, encoding="utf-8")
    done = subprocess.run(
        [nginx, "-t", "-p", str(root), "-c", str(conf), "-e", "stderr"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr


def test_nginx_config_of_the_defaults(tmp_path: Path) -> None:
    settings = load(env={})
    config = nginx_config(settings, tmp_path, f"unix:{tmp_path}/app.sock")
    for line in (
        "listen 127.0.0.1:8000 backlog=4096;",
        "client_header_timeout 10000ms;",
        "client_body_timeout 10000ms;",
        "client_max_body_size 100000;",
        f"server unix:{tmp_path}/app.sock;",
        "keepalive 16;",  # workers × threads: every request thread can keep a connection
        "proxy_read_timeout 40s;",  # query_timeout + 30
        "worker_shutdown_timeout 15s;",  # query_timeout + 5
        "limit of 100000 bytes (max_request_bytes)",
    ):
        assert line in config, line
    check_with_nginx(config, tmp_path)


def test_nginx_config_follows_other_settings(tmp_path: Path) -> None:
    settings = load(
        env={},
        host="::1",
        port=8123,
        header_timeout=2.5,
        body_timeout=30,
        max_request_bytes=5000,
        workers=3,
        threads=4,
        query_timeout=20,
    )
    config = nginx_config(settings, tmp_path, "127.0.0.1:9001")
    for line in (
        "listen [::1]:8123 backlog=4096;",
        "client_header_timeout 2500ms;",
        "client_body_timeout 30000ms;",
        "client_max_body_size 5000;",
        "server 127.0.0.1:9001;",
        "keepalive 12;",
        "proxy_read_timeout 50s;",
        "worker_shutdown_timeout 25s;",
    ):
        assert line in config, line
    check_with_nginx(config, tmp_path)


def test_nginx_listens_on_both_stacks_when_the_host_is_every_ipv6_address(tmp_path: Path) -> None:
    """granian alone on "::" takes IPv4 clients too; nginx in front does the same."""
    config = nginx_config(load(env={}, host="::"), tmp_path, "127.0.0.1:9001")
    assert "listen [::]:8000 backlog=4096 ipv6only=off;" in config
    check_with_nginx(config, tmp_path)


@pytest.mark.parametrize("proxy", ["nginx", "none"])
def test_a_port_another_process_listens_on_is_refused_before_anything_starts(
    built: BuildResult, tmp_path: Path, proxy: str
) -> None:
    """The readiness probes would reach the other process and take it for this server, which then said it served
    and failed a moment later (granian's traceback, or nginx's bind errors)."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "makerkg.cli", "serve", "--port", str(port), "--proxy", proxy],
            capture_output=True, text=True, timeout=120, cwd=tmp_path,
            env={**os.environ, "MAKERKG_OUT": str(built.build.path.parent.parent)},
        )  # fmt: skip
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == f"makerkg: port: 127.0.0.1:{port} is taken by another process\n"


def test_granian_alone_is_refused_a_host_name(built: BuildResult, tmp_path: Path) -> None:
    """granian takes an IP address only (it failed with a traceback); nginx in front takes a name."""
    done = subprocess.run(
        [sys.executable, "-m", "makerkg.cli", "serve", "--host", "localhost", "--proxy", "none"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
        env={**os.environ, "MAKERKG_OUT": str(built.build.path.parent.parent)},
    )  # fmt: skip
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.startswith("makerkg: host: granian alone listens on an IP address, not a name: 'localhost'")


@pytest.mark.parametrize(("line", "message"), [
    ("port = true", "port: expected an integer, found True"),  # it listened on port 1
    ("port = 8965.0", "port: expected an integer, found 8965.0"),
])  # fmt: skip
def test_a_config_file_value_of_another_type_is_refused(tmp_path: Path, line: str, message: str) -> None:
    config = tmp_path / "makerkg.toml"
    config.write_text(line + "\n", encoding="utf-8")
    with pytest.raises(UsageError) as refused:
        load(config, env={})
    assert str(refused.value) == message


def test_the_paths_nginx_allows_post_on_are_the_apps(built: BuildResult, tmp_path: Path) -> None:
    """nginx answers TRACE and CONNECT itself, with the resource's Allow: its list of POST paths is the app's."""
    app = create_app(load(env={}, out=built.build.path.parent.parent, query_workers=1))
    try:
        posted = {rule.rule for rule in app.url_map.iter_rules() if "POST" in (rule.methods or ())}
    finally:
        app.extensions["makerkg"].close()
    assert set(POST_PATHS) == posted
    config = nginx_config(load(env={}), tmp_path, "127.0.0.1:9001")
    assert '~^(/sparql|/reconcile)(\\?|$) "GET, HEAD, POST, OPTIONS";' in config


def test_granian_runs_the_app_as_the_settings_say() -> None:
    settings = load(env={}, workers=3, threads=5, header_timeout=4)
    command = granian_command(settings, ["--uds", "/run/x.sock"], Path("/run/log.json"))
    pairs = dict(zip(command[3:-1:], command[4:-1:], strict=False))
    assert (pairs["--interface"], pairs["--workers"], pairs["--blocking-threads"]) == ("wsgi", "3", "5")
    assert pairs["--http1-header-read-timeout"] == "4000"
    assert pairs["--uds"] == "/run/x.sock" and pairs["--log-config"] == "/run/log.json"
    assert command[-1] == "makerkg.web.wsgi:application" and "--factory" in command


def test_every_setting_reaches_the_app_processes_unchanged() -> None:
    settings = load(env={}, port=8123, proxy="none", public_url="https://kg.example.org/", header_timeout=2.5)
    assert load(env=environ(settings)) == settings


@pytest.mark.parametrize(
    ("env", "parameter", "message"),
    [
        ({"MAKERKG_PROXY": "apache"}, "proxy", "one of auto, nginx, none, found 'apache'"),
        ({"MAKERKG_ACCESS_LOG_FORMAT": "xml"}, "access_log_format", "one of text, json, found 'xml'"),
        ({"MAKERKG_HEADER_TIMEOUT": "61"}, "header_timeout", "at most 60 s, found 61"),
        ({"MAKERKG_PORT": "70000"}, "port", "a TCP port from 1 to 65535 is needed, found 70000"),
        ({"MAKERKG_PORT": "0"}, "port", "a TCP port from 1 to 65535 is needed, found 0"),
        ({"MAKERKG_PORT": "8964.0"}, "port", "expected an integer, found '8964.0'"),
        ({"MAKERKG_HEADER_TIMEOUT": "0"}, "header_timeout", "must be positive, found 0.0"),
        ({"MAKERKG_BODY_TIMEOUT": "-1"}, "body_timeout", "must be positive, found -1.0"),
        ({"MAKERKG_HOST": "127.0.0.1; evil"}, "host", "an IP address or a host name is needed"),
        ({"MAKERKG_PUBLIC_URL": "kg.example.org"}, "public_url", "an http(s) URL with a host, ending with '/', is"),
        ({"MAKERKG_PUBLIC_URL": "https:///kg/"}, "public_url", "an http(s) URL with a host, ending with '/', is"),
        ({"MAKERKG_BASE": "http://ex.org/kg"}, "base", "an http(s) IRI with a host, ending with '/', is needed"),
        ({"MAKERKG_BASE": "http://ex.org/a b/"}, "base", "is needed, found 'http://ex.org/a b/'"),
        ({"MAKERKG_BASE": "http://ex.org/%zz/"}, "base", "is needed, found 'http://ex.org/%zz/'"),
        ({"MAKERKG_BASE": 'http://ex.org/"/'}, "base", "is needed, found 'http://ex.org/\"/'"),
        ({"MAKERKG_BASE": "http:///kg/"}, "base", "is needed, found 'http:///kg/'"),
        ({"MAKERKG_BASE": "http://:80/"}, "base", "is needed, found 'http://:80/'"),
        ({"MAKERKG_BASE": "http://a:b/"}, "base", "is needed, found 'http://a:b/'"),  # a port that is no number
        ({"MAKERKG_BASE": "http://a/\ue000/"}, "base", "is needed, found 'http://a/\\ue000/'"),  # private use
        ({"MAKERKG_BASE": "http://a@b@c/"}, "base", "is needed, found 'http://a@b@c/'"),
        ({"MAKERKG_BASE": "http://a/#x/"}, "base", "is needed, found 'http://a/#x/'"),
        ({"MAKERKG_PUBLIC_URL": "http://a:b/"}, "public_url", "is needed, found 'http://a:b/'"),
        ({"MAKERKG_STORE": "not a url"}, "store", "an http(s) URL with a host is needed, found 'not a url'"),
        ({"MAKERKG_STORE_GRAPHS": "ftp://a/"}, "store_graphs", "an http(s) URL with a host is needed"),
        ({"MAKERKG_STORE_DEFAULT_GRAPH": "not iri>"}, "store_default_graph", "an absolute IRI is needed"),
        ({"MAKERKG_SHACL_ENGINE": "pyrudof"}, "shacl_engine", "one of pyshacl, pyshacl-turbo, found 'pyrudof'"),
    ],
)
def test_bad_server_settings_are_refused_by_name(env: dict[str, str], parameter: str, message: str) -> None:
    with pytest.raises(UsageError) as caught:
        load(env=env)
    assert caught.value.parameter == parameter
    assert message in str(caught.value)


def _relayed(release: bool) -> bytes:
    """What a relay passes on of a child's output written before and after it is released (or dropped)."""
    source_read, source_write = os.pipe()
    target_read, target_write = os.pipe()
    os.set_blocking(target_read, False)
    with os.fdopen(source_read, "rb") as source:
        relay = _Relay(source, target_write)
        os.write(source_write, b"before ")
        time.sleep(0.2)
        with contextlib.suppress(BlockingIOError):
            assert os.read(target_read, 100) == b"", "shown before it was released"
        relay.release() if release else relay.drop()
        os.write(source_write, b"after")
        os.close(source_write)
        relay._thread.join(5)
    os.close(target_write)
    with contextlib.suppress(BlockingIOError):
        return os.read(target_read, 100)
    return b""


def test_the_app_server_s_output_is_held_until_the_store_is_checked() -> None:
    """granian starts while the store is checked: its output is shown, in order, once the check has passed, and
    never when it fails (`makerkg serve` then prints one line)."""
    assert _relayed(release=True) == b"before after"
    assert _relayed(release=False) == b""
