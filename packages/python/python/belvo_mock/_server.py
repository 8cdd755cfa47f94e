"""A ``belvo-mock`` process of this test run's own: started on a free loopback port, stopped."""

from __future__ import annotations

import atexit
import json
import os
import shutil
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
        # A test run that ends without stopping it (an error, Ctrl-C) still does.
        atexit.register(self.stop)

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
        """SIGTERM (the fake finishes in-flight requests), SIGKILL after ``timeout``; the exit
        code. Its folder (ready file, log) goes too. Calling it again does nothing."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.log_path.parent, ignore_errors=True)
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

    Every ``BELVO_SECRET_*`` / ``BELVO_MOCK_*`` variable of this process is left out of the
    child's environment (a test run's production keys or data folder must never reach a
    throwaway fake); the keys given here are passed instead (the password in the environment,
    not on the command line). ``./fixtures`` of the current folder is not read (an app's own
    fixtures folder is not the fake's) unless ``args`` name ``--fixtures`` or ``env`` sets
    ``BELVO_MOCK_FIXTURES``. ``env`` adds variables (``BELVO_MOCK_*`` settings included).
    Loopback is added to ``NO_PROXY``: webhooks to local receivers skip the run's proxy.
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
        "--webhook-delay", repr(float(webhook_delay)),
        "--log-level", "warn",
    ]
    child_env = {
        k: v
        for k, v in os.environ.items()
        if not (k.startswith("BELVO_SECRET_") or k.startswith("BELVO_MOCK_"))
    }
    child_env.update(env or {})
    # The password by environment, not on the command line (which `ps` shows to everyone).
    child_env["BELVO_SECRET_PASSWORD"] = secret_password
    # Its webhooks go to receivers on loopback: never through the run's HTTP proxy.
    for name in ("NO_PROXY", "no_proxy"):
        kept = child_env.get(name, "")
        child_env[name] = ",".join(p for p in (kept, "127.0.0.1,localhost,::1") if p)
    fixtures_given = any(a == "--fixtures" or a.startswith("--fixtures=") for a in args) or any(
        child_env.get(name) for name in ("BELVO_MOCK_FIXTURES", "BELVO_MOCK_NO_FIXTURES")
    )
    if not fixtures_given:
        command.append("--no-fixtures")
    command += list(args)
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=child_env
        )
    deadline = time.monotonic() + timeout
    try:
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
                raise TimeoutError(
                    f"belvo-mock did not listen within {timeout} s:\n"
                    + log_path.read_text(errors="replace")
                )
            time.sleep(0.005)
    except BaseException:
        # Whatever stopped the wait (an exit, the timeout, Ctrl-C), no fake is left behind.
        if process.poll() is None:
            process.kill()
            process.wait()
        shutil.rmtree(workdir, ignore_errors=True)
        raise
