#!/usr/bin/env python3
"""Writes a tiny, deterministic app image as an OCI image layout, for `skopeo copy` to push.

Usage: app_layout.py DIR [REF_NAME]

The image: one uncompressed ustar layer holding `hello.txt` (mode 0644, owner 0:0, mtime 0),
an image config naming it, and an OCI image manifest. The layout's index.json names the
manifest `REF_NAME` (default `app`), so `skopeo copy oci:DIR:app docker://…` finds it. The same
bytes every run: the interop check compares the app image manifest before and after publishing.
"""

import hashlib
import io
import json
import os
import sys
import tarfile

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
CONTENT = b"Hello from the cnb-artifacts interop check: this image is the subject.\n"


def layer_tar() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        info = tarfile.TarInfo("hello.txt")
        info.size = len(CONTENT)
        info.mode = 0o644
        info.mtime = 0
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        tar.addfile(info, io.BytesIO(CONTENT))
    return buf.getvalue()


def compact(value) -> bytes:
    return json.dumps(value, separators=(",", ":"), sort_keys=True).encode()


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def write_blob(root: str, data: bytes) -> dict:
    d = digest(data)
    path = os.path.join(root, "blobs", "sha256", d.split(":", 1)[1])
    with open(path, "wb") as f:
        f.write(data)
    return {"digest": d, "size": len(data)}


def main() -> int:
    if len(sys.argv) not in (2, 3):
        print(__doc__, file=sys.stderr)
        return 2
    root = sys.argv[1]
    ref_name = sys.argv[2] if len(sys.argv) == 3 else "app"
    os.makedirs(os.path.join(root, "blobs", "sha256"), exist_ok=True)
    layer = layer_tar()
    config = compact(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": [digest(layer)]},
        }
    )
    manifest = compact(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, **write_blob(root, config)},
            "layers": [{"mediaType": OCI_LAYER_TAR, **write_blob(root, layer)}],
        }
    )
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": OCI_MANIFEST,
                **write_blob(root, manifest),
                "annotations": {"org.opencontainers.image.ref.name": ref_name},
            }
        ],
    }
    with open(os.path.join(root, "index.json"), "wb") as f:
        f.write(compact(index))
    with open(os.path.join(root, "oci-layout"), "wb") as f:
        f.write(compact({"imageLayoutVersion": "1.0.0"}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
