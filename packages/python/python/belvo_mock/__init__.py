"""belvo-mock: a faithful local fake of Belvo's Brazil employment API, from Python.

The wheel installs the ``belvo-mock`` binary; this package starts it, drives its control
plane and receives its webhooks. With pytest installed the plugin in
:mod:`belvo_mock.pytest_plugin` is registered automatically (fixtures ``belvo_mock``,
``belvo_mock_server`` and ``belvo_webhooks``).

Outside pytest::

    from belvo_mock import start_server

    with start_server() as fake:
        client = belvo.client.Client(fake.secret_id, fake.secret_password, fake.url)
"""

from ._binary import find_binary
from ._control import DEFAULT_SECRET_ID, DEFAULT_SECRET_PASSWORD, BelvoMock, ControlError
from ._receiver import ReceivedWebhook, WebhookReceiver
from ._server import BelvoMockServer, start_server

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_SECRET_ID",
    "DEFAULT_SECRET_PASSWORD",
    "BelvoMock",
    "BelvoMockServer",
    "ControlError",
    "ReceivedWebhook",
    "WebhookReceiver",
    "find_binary",
    "start_server",
    "__version__",
]
