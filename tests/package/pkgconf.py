"""Pure helpers of the package test (test_package.py), kept apart so that
test_pkgconf.py can test them without root, dpkg or systemd: where a
chanhost config listens, as the host reads it, and whether that address
is free on this machine.
"""

import re
import socket

# The plain listener when a config has no `listen` line (host/core/config.c).
DEFAULT_LISTEN = ("127.0.0.1", 8000)


def parse_addr(text):
    """ADDR:PORT or [V6ADDR]:PORT (numeric, as the host accepts and as its
    STATUS= line writes them) as (host, port); ValueError otherwise."""
    m = re.fullmatch(r"\[([0-9A-Fa-f:.]+)\]:(\d{1,5})|([0-9.]+):(\d{1,5})", text)
    if not m or int(m.group(2) or m.group(4)) > 65535:
        raise ValueError(f"'{text}' is not ADDR:PORT")
    return m.group(1) or m.group(3), int(m.group(2) or m.group(4))


def listen_address(conf_text):
    """The plain listener's (host, port) in a chanhost config's text, read
    as host/core/config.c reads `listen`: the last line without `tls`
    wins, a bare PORT keeps the address given before, no line gives
    127.0.0.1:8000.  A `#` at the start or after a blank begins a
    comment.  ValueError (naming the line) for a malformed listen line."""
    host, port = DEFAULT_LISTEN
    for n, line in enumerate(conf_text.splitlines(), 1):
        args = re.sub(r"(^|\s)#.*", "", line).split()
        if not args or args[0] != "listen" or args[2:] == ["tls"]:
            continue
        try:
            if len(args) != 2:
                raise ValueError("want listen ADDR:PORT [tls]")
            if args[1].isdigit():
                if int(args[1]) > 65535:
                    raise ValueError(f"port {args[1]} is not in 0..65535")
                port = int(args[1])
            else:
                host, port = parse_addr(args[1])
        except ValueError as e:
            raise ValueError(f"line {n}: {line.strip()!r}: {e}") from None
    return host, port


def address_taken(host, port):
    """Why a TCP listener cannot bind host:port here (the OSError's text),
    or None when it can.  SO_REUSEADDR as libuv sets it, so connections
    in TIME_WAIT do not count."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as e:
            return e.strerror or str(e)
    return None
