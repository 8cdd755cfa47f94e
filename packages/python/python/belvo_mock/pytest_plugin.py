"""The pytest plugin (registered through the ``pytest11`` entry point): a fake per test run
(per xdist worker), reset before every test that asks for it.

Fixtures:

- ``belvo_mock_server`` (session): the fake, started on 127.0.0.1 port 0 with
  ``--webhook-delay 0``, or the one ``--belvo-mock-url`` names.
- ``belvo_mock`` (function): the key pair reset before the test and ``BELVO_API_URL``,
  ``BELVO_SECRET_ID``, ``BELVO_SECRET_PASSWORD`` set for it (what belvo-python reads).
- ``belvo_webhooks`` (function): a local receiver already set as the key pair's webhook URL.
"""

from __future__ import annotations

import os
import secrets
from typing import Iterator, List, Optional

import pytest

from ._binary import find_binary
from ._control import DEFAULT_SECRET_ID, DEFAULT_SECRET_PASSWORD, BelvoMock, ControlError
from ._receiver import WebhookReceiver
from ._server import start_server


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("belvo-mock", "belvo-mock (a local fake of Belvo's API)")
    group.addoption(
        "--belvo-mock-url",
        dest="belvo_mock_url",
        metavar="URL",
        default=None,
        help="use the fake already running at URL instead of starting one "
        "(also the BELVO_MOCK_URL variable or the belvo_mock_url ini setting)",
    )
    parser.addini("belvo_mock_url", "URL of an already running fake to use", default="")
    parser.addini(
        "belvo_mock_args",
        "extra belvo-mock flags for the fake the plugin starts, e.g. --mfa never",
        type="args",
        default=[],
    )
    parser.addini(
        "belvo_mock_secret_id",
        "secret id the tests use (also BELVO_MOCK_SECRET_ID)",
        default="",
    )
    parser.addini(
        "belvo_mock_secret_password",
        "secret password the tests use (also BELVO_MOCK_SECRET_PASSWORD)",
        default="",
    )


def _setting(config: pytest.Config, option: Optional[str], env: str, ini: str) -> Optional[str]:
    """A command-line option, else the environment, else the ini file."""
    return option or os.environ.get(env) or config.getini(ini) or None


def _external_url(config: pytest.Config) -> Optional[str]:
    return _setting(config, config.getoption("belvo_mock_url"), "BELVO_MOCK_URL", "belvo_mock_url")


def _keys(config: pytest.Config) -> "tuple[str, str]":
    secret_id = _setting(config, None, "BELVO_MOCK_SECRET_ID", "belvo_mock_secret_id")
    password = _setting(config, None, "BELVO_MOCK_SECRET_PASSWORD", "belvo_mock_secret_password")
    return secret_id or DEFAULT_SECRET_ID, password or DEFAULT_SECRET_PASSWORD


def pytest_report_header(config: pytest.Config) -> List[str]:
    url = _external_url(config)
    if url:
        return [f"belvo-mock: the fake at {url}"]
    try:
        return [f"belvo-mock: {find_binary()} (started when a test asks for it)"]
    except FileNotFoundError as error:
        return [f"belvo-mock: {error}"]


@pytest.fixture(scope="session")
def belvo_mock_server(request: pytest.FixtureRequest) -> Iterator[BelvoMock]:
    """The fake of this test run (of this xdist worker): started once, stopped at the end."""
    config = request.config
    secret_id, secret_password = _keys(config)
    url = _external_url(config)
    if url:
        fake = BelvoMock(url, secret_id, secret_password)
        try:
            fake.health()
        except (OSError, ControlError, ValueError) as error:
            pytest.fail(f"--belvo-mock-url {url}: no fake answers there ({error})", pytrace=False)
        try:
            # With the keys: a fake started with others would refuse every test's reset.
            fake.clock()
        except ControlError as error:
            pytest.fail(
                f"--belvo-mock-url {url}: the fake refuses the keys {secret_id!r} ({error.status});"
                " set belvo_mock_secret_id / belvo_mock_secret_password (or BELVO_MOCK_SECRET_ID /"
                " BELVO_MOCK_SECRET_PASSWORD) to the keys it was started with",
                pytrace=False,
            )
        yield fake
        return
    server = start_server(
        args=config.getini("belvo_mock_args"),
        secret_id=secret_id,
        secret_password=secret_password,
        webhook_delay=0,
    )
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def belvo_mock(belvo_mock_server: BelvoMock, monkeypatch: pytest.MonkeyPatch) -> BelvoMock:
    """The fake for one test: its key pair reset, and the environment belvo-python reads set.

    ``belvo.client.Client(os.environ["BELVO_SECRET_ID"], os.environ["BELVO_SECRET_PASSWORD"])``
    then talks to the fake (the URL comes from ``BELVO_API_URL``).
    """
    fake = BelvoMock(
        belvo_mock_server.url, belvo_mock_server.secret_id, belvo_mock_server.secret_password
    )
    fake.reset()
    for name, value in fake.env.items():
        monkeypatch.setenv(name, value)
    return fake


@pytest.fixture
def belvo_webhooks(belvo_mock: BelvoMock) -> Iterator[WebhookReceiver]:
    """A receiver on 127.0.0.1 set as the key pair's webhook URL, with a Bearer token of its
    own as the Authorization (``.authorization``)."""
    with WebhookReceiver() as receiver:
        receiver.authorization = f"Bearer {secrets.token_hex(16)}"
        belvo_mock.set_webhook(receiver.url, receiver.authorization)
        yield receiver
