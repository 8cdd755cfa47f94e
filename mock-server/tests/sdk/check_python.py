"""The link flow with the official belvo-python SDK, unchanged, against a running fake.

Usage: python check_python.py BASE_URL SECRET_ID SECRET_PASSWORD
"""
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import requests
from belvo.client import Client
from belvo.exceptions import RequestError

base, secret_id, secret_password = sys.argv[1:4]
CPF = "529.982.247-25"
received = []
both_arrived = threading.Event()


class Receiver(BaseHTTPRequestHandler):
    """The app's webhook endpoint: records what Belvo POSTs and answers 200."""

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        received.append((self.headers.get("Authorization"), json.loads(body)))
        self.send_response(200)
        self.end_headers()
        if len(received) >= 2:
            both_arrived.set()

    def log_message(self, *args):
        pass


receiver = HTTPServer(("127.0.0.1", 0), Receiver)
threading.Thread(target=receiver.serve_forever, daemon=True).start()
# What Belvo's dashboard does (Developers -> Webhooks): URL + Authorization.
requests.put(
    f"{base}/_mock/webhook",
    json={"url": f"http://127.0.0.1:{receiver.server_port}/belvo", "authorization": "Bearer app-token"},
    auth=(secret_id, secret_password),
    timeout=5,
).raise_for_status()

# Client() logs in with GET /api/ and raises when the keys are refused.
client = Client(secret_id, secret_password, base)

challenge = client.Links.create("inss_br_employment", CPF, "a-good-password")
assert isinstance(challenge, list), challenge
assert challenge[0]["code"] == "token_required", challenge
element = challenge[0]

link = client.Links.resume(element["session"], "123456", link=element["link"])
assert link["status"] == "valid", link
assert link["id"] == element["link"], link

# Both historical_update webhooks arrive with the app's Authorization, and the totals they
# announce are exactly what the lists return.
assert both_arrived.wait(30), received
totals = {}
for authorization, payload in received[:2]:
    assert authorization == "Bearer app-token", authorization
    assert payload["link_id"] == link["id"], payload
    assert payload["webhook_code"] == "historical_update", payload
    totals[payload["webhook_type"]] = payload["data"]
owners = list(client.Owners.list(link=link["id"]))
employments = list(client.session.list("/api/br/employments/", params={"link": link["id"]}))
assert totals["OWNERS"] == {"total_owners": len(owners)}, (totals, len(owners))
assert totals["EMPLOYMENTS"] == {"total_employments": len(employments)}, (totals, len(employments))
assert owners[0]["document_id"]["document_number"] == CPF.replace(".", "").replace("-", "")

for _ in range(3):
    created = client.Links.create("inss_br_employment", CPF, "mock:no-mfa")
    assert created["status"] == "valid", created

# list() follows the absolute `next` URLs verbatim.
ids = [item["id"] for item in client.Links.list(page_size=2)]
assert len(ids) == 4 and len(set(ids)) == 4, ids

assert client.Links.get(link["id"])["id"] == link["id"]

try:
    client.Links.create("inss_br_employment", CPF, "mock:invalid", raise_exception=True)
    raise AssertionError("mock:invalid must fail")
except RequestError as error:
    assert error.status_code == 400, error.status_code
    assert error.detail[0]["code"] == "login_error", error.detail

# Widget access tokens: a new connection, and update mode for the link (what the widget guides
# do with WidgetToken.create).
import base64


def claims(jwt):
    payload = jwt.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


fresh = client.WidgetToken.create(raise_exception=True)
assert set(fresh) == {"access", "refresh"}, fresh
assert claims(fresh["access"])["token_type"] == "access", claims(fresh["access"])
assert claims(fresh["access"])["scopes"] == ["read_institutions", "write_links"]
update = client.WidgetToken.create(link=link["id"], raise_exception=True)
assert claims(update["access"])["link"]["id"] == link["id"], claims(update["access"])

assert client.Links.delete(link["id"]) is True
receiver.shutdown()
print(f"belvo-python: link flow OK ({len(employments)} employments, webhooks received, widget tokens)")
