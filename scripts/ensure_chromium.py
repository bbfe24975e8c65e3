"""Make sure Debian's chromium is installed for the browser tests (root + apt only).

Chromium does not come from pip, so this is the one Debian package the tests need.
Exits non-zero with a clear message when it is missing and cannot be installed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

CHROMIUM = "/usr/bin/chromium"


def main() -> int:
    if os.path.exists(CHROMIUM):
        return 0
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        print(f"{CHROMIUM} is missing: install Debian's 'chromium' package", file=sys.stderr)
        return 1
    print("installing chromium (apt-get)...", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "chromium"],
        check=True,
        env=env,
    )
    return 0 if os.path.exists(CHROMIUM) else 1


if __name__ == "__main__":
    sys.exit(main())
