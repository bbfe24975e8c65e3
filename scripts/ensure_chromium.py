"""Make sure Debian's chromium, and a font with Chinese glyphs, are installed for the
browser tests (root + apt only).

Chromium does not come from pip, so it is a Debian package; so is ``fonts-noto-cjk``,
without which Chromium draws the Chinese pages (and their screenshots) as empty boxes.
Exits non-zero with a clear message when one is missing and cannot be installed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

CHROMIUM = "/usr/bin/chromium"
CJK_FONT = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"
# The file that shows each Debian package is installed.
PACKAGES = {"chromium": CHROMIUM, "fonts-noto-cjk": CJK_FONT}


def main() -> int:
    missing = [name for name, path in PACKAGES.items() if not os.path.exists(path)]
    if not missing:
        return 0
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        print(f"missing: install Debian's {' and '.join(missing)}", file=sys.stderr)
        return 1
    print(f"installing {' '.join(missing)} (apt-get)...", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing],
        check=True,
        env=env,
    )
    return 0 if all(os.path.exists(path) for path in PACKAGES.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
