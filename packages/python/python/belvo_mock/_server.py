"""A ``belvo-mock`` process of this test run's own: started on a free loopback port, stopped."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Mapping, Optional, Sequence

from ._binary import find_binary
from ._control import DEFAULT_SECRET_ID, DEFAULT_SECRET_PASSWORD, BelvoMock


class BelvoMockServer(BelvoMock):
    """A fake this process started: a :class:`BelvoMock` that also owns the process.

    Use it as a context manager, or call :meth:`stop`.
    """

    def __init__(
        self,
        url: str,
        secret_id: str,
        secret_password: str,
        process: "subprocess.Popen[bytes]",
        log_path: Path,
    ) -> None:
        super().__init__(url, secret_id, secret_password)
        self.process = process
        self.log_path = log_path

    def __enter__(self) -> "BelvoMockServer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def log(self) -> str:
        """What the fake printed (banner, warnings)."""
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self, timeout: float = 10.0) -> Optional[int]:
        """SIGTERM (the fake finishes in-flight requests), SIGKILL after ``timeout``; the exit code."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def start_server(
    *,
    args: Sequence[str] = (),
    secret_id: str = DEFAULT_SECRET_ID,
    secret_password: str = DEFAULT_SECRET_PASSWORD,
    webhook_delay: float = 0.0,
    binary: Optional[str] = None,
    env: Optional[Mapping[str, str]] = None,
    timeout: float = 10.0,
) -> BelvoMockServer:
    """Start the fake on ``127.0.0.1`` port 0 and return once it listens.

    The keys are passed as flags and every ``BELVO_SECRET_*`` / ``BELVO_MOCK_*`` variable of
    this process is left out of the child's environment: a test run's production keys or
    data folder must never reach a throwaway fake. ``./fixtures`` of the current folder is
    not read (an app's own fixtures folder is not the fake's) unless ``args`` name
    ``--fixtures``. ``env`` adds variables (``BELVO_MOCK_*`` settings included).
    """
    binary = binary or find_binary()
    workdir = Path(tempfile.mkdtemp(prefix="belvo-mock-"))
    ready = workdir / "ready.json"
    log_path = workdir / "belvo-mock.log"
    command = [
        binary,
        "--addr", "127.0.0.1:0",
        "--ready-file", str(ready),
        "--secret-id", secret_id,
        "--secret-password", secret_password,
        "--webhook-delay", repr(float(webhook_delay)),
        "--log-level", "warn",
    ]
    if not any(a == "--fixtures" or a.startswith("--fixtures=") for a in args):
        command.append("--no-fixtures")
    command += list(args)
    child_env = {
        k: v
        for k, v in os.environ.items()
        if not (k.startswith("BELVO_SECRET_") or k.startswith("BELVO_MOCK_"))
    }
    child_env.update(env or {})
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=child_env
        )
    deadline = time.monotonic() + timeout
    while True:
        if ready.exists():
            url = json.loads(ready.read_text())["url"]
            return BelvoMockServer(url, secret_id, secret_password, process, log_path)
        code = process.poll()
        if code is not None:
            raise RuntimeError(
                f"belvo-mock exited with code {code} before listening:\n"
                + log_path.read_text(errors="replace")
            )
        if time.monotonic() > deadline:
            process.kill()
            process.wait()
            raise TimeoutError(
                f"belvo-mock did not listen within {timeout} s:\n"
                + log_path.read_text(errors="replace")
            )
        time.sleep(0.005)
