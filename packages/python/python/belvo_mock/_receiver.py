"""A webhook endpoint on loopback that records what the fake POSTs, for tests to wait on."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List, Optional


@dataclass(frozen=True)
class ReceivedWebhook:
    """One POST as it arrived: the path, the headers (names in lower case) and the payload."""

    path: str
    headers: Dict[str, str]
    payload: Dict[str, Any]


class WebhookReceiver:
    """Answers 200 to every POST on ``127.0.0.1`` (a free port) and records it.

    ``received`` holds the payloads in arrival order, ``requests`` the whole requests.
    """

    def __init__(self, path: str = "/belvo-webhooks") -> None:
        self.requests: List[ReceivedWebhook] = []
        self._arrived = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                try:
                    payload = json.loads(raw)
                except ValueError:
                    payload = {"_unparsed": raw.decode(errors="replace")}
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()
                with receiver._arrived:
                    receiver.requests.append(
                        ReceivedWebhook(
                            self.path, {k.lower(): v for k, v in self.headers.items()}, payload
                        )
                    )
                    receiver._arrived.notify_all()

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the test's output is not the place for an access log

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_port}{path}"
        #: What the fake is told to send as ``Authorization`` (the ``belvo_webhooks`` fixture
        #: sets a Bearer token of its own); compare with ``requests[i].headers``.
        self.authorization: Optional[str] = None
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="belvo-webhooks", daemon=True
        )
        self._thread.start()

    def __repr__(self) -> str:
        return f"WebhookReceiver(url={self.url!r}, received={len(self.requests)})"

    def __enter__(self) -> "WebhookReceiver":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def received(self) -> List[Dict[str, Any]]:
        """The payloads so far, in arrival order."""
        with self._arrived:
            return [r.payload for r in self.requests]

    def wait_for(self, count: int, timeout: float = 5) -> List[Dict[str, Any]]:
        """Block until at least ``count`` webhooks arrived; their payloads (all so far).

        Raises ``TimeoutError`` naming what did arrive. With the fake's default
        ``--webhook-delay 0`` they come right after the call that caused them; with a delay,
        ``advance_clock`` or ``flush`` sends them at once.
        """
        with self._arrived:
            if not self._arrived.wait_for(lambda: len(self.requests) >= count, timeout):
                got = [(p.payload.get("webhook_type"), p.payload.get("webhook_code")) for p in self.requests]
                raise TimeoutError(f"{count} webhook(s) expected within {timeout} s, got {got}")
            return [r.payload for r in self.requests]

    def clear(self) -> None:
        with self._arrived:
            self.requests.clear()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


__all__ = ["ReceivedWebhook", "WebhookReceiver"]
