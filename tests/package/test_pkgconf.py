"""The package test's pure helpers (pkgconf.py): no root, dpkg or systemd
needed; CTest runs them as unit.deb_helpers too (a name `-E package` keeps)."""

import socket
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pkgconf import DEFAULT_LISTEN, address_taken, listen_address, parse_addr  # noqa: E402

SOURCE_DIR = Path(__file__).resolve().parents[2]


def test_listen_address_of_the_shipped_config():
    assert listen_address((SOURCE_DIR / "etc" / "chanhost.conf").read_text()) == ("127.0.0.1", 8000)


def test_listen_address_reads_as_the_host():
    assert listen_address("") == DEFAULT_LISTEN
    assert listen_address("# listen 0.0.0.0:1\n  # listen 2\nverbosity 1\n") == DEFAULT_LISTEN
    assert listen_address("listen 0.0.0.0:9000  # all interfaces\n") == ("0.0.0.0", 9000)
    # the last plain line wins; a TLS listener is not the plain one
    assert listen_address("listen 127.0.0.1:1\nlisten 10.0.0.1:2\nlisten 0.0.0.0:8443 tls\n") == ("10.0.0.1", 2)
    # a bare port keeps the address before it
    assert listen_address("listen 10.1.2.3:1\nlisten 9001\n") == ("10.1.2.3", 9001)
    assert listen_address("listen 9002\n") == ("127.0.0.1", 9002)
    assert listen_address("\tlisten [::1]:8001\n") == ("::1", 8001)
    # a directive that merely starts with "listen" is another one
    assert listen_address("listen_backlog 511\n") == DEFAULT_LISTEN


@pytest.mark.parametrize("line", ["listen", "listen localhost:8000", "listen 1.2.3.4:70000", "listen 70000",
                                  "listen 1.2.3.4:1 tcp", "listen 1.2.3.4:1 tls extra"])
def test_listen_address_refuses_a_malformed_line(line):
    with pytest.raises(ValueError, match=r"^line 2: "):
        listen_address(f"verbosity 1\n{line}\n")


def test_parse_addr_reads_the_status_line_form():
    assert parse_addr("127.0.0.1:8000") == ("127.0.0.1", 8000)
    assert parse_addr("[::]:0") == ("::", 0)
    for bad in ("127.0.0.1", ":80", "[::1]", "::1:80", "127.0.0.1:80 "):
        with pytest.raises(ValueError):
            parse_addr(bad)


def test_address_taken_sees_a_listener():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert address_taken("127.0.0.1", port)
    # free: a port held by a bound socket that does not listen (with
    # SO_REUSEADDR, as the helper binds) can be bound again, and no other
    # process of a parallel test run can take it in between
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", 0))
        assert address_taken("127.0.0.1", s.getsockname()[1]) is None
