"""Server settings and the bind rule: loopback is open, any other address needs a token."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from medsearch.errors import UnsafeBind

MB = 1024 * 1024


@dataclass(frozen=True)
class ServeSettings:
    token: str | None = None
    max_upload_bytes: int = 20 * MB
    max_k: int = 100
    max_export_items: int = 200
    thumbnail_cache_bytes: int = 64 * MB
    export_image_size: int = 512


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name other than localhost may resolve anywhere
        return False


def check_bind(host: str, token: str | None) -> None:
    if not is_loopback(host) and not token:
        raise UnsafeBind(
            f"refusing to listen on {host} without an access token",
            hint="pass --token T (or set MEDSEARCH_TOKEN), or bind to 127.0.0.1",
        )
