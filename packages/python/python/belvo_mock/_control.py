"""The fake's control plane (``/_mock/``) for one key pair, over HTTP with the standard library."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Dict, List, Mapping, Optional, cast

DEFAULT_SECRET_ID = "sandbox-secret-id"
DEFAULT_SECRET_PASSWORD = "sandbox-secret-password"


class ControlError(RuntimeError):
    """The fake refused a control-plane call: ``status`` and the answer's ``body``."""

    def __init__(self, method: str, url: str, status: int, body: str) -> None:
        super().__init__(f"{method} {url} answered {status}: {body}")
        self.status = status
        self.body = body


class BelvoMock:
    """A running fake as one key pair sees it: its URL, its keys and its control plane.

    Every call is scoped to the key pair: ``reset()`` forgets this key pair's links, sessions,
    data, webhook deliveries, webhook settings and request journal, and nothing of another's.
    The virtual clock is the fake's own, shared by every key pair.
    """

    def __init__(
        self,
        url: str,
        secret_id: str = DEFAULT_SECRET_ID,
        secret_password: str = DEFAULT_SECRET_PASSWORD,
        timeout: float = 10.0,
    ) -> None:
        self.url = url.rstrip("/")
        self.secret_id = secret_id
        self.secret_password = secret_password
        self.timeout = timeout
        token = base64.b64encode(f"{secret_id}:{secret_password}".encode()).decode()
        self._authorization = f"Basic {token}"

    def __repr__(self) -> str:
        return f"BelvoMock(url={self.url!r}, secret_id={self.secret_id!r})"

    @property
    def env(self) -> Dict[str, str]:
        """What belvo-python (and the belvo npm SDK) read: URL and keys."""
        return {
            "BELVO_API_URL": self.url,
            "BELVO_SECRET_ID": self.secret_id,
            "BELVO_SECRET_PASSWORD": self.secret_password,
        }

    def health(self) -> Dict[str, Any]:
        """``GET /_mock/health``: ``{"status": "ok", "version": …}``."""
        return self._object("GET", "/_mock/health")

    def reset(self) -> None:
        """Forget everything of this key pair (links, data, webhooks and their URL, requests)."""
        self._call("POST", "/_mock/reset")

    def clock(self) -> Dict[str, Any]:
        """The virtual clock: ``{"now": …, "offset_seconds": N}``."""
        return self._object("GET", "/_mock/clock")

    def advance_clock(self, seconds: float) -> Dict[str, Any]:
        """Move virtual time forward: MFA sessions expire, cooldowns end, and the scheduled
        refreshes that fall due run (with their webhooks) before this returns."""
        return self._object("POST", "/_mock/clock/advance", {"seconds": seconds})

    def set_webhook(self, url: Optional[str], authorization: Optional[str] = None) -> Dict[str, Any]:
        """Where this key pair's webhooks go and the ``Authorization`` they carry (None: none)."""
        return self._object("PUT", "/_mock/webhook", {"url": url, "authorization": authorization})

    def flush(self) -> int:
        """Send every pending webhook now (waiting for its delay or a retry); how many."""
        return int(self._object("POST", "/_mock/webhooks/flush")["flushed"])

    def deliveries(
        self, link_id: Optional[str] = None, status: Optional[str] = None
    ) -> List[Dict[str, Any]]:
        """The webhook journal, newest first: each delivery with its payload and attempts.
        ``status`` is one of pending, delivered, failed, undeliverable."""
        return self._all("/_mock/webhooks", {"link_id": link_id, "status": status})

    def redeliver(self, webhook_id: str) -> Dict[str, Any]:
        """Send a finished delivery (delivered, failed, undeliverable) again, with a fresh
        round of retries; the delivery as it now is."""
        return self._object("POST", f"/_mock/webhooks/{webhook_id}/redeliver")

    def requests(
        self, path: Optional[str] = None, status: Optional[int] = None
    ) -> List[Dict[str, Any]]:
        """This key pair's last 1,000 requests, newest first (no bodies; secrets redacted)."""
        return self._all("/_mock/requests", {"path": path, "status": status})

    def set_scenario(self, link_id: str, scenario: Optional[str]) -> None:
        """How the link's next login (refresh, scheduled or requested) behaves, e.g.
        ``"mock:invalid"`` for a user who changed their password; None: normal again."""
        self._call("PUT", f"/_mock/links/{link_id}/scenario", {"scenario": scenario})

    def widget_token(
        self,
        link_id: Optional[str] = None,
        scopes: str = "read_institutions,write_links",
        **fields: Any,
    ) -> Dict[str, Any]:
        """``POST /api/token/`` with this key pair: ``{"access", "refresh"}`` (two HS512 JWTs).
        ``link_id`` asks for an update-mode token; other keyword arguments (``widget``,
        ``stale_in``, ``fetch_resources``, ``credentials_storage``) go in the body."""
        body: Dict[str, Any] = {
            "id": self.secret_id,
            "password": self.secret_password,
            "scopes": scopes,
            **fields,
        }
        if link_id is not None:
            body["link_id"] = link_id
        return self._object("POST", "/api/token/", body)

    def _all(self, path: str, filters: Mapping[str, Any]) -> List[Dict[str, Any]]:
        query = {k: v for k, v in filters.items() if v is not None}
        query["page_size"] = 1000
        url: Optional[str] = f"{path}?{urllib.parse.urlencode(query)}"
        results: List[Dict[str, Any]] = []
        while url:
            page = self._object("GET", url)
            results.extend(page["results"])
            # `next` is absolute, like Belvo's; follow it as it is.
            url = page.get("next")
        return results

    def _object(
        self, method: str, path: str, body: Optional[Mapping[str, Any]] = None
    ) -> Dict[str, Any]:
        answer = self._call(method, path, body)
        if not isinstance(answer, dict):
            raise ControlError(method, path, 200, f"expected a JSON object, got {answer!r}")
        return cast(Dict[str, Any], answer)

    def _call(self, method: str, path: str, body: Optional[Mapping[str, Any]] = None) -> Any:
        url = path if path.startswith("http") else f"{self.url}{path}"
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, method=method)
        request.add_header("Authorization", self._authorization)
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        # Never through a proxy: the fake is local, and CI machines often set HTTP_PROXY.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(request, timeout=self.timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as error:
            text = error.read().decode(errors="replace")
            raise ControlError(method, url, error.code, text) from None
        return json.loads(raw) if raw else None

