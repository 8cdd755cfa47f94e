"""``python -m belvo_mock …``: runs the binary with the same arguments, like the script."""

from __future__ import annotations

import os
import subprocess
import sys

from ._binary import find_binary


def main() -> None:
    binary = find_binary()
    args = [binary, *sys.argv[1:]]
    if sys.platform == "win32":
        # No exec on Windows: wait for the child and hand on its exit code.
        sys.exit(subprocess.call(args))
    # exec: the binary becomes this process, so Ctrl-C and SIGTERM reach it directly.
    os.execv(binary, args)


if __name__ == "__main__":
    main()
