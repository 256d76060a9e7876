"""Server settings, the bind rule (loopback is open, any other address needs a token) and the listening socket."""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass

from medsearch.errors import BadQuery, UnsafeBind

MB = 1024 * 1024


@dataclass(frozen=True)
class ServeSettings:
    token: str | None = None
    max_upload_bytes: int = 20 * MB
    max_k: int = 100
    max_export_items: int = 200
    thumbnail_cache_bytes: int = 64 * MB
    # Uploaded images (decompression bombs, see medsearch/imaging/limits.py): at most this many decode at once,
    # each refused (413) when its header declares more than max_decoded_bytes, and decoded reduced to at most
    # decode_max_side px a side. Memory budget for uploads: max_concurrent_decodes x (max_decoded_bytes + 16 MiB
    # of header slack + the upload + a reduced copy), about 2 x 180 MiB = 360 MiB over the idle server with these
    # defaults (measured: +311 MiB under four concurrent deflate-DICOM bombs, benchmarks/bomb_memory.py).
    max_decoded_bytes: int = 128 * MB
    max_concurrent_decodes: int = 2
    decode_max_side: int = 1024
    export_image_size: int = 512
    # Host headers accepted; None accepts any. On loopback this stops DNS-rebinding pages from reaching the API.
    allowed_hosts: tuple[str, ...] | None = None
    default_mode: str | None = None  # text search mode when a request names none (None: the library's, hybrid)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name other than localhost may resolve anywhere
        return False


LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]", "::1")


def allowed_hosts_for(host: str) -> tuple[str, ...] | None:
    """Loopback servers answer only to loopback names; others rely on the token."""
    return LOOPBACK_HOSTS if is_loopback(host) else None


def check_bind(host: str, token: str | None) -> None:
    if not is_loopback(host) and not token:
        raise UnsafeBind(
            f"refusing to listen on {host} without an access token",
            hint="pass --token T (or set MEDSEARCH_TOKEN), or bind to 127.0.0.1",
        )


LISTEN_BACKLOG = 2048  # uvicorn's default


def listen_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to (host, port) and listening, for uvicorn to serve on: bound before the server starts,
    so that the address printed is the one served (``port`` 0: a free port the system chooses). An address that
    cannot be bound (the port in use, a host that is not this machine's) is a BadQuery."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET  # as uvicorn decides
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(LISTEN_BACKLOG)
    except OSError as exc:
        sock.close()
        raise BadQuery(f"cannot listen on {host}:{port}: {exc.strerror or exc}",
                       hint="choose another --port (0: any free one) or --host") from None
    return sock


def url_of(host: str, sock: socket.socket) -> str:
    """http://HOST:PORT/ of ``sock``, listening on ``host`` (as given: "localhost" stays; IPv6 in brackets)."""
    port = sock.getsockname()[1]
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"
