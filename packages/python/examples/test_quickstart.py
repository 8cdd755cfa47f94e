# test_link.py: a link with MFA against the fake, both webhooks received (pytest + belvo-python).
import os

from belvo.client import Client


def test_a_link_with_mfa_sends_both_webhooks(belvo_mock, belvo_webhooks):
    # belvo_mock set BELVO_API_URL and the keys; the app's own code reads them as usual.
    client = Client(os.environ["BELVO_SECRET_ID"], os.environ["BELVO_SECRET_PASSWORD"])
    challenge = client.Links.create("inss_br_employment", "529.982.247-25", "secret-123")
    session, link_id = challenge[0]["session"], challenge[0]["link"]
    link = client.Links.resume(session, "123456", link=link_id)
    assert link["status"] == "valid"

    payloads = belvo_webhooks.wait_for(2)
    assert {p["webhook_type"] for p in payloads} == {"OWNERS", "EMPLOYMENTS"}
    owners = list(client.Owners.list(link=link_id))
    assert owners[0]["document_id"]["document_number"] == "52998224725"


def test_an_mfa_session_expires_on_the_virtual_clock(belvo_mock):
    client = Client(os.environ["BELVO_SECRET_ID"], os.environ["BELVO_SECRET_PASSWORD"])
    challenge = client.Links.create("inss_br_employment", "529.982.247-25", "secret-123")
    belvo_mock.advance_clock(121)  # sessions last 120 s
    answer = client.Links.resume(challenge[0]["session"], "123456", link=challenge[0]["link"])
    assert answer[0]["code"] == "session_expired"
