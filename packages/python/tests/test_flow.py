"""The fixtures as an app's test suite uses them, with belvo-python unchanged."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from belvo.client import Client
from belvo.exceptions import RequestError

from belvo_mock import WebhookReceiver, __version__, start_server

CPF = "529.982.247-25"


def client() -> Client:
    # What an app does: keys from its settings, the URL from BELVO_API_URL.
    return Client(os.environ["BELVO_SECRET_ID"], os.environ["BELVO_SECRET_PASSWORD"])


def complete_link(api: Client, password: str = "a-good-password") -> dict:
    challenge = api.Links.create("inss_br_employment", CPF, password)
    assert challenge[0]["code"] == "token_required", challenge
    return api.Links.resume(challenge[0]["session"], "123456", link=challenge[0]["link"])


def test_the_environment_points_belvo_python_at_the_fake(belvo_mock):
    assert os.environ["BELVO_API_URL"] == belvo_mock.url
    assert belvo_mock.url.startswith("http://127.0.0.1:")
    assert (os.environ["BELVO_SECRET_ID"], os.environ["BELVO_SECRET_PASSWORD"]) == (
        belvo_mock.secret_id,
        belvo_mock.secret_password,
    )
    assert belvo_mock.health() == {"status": "ok", "version": __version__}


def test_a_link_completed_with_mfa_announces_owners_and_employments(belvo_mock, belvo_webhooks):
    api = client()
    link = complete_link(api)
    assert link["status"] == "valid", link

    payloads = belvo_webhooks.wait_for(2)
    assert sorted(p["webhook_type"] for p in payloads) == ["EMPLOYMENTS", "OWNERS"]
    for request in belvo_webhooks.requests:
        assert request.headers["authorization"] == belvo_webhooks.authorization
        assert request.payload["link_id"] == link["id"]
        assert request.payload["webhook_code"] == "historical_update"
    totals = {p["webhook_type"]: p["data"] for p in payloads}
    owners = list(api.Owners.list(link=link["id"]))
    employments = list(api.session.list("/api/br/employments/", params={"link": link["id"]}))
    assert totals == {
        "OWNERS": {"total_owners": len(owners)},
        "EMPLOYMENTS": {"total_employments": len(employments)},
    }
    journal = belvo_mock.deliveries(link_id=link["id"])
    assert [d["status"] for d in journal] == ["delivered", "delivered"]
    assert any(r["path"] == "/api/links/" and r["status"] == 428 for r in belvo_mock.requests())


def test_each_test_starts_from_an_empty_key_pair(belvo_mock):
    api = client()
    assert list(api.Links.list()) == []
    complete_link(api)
    assert len(list(api.Links.list())) == 1
    belvo_mock.reset()
    assert list(api.Links.list()) == []


def test_a_scenario_set_on_a_link_fails_its_next_refresh(belvo_mock, belvo_webhooks):
    api = client()
    link = complete_link(api)
    belvo_webhooks.wait_for(2)
    belvo_mock.set_scenario(link["id"], "mock:invalid")
    belvo_mock.advance_clock(11 * 60)  # past the 10-minute refresh cooldown
    api.session.post(f"/api/links/{link['id']}/refresh/", data={})
    payloads = belvo_webhooks.wait_for(3)
    failed = payloads[2]
    assert (failed["webhook_type"], failed["webhook_code"]) == ("LINK", "invalid_credentials")
    assert api.Links.get(link["id"])["status"] == "invalid"


def test_the_virtual_clock_expires_an_mfa_session(belvo_mock):
    api = client()
    challenge = api.Links.create("inss_br_employment", CPF, "a-good-password")[0]
    before = belvo_mock.clock()["offset_seconds"]
    belvo_mock.advance_clock(121)
    assert belvo_mock.clock()["offset_seconds"] == before + 121
    with pytest.raises(RequestError) as raised:
        api.Links.resume(
            challenge["session"], "123456", link=challenge["link"], raise_exception=True
        )
    assert raised.value.status_code == 400
    assert raised.value.detail[0]["code"] == "session_expired"


def test_webhooks_wait_in_the_journal_until_a_url_is_set(belvo_mock):
    api = client()
    belvo_mock.set_webhook(None)
    link = complete_link(api)
    journal = belvo_mock.deliveries(link_id=link["id"])
    assert {d["status"] for d in journal} == {"undeliverable"}
    with WebhookReceiver() as receiver:
        belvo_mock.set_webhook(receiver.url)
        for delivery in journal:
            belvo_mock.redeliver(delivery["webhook_id"])
        assert len(receiver.wait_for(2)) == 2


def jwt_claims(token: str) -> dict:
    import base64
    import json

    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def test_widget_token_gives_a_token_pair_and_an_update_mode_one(belvo_mock):
    fresh = belvo_mock.widget_token()
    assert set(fresh) == {"access", "refresh"}
    access = jwt_claims(fresh["access"])
    assert (access["token_type"], access["exp"] - access["iat"]) == ("access", 600)
    link = complete_link(client())
    update = jwt_claims(belvo_mock.widget_token(link["id"], stale_in="30d")["access"])
    assert update["link"] == {"id": link["id"], "status": "valid", "institution": "inss_br_employment"}
    assert update["stale_in"] == "30d"


def test_python_dash_m_runs_the_binary():
    done = subprocess.run(
        [sys.executable, "-m", "belvo_mock", "--version"], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"belvo-mock {__version__}"


def test_a_bad_flag_is_reported_with_the_fakes_own_message():
    with pytest.raises(RuntimeError, match="--no-such-flag"):
        start_server(args=["--no-such-flag"])


def test_the_password_stays_off_the_command_line_and_stop_cleans_up(tmp_path):
    fake = start_server(secret_id="quiet-id", secret_password="not-for-ps")
    try:
        with open(f"/proc/{fake.process.pid}/cmdline", "rb") as cmdline:
            argv = cmdline.read().split(b"\0")
        assert b"not-for-ps" not in argv, argv
        assert fake.clock()["offset_seconds"] == 0  # the keys work
    finally:
        assert fake.stop() == 0
    assert not fake.log_path.parent.exists()
    assert fake.stop() == 0  # again: nothing left to do


def test_a_fixtures_folder_from_env_replaces_no_fixtures(tmp_path):
    with start_server(env={"BELVO_MOCK_FIXTURES": str(tmp_path)}) as fake:
        assert fake.health()["status"] == "ok"
        assert "0 override file(s)" in fake.log()
