#!/usr/bin/env python3
"""Writes a layers dir of BUILDPACKS × LAYERS layer TOMLs, each declaring one generic artifact
of one small file (64 bytes, distinct contents) with its own tag, for timing `plan`.

Usage: many_layers.py DIR BUILDPACKS LAYERS
"""

import os
import sys


def main() -> int:
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    root, buildpacks, layers = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    group = []
    for b in range(buildpacks):
        bp_id = f"bench/bp{b:03d}"
        group.append(f'[[group]]\nid = "{bp_id}"\nversion = "1.0.0"\napi = "0.12"\n')
        for n in range(layers):
            layer = os.path.join(root, bp_id.replace("/", "_"), f"layer{n:03d}")
            os.makedirs(layer, exist_ok=True)
            with open(os.path.join(layer, "out.bin"), "wb") as f:
                f.write(f"buildpack {b} layer {n}".encode().ljust(64, b"."))
            with open(layer + ".toml", "w") as f:
                f.write(
                    "[types]\nlaunch = true\n\n"
                    "[[additionalArtifact]]\n"
                    'file = "out.bin"\n'
                    f'tag = "${{build.tag}}-b{b}-l{n}"\n'
                    "[additionalArtifact.labels]\n"
                    '"org.opencontainers.image.source" = "${build.image}"\n'
                )
    with open(os.path.join(root, "group.toml"), "w") as f:
        f.write("\n".join(group))
    return 0


if __name__ == "__main__":
    sys.exit(main())
