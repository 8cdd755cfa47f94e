"""Where the ``belvo-mock`` binary is: the override, else the script this wheel installed."""

from __future__ import annotations

import os
import shutil
import sys
import sysconfig
from pathlib import Path

EXE = "belvo-mock" + (".exe" if sys.platform == "win32" else "")


def find_binary() -> str:
    """The path of the ``belvo-mock`` binary.

    ``BELVO_MOCK_BINARY`` wins (a binary built from a checkout, say). Otherwise the wheel's
    script is in the scripts folder of the environment this package was installed into, which
    is not always on ``PATH`` (a venv that was never activated), so that folder is tried first
    and ``PATH`` last.
    """
    override = os.environ.get("BELVO_MOCK_BINARY")
    if override:
        if not os.access(override, os.X_OK):
            raise FileNotFoundError(
                f"BELVO_MOCK_BINARY={override!r} is not an executable file"
            )
        return override
    candidates = [Path(sysconfig.get_path("scripts")) / EXE]
    # The user scheme's name differs by platform (macOS framework builds have their own).
    preferred = getattr(sysconfig, "get_preferred_scheme", None)
    user_scheme = preferred("user") if preferred else f"{os.name}_user"
    if user_scheme in sysconfig.get_scheme_names():
        candidates.append(Path(sysconfig.get_path("scripts", scheme=user_scheme)) / EXE)
    # `pip install --target DIR` puts the package in DIR and the script in DIR/bin; a
    # `--prefix P` install puts it in P/lib/pythonX.Y/site-packages and P/bin.
    here = Path(__file__).resolve().parent
    candidates += [here.parent / "bin" / EXE, here.parent.parent.parent.parent / "bin" / EXE]
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    on_path = shutil.which(EXE)
    if on_path:
        return on_path
    raise FileNotFoundError(
        "the belvo-mock binary was not found beside this package nor on PATH; reinstall the "
        "belvo-mock wheel for this platform, or set BELVO_MOCK_BINARY to a binary's path"
    )
