"""The link flow with the official belvo-python SDK, unchanged, against a running fake.

Usage: python check_python.py BASE_URL SECRET_ID SECRET_PASSWORD
"""
import sys

from belvo.client import Client
from belvo.exceptions import RequestError

base, secret_id, secret_password = sys.argv[1:4]
CPF = "529.982.247-25"

# Client() logs in with GET /api/ and raises when the keys are refused.
client = Client(secret_id, secret_password, base)

challenge = client.Links.create("inss_br_employment", CPF, "a-good-password")
assert isinstance(challenge, list), challenge
assert challenge[0]["code"] == "token_required", challenge
element = challenge[0]

link = client.Links.resume(element["session"], "123456", link=element["link"])
assert link["status"] == "valid", link
assert link["id"] == element["link"], link

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

assert client.Links.delete(link["id"]) is True
print("belvo-python: link flow OK")
