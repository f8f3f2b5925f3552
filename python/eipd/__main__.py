"""``python -m eipd …`` runs the packaged eipd binary with the same arguments."""
import os
import subprocess
import sys

from eipd import find_eipd_bin


def main() -> int:
    binary = find_eipd_bin()
    if sys.platform == "win32":
        return subprocess.call([binary, *sys.argv[1:]])
    os.execv(binary, [binary, *sys.argv[1:]])
    return 1  # not reached


if __name__ == "__main__":
    sys.exit(main())
