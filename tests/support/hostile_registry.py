"""A hostile "registry" on 127.0.0.1: serves whatever manifests a test gives it, unverified.

Real registries refuse to store what these tests need (bytes that are not JSON, a digest that
does not match its bytes, an index whose children lead back to it), so this small server serves
``{reference: (content_type, body)}`` for ``GET/HEAD /v2/<repo>/manifests/<reference>`` and 404
for everything else. Blob reads answer 404 too: a copy must fail before it needs them.
"""

from __future__ import annotations

import http.server
import threading
from typing import Any

LOOPBACK = "127.0.0.1"


class HostileRegistry:
    def __init__(self, manifests: dict[str, tuple[str, bytes]]) -> None:
        self.manifests = manifests
        self.requests: list[str] = []
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet."""

            def _answer(self) -> None:
                owner.requests.append(f"{self.command} {self.path}")
                reference = self.path.rsplit("/manifests/", 1)[-1] if "/manifests/" in self.path else None
                found = owner.manifests.get(reference) if reference else None
                if found is None:
                    body = b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"unknown"}]}'
                    self.send_response(404)
                    self.send_header("Content-Type", "application/json")
                else:
                    content_type, body = found
                    self.send_response(200)
                    self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = _answer
            do_HEAD = _answer

        self._server = http.server.ThreadingHTTPServer((LOOPBACK, 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def host(self) -> str:
        return f"{LOOPBACK}:{self._server.server_address[1]}"

    def __enter__(self) -> HostileRegistry:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
