#!/usr/bin/env python3
"""The `oras` peer of ci/bench.d/many.sh: pushes each file as an artifact of its own with the
`oras` Python SDK (the version ci/interop pins), one after the other, with one OrasClient, as a
CI script using the SDK would. Each artifact: the file as its one layer (title = file name), the
SDK's empty config, tagged TAG in HOST/REPOSITORY, plain HTTP.

Usage: oras_push.py HOST REPOSITORY TAG=FILE...
"""

import logging
import sys


def main() -> int:
    if len(sys.argv) < 4 or any("=" not in a for a in sys.argv[3:]):
        print(__doc__, file=sys.stderr)
        return 2
    import oras.client  # the venv of ci/interop.d/tools.sh has it

    logging.getLogger("oras").setLevel(logging.WARNING)
    host, repository = sys.argv[1], sys.argv[2]
    client = oras.client.OrasClient(hostname=host, insecure=True)
    for pair in sys.argv[3:]:
        tag, path = pair.split("=", 1)
        client.push(target=f"{host}/{repository}:{tag}", files=[path], disable_path_validation=True, quiet=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
