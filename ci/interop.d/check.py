#!/usr/bin/env python3
"""Publishes the fixtures with cnb-artifacts and reads them back with real OCI clients.

Run by ci/interop (which installs the clients, starts the registry and runs this with the
Python that has the `oras` package); not meant to be run by hand, see `ci/interop --help`.

Every check prints one line, `PASS <client>: <what>` or `FAIL <client>: <what>: <why>`, and
a summary line per client at the end. A check listed in ci/interop.d/known-failures prints
`XFAIL` instead of `FAIL` and does not fail the run; if it passes it prints `XPASS` and fails
the run, so the list never goes stale. Exit status: 0 when nothing failed, 1 otherwise.
"""

import argparse
import fnmatch
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tomllib
from collections import OrderedDict
from pathlib import Path

WASM_CONFIG = "application/vnd.wasm.config.v0+json"
HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
COMMAND_TIMEOUT = 180


class CheckFailed(Exception):
    """A check found something wrong; the message says what."""


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def run(argv, cwd=None, env=None) -> bytes:
    """Runs a command; its stdout, or CheckFailed with its stderr."""
    try:
        done = subprocess.run(
            [str(a) for a in argv], cwd=cwd, env=env, capture_output=True, timeout=COMMAND_TIMEOUT
        )
    except FileNotFoundError as e:
        raise CheckFailed(f"cannot run {argv[0]}: {e}") from e
    except subprocess.TimeoutExpired as e:
        raise CheckFailed(f"`{' '.join(map(str, argv))}` took more than {COMMAND_TIMEOUT} s") from e
    if done.returncode != 0:
        err = (done.stderr or done.stdout).decode(errors="replace").strip()
        raise CheckFailed(f"`{' '.join(map(str, argv))}` exited {done.returncode}: {err[-1500:]}")
    return done.stdout


def same_bytes(got: bytes, want: bytes, what: str) -> None:
    if got != want:
        raise CheckFailed(
            f"{what} differs: got {len(got)} bytes {sha256(got)}, want {len(want)} bytes {sha256(want)}"
        )


class Tool:
    """A client binary, or why there is none (then every check of it fails with the reason)."""

    def __init__(self, spec: str):
        self.path, self.missing = (None, spec[len("missing:"):]) if spec.startswith("missing:") else (spec, None)

    def argv(self, *args):
        if self.missing is not None:
            raise CheckFailed(f"not installed: {self.missing}")
        return [self.path, *args]


class Results:
    """Check outcomes, printed as they happen and summarised per client."""

    def __init__(self, known_failures: dict):
        self.known = known_failures
        self.by_client = OrderedDict()
        self.failed = False

    def check(self, client: str, what: str, fn) -> bool:
        key = f"{client}: {what}"
        known = next((reason for pattern, reason in self.known.items() if fnmatch.fnmatchcase(key, f"*{pattern}*")), None)
        try:
            fn()
        except CheckFailed as e:
            if known is None:
                self._record(client, "FAIL", f"FAIL {key}: {e}")
                self.failed = True
            else:
                self._record(client, "XFAIL", f"XFAIL {key}: {e}\n      known failure: {known}")
            return False
        except Exception as e:  # a bug in a client library or here: still one failed check
            self._record(client, "FAIL", f"FAIL {key}: {type(e).__name__}: {e}")
            self.failed = True
            return False
        if known is None:
            self._record(client, "PASS", f"PASS {key}")
        else:
            self._record(client, "XPASS", f"XPASS {key}: listed in known-failures but passed; remove the entry")
            self.failed = True
        return True

    def _record(self, client, outcome, line):
        print(line, flush=True)
        self.by_client.setdefault(client, []).append(outcome)

    def summary(self) -> None:
        print("\nsummary per client:")
        for client, outcomes in self.by_client.items():
            counts = {o: outcomes.count(o) for o in ("PASS", "FAIL", "XFAIL", "XPASS")}
            verdict = "FAIL" if counts["FAIL"] or counts["XPASS"] else "XFAIL" if counts["XFAIL"] else "PASS"
            detail = ", ".join(f"{n} {o.lower()}" for o, n in counts.items() if n)
            print(f"{verdict} {client} ({detail})")


def load_known_failures(path: Path) -> dict:
    """`<pattern> | <reason>` per line, the pattern matching part of `client: what` (`*` is any
    text); `#` starts a comment line."""
    known = {}
    for line in path.read_text().splitlines() if path.exists() else []:
        line = line.strip()
        if line and not line.startswith("#"):
            pattern, _, reason = line.partition("|")
            known[pattern.strip()] = reason.strip() or "(no reason given)"
    return known


class Interop:
    def __init__(self, args):
        self.args = args
        self.registry = args.registry
        self.work = Path(args.work)
        self.work.mkdir(parents=True, exist_ok=True)
        self.bin = args.cnb_artifacts
        self.skopeo = Tool(args.skopeo)
        self.wkg = Tool(args.wkg)
        self.helms = [(name, Tool(spec)) for name, spec in (("helm 3", args.helm3), ("helm 4", args.helm4))]
        self.results = Results(load_known_failures(Path(args.known_failures)))
        self.image = f"{self.registry}/app:1.0"
        # An app image named like the chart, so that a chart can live in the app image's own
        # repository (R-PRESET-4 wants the repository to end in the chart name).
        self.chart_image = f"{self.registry}/hello:1.0"
        self.published = []  # (layers dir, artifact report dict, layout dir)

    # -- helpers --------------------------------------------------------------------------

    def sk(self, *args):
        return run(self.skopeo.argv(*args))

    def raw_manifest(self, reference: str) -> bytes:
        return self.sk("inspect", "--raw", "--tls-verify=false", f"docker://{reference}")

    def fresh_dir(self, *parts) -> Path:
        d = self.work.joinpath(*parts)
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True)
        return d

    @staticmethod
    def source_file(layers: Path, artifact: dict, path: str) -> bytes:
        return (layers / artifact["buildpack"].replace("/", "_") / artifact["layer"] / path).read_bytes()

    def refs(self, artifact: dict):
        """Every reference of an artifact: each tag, and its digest."""
        name = f"{artifact['registry']}/{artifact['repository']}"
        return [f"{name}:{t}" for t in artifact["tags"]] + [f"{name}@{artifact['manifest-digest']}"]

    # -- setup ------------------------------------------------------------------------------

    def seed(self) -> None:
        app = self.work / "app-layout"
        run([sys.executable, Path(__file__).with_name("app_layout.py"), app])
        for image in (self.image, self.chart_image):
            self.sk("copy", "--quiet", "--preserve-digests", "--dest-tls-verify=false", f"oci:{app}:app", f"docker://{image}")
        self.app_manifest = self.raw_manifest(self.image)
        index = json.loads((app / "index.json").read_bytes())
        want = index["manifests"][0]["digest"]
        if sha256(self.app_manifest) != want:
            raise CheckFailed(f"the registry serves the app image as {sha256(self.app_manifest)}, pushed {want}")

    def extra_layers(self) -> Path:
        """A layers dir with what the CLI fixtures lack: two Helm charts and a Wasm component."""
        root = Path(self.args.repo)
        layers = self.fresh_dir("extra-layers")
        bp = layers / "interop_extra"
        (bp / "charts").mkdir(parents=True)
        (bp / "component").mkdir()
        (layers / "group.toml").write_text('[[group]]\nid = "interop/extra"\nversion = "0.0.1"\napi = "0.12"\n')
        for chart in ("hello-0.1.0.tgz", "hello-0.2.0+build.7.tgz"):
            shutil.copy(root / "fixtures" / "charts" / chart, bp / "charts" / chart)
        shutil.copy(root / "fixtures" / "wasm" / "empty-component.wasm", bp / "component" / "component.wasm")
        (bp / "charts.toml").write_text(
            '[[additionalArtifact]]\nfile = "hello-0.1.0.tgz"\ntype = "helm"\n\n'
            '[[additionalArtifact]]\nfile = "hello-0.2.0+build.7.tgz"\ntype = "helm"\n'
        )
        (bp / "component.toml").write_text(
            '[additionalArtifact]\nfile = "component.wasm"\ntype = "wasm"\ntag = "${build.tag}-component"\n'
        )
        return layers

    def chart_beside_app_layers(self) -> Path:
        """A layers dir with one Helm chart published into the app image's own repository."""
        layers = self.fresh_dir("chart-beside-app-layers")
        bp = layers / "interop_beside"
        (bp / "chart").mkdir(parents=True)
        (layers / "group.toml").write_text('[[group]]\nid = "interop/beside"\nversion = "0.0.1"\napi = "0.12"\n')
        shutil.copy(Path(self.args.repo) / "fixtures" / "charts" / "hello-0.1.0.tgz", bp / "chart" / "hello-0.1.0.tgz")
        (bp / "chart.toml").write_text('[additionalArtifact]\nfile = "hello-0.1.0.tgz"\ntype = "helm"\nrepository = "hello"\n')
        return layers

    def publish(self, name: str, layers: Path, image: str) -> None:
        report_path = self.work / f"report-{name}.toml"
        run([self.bin, "publish", "--layers-dir", layers, "--image", image, "--report-out", report_path])
        report = tomllib.loads(report_path.read_text())
        subject = report["subject"]
        if subject["digest"] != sha256(self.app_manifest):
            raise CheckFailed(f"the report names subject {subject['digest']}, the app image is {sha256(self.app_manifest)}")
        # The same plan written as an OCI layout: our manifest bytes, computed without the registry.
        layout = self.fresh_dir(f"layout-{name}")
        shutil.rmtree(layout)
        run([self.bin, "publish", "--layers-dir", layers, "--image", image, "--layout", layout,
             "--digest", subject["digest"], "--manifest-size", str(subject["size"])])
        if not report["artifacts"]:
            raise CheckFailed("published no artifact")
        for artifact in report["artifacts"]:
            self.published.append((layers, artifact, layout))

    # -- checks -----------------------------------------------------------------------------

    def check_skopeo_inspect(self, layers, artifact, layout):
        want = (layout / "blobs" / "sha256" / artifact["manifest-digest"].split(":", 1)[1]).read_bytes()
        if sha256(want) != artifact["manifest-digest"]:
            raise CheckFailed("the layout's manifest blob does not match the reported digest")
        for ref in self.refs(artifact):
            same_bytes(self.raw_manifest(ref), want, f"manifest of {ref}")
        manifest = json.loads(want)
        if manifest.get("subject", {}).get("digest") != sha256(self.app_manifest):
            raise CheckFailed(f"subject is {manifest.get('subject')}, not the app image")

    def check_skopeo_copy(self, layers, artifact, layout):
        ref = self.refs(artifact)[0]
        out = self.fresh_dir("skopeo", artifact["label"].replace("/", "_"))
        self.sk("copy", "--quiet", "--src-tls-verify=false", f"docker://{ref}", f"oci:{out}:x")
        index = json.loads((out / "index.json").read_bytes())
        got = index["manifests"][0]["digest"]
        if got != artifact["manifest-digest"]:
            raise CheckFailed(f"copied manifest is {got}, published {artifact['manifest-digest']}")
        blob = lambda d: (out / "blobs" / "sha256" / d.split(":", 1)[1]).read_bytes()
        layers_desc = json.loads(blob(got))["layers"]
        if len(layers_desc) != len(artifact["files"]):
            raise CheckFailed(f"{len(layers_desc)} layers for {len(artifact['files'])} files")
        for desc, f in zip(layers_desc, artifact["files"]):
            same_bytes(blob(desc["digest"]), self.source_file(layers, artifact, f["path"]), f"layer {f['path']}")

    def check_oras(self, layers, artifact, layout):
        import oras.client  # the venv of ci/interop has it

        ref = self.refs(artifact)[0]
        out = self.fresh_dir("oras", artifact["label"].replace("/", "_"))
        client = oras.client.OrasClient(hostname=self.registry, insecure=True)
        pulled = client.pull(target=ref, outdir=str(out))
        if len(pulled) != len(artifact["files"]):
            raise CheckFailed(f"pulled {len(pulled)} files ({pulled}), published {len(artifact['files'])}")
        for f in artifact["files"]:
            got = out / f["path"]
            if not got.is_file():
                raise CheckFailed(f"no {f['path']} among the pulled files {pulled}")
            same_bytes(got.read_bytes(), self.source_file(layers, artifact, f["path"]), f["path"])

    def check_wkg(self, layers, artifact, layout):
        ref = self.refs(artifact)[0]
        out = self.fresh_dir("wkg", artifact["label"].replace("/", "_")) / "out.wasm"
        run(self.wkg.argv("oci", "pull", "--insecure", self.registry, ref, "-o", out))
        same_bytes(out.read_bytes(), self.source_file(layers, artifact, artifact["files"][0]["path"]), "pulled module")

    def check_helm(self, helm, tool, layers, artifact, layout):
        argv = tool.argv()  # fails first when this Helm is missing
        manifest = json.loads(self.raw_manifest(self.refs(artifact)[-1]))
        config = json.loads((layout / "blobs" / "sha256" / manifest["config"]["digest"].split(":", 1)[1]).read_bytes())
        name, version = config["name"], config["version"]
        out = self.fresh_dir("helm", helm.replace(" ", ""), artifact["label"].replace("/", "_"))
        home = self.fresh_dir("helm-home")
        env = dict(os.environ, HELM_CACHE_HOME=str(home / "cache"), HELM_CONFIG_HOME=str(home / "config"),
                   HELM_DATA_HOME=str(home / "data"))
        chart_ref = f"oci://{artifact['registry']}/{artifact['repository']}"
        run([*argv, "pull", chart_ref, "--version", version, "--plain-http", "-d", out], env=env)
        got = out / f"{name}-{version}.tgz"
        if not got.is_file():
            raise CheckFailed(f"helm wrote {sorted(p.name for p in out.iterdir())}, not {got.name}")
        same_bytes(got.read_bytes(), self.source_file(layers, artifact, artifact["files"][0]["path"]), "pulled chart")

    def check_referrers(self):
        """Every repository's fallback index (Distribution 2.8 has no referrers API) lists its artifacts."""
        by_repo = OrderedDict()
        for _, a, _ in self.published:
            by_repo.setdefault((a["registry"], a["repository"], a.get("fallback-index")), set()).add(a["manifest-digest"])
        tag = sha256(self.app_manifest).replace(":", "-")
        for (registry, repository, fallback), digests in by_repo.items():
            index = json.loads(self.raw_manifest(f"{registry}/{repository}:{tag}"))
            listed = {m["digest"] for m in index.get("manifests", [])}
            if not digests <= listed:
                raise CheckFailed(f"{repository}:{tag} lists {sorted(listed)}, missing {sorted(digests - listed)}")

    def check_app_unchanged(self):
        same_bytes(self.raw_manifest(self.image), self.app_manifest, f"manifest of {self.image}")

    def check_app_copy_all(self):
        out = self.fresh_dir("skopeo-app-all")
        self.sk("copy", "--all", "--preserve-digests", "--quiet", "--src-tls-verify=false", f"docker://{self.image}", f"oci:{out}:app")
        index = json.loads((out / "index.json").read_bytes())
        got = index["manifests"][0]["digest"]
        if got != sha256(self.app_manifest):
            raise CheckFailed(f"copied {got}, the app image is {sha256(self.app_manifest)}")

    def check_republish(self, name, layers, image):
        report_path = self.work / f"report-{name}-again.toml"
        run([self.bin, "publish", "--layers-dir", layers, "--image", image, "--report-out", report_path])
        report = tomllib.loads(report_path.read_text())
        uploaded = {a["label"]: a["bytes-uploaded"] for a in report["artifacts"] if a["bytes-uploaded"]}
        if uploaded:
            raise CheckFailed(f"bytes uploaded again: {uploaded}")

    # -- the run ----------------------------------------------------------------------------

    def main(self) -> int:
        r = self.results
        if not r.check("registry", f"seed the app image {self.image} with skopeo copy", self.seed):
            r.summary()
            return 1
        root = Path(self.args.repo)
        fixtures = [
            ("rfc-example", root / "fixtures" / "cli" / "rfc-example" / "layers", self.image),
            ("multi", root / "fixtures" / "cli" / "multi" / "layers", self.image),
            ("extra", self.extra_layers(), self.image),
            ("chart-beside-app", self.chart_beside_app_layers(), self.chart_image),
        ]
        for name, layers, image in fixtures:
            r.check("cnb-artifacts", f"publish {name} (app image {image})", lambda: self.publish(name, layers, image))

        for layers, a, layout in self.published:
            ref = self.refs(a)[0]
            r.check("skopeo", f"inspect --raw {ref} (and each tag and digest) = our manifest bytes",
                    lambda: self.check_skopeo_inspect(layers, a, layout))
            r.check("skopeo", f"copy {ref} to an OCI layout: each layer = its file",
                    lambda: self.check_skopeo_copy(layers, a, layout))
            r.check("oras", f"oras-py pull {ref}: each file by its title",
                    lambda: self.check_oras(layers, a, layout))
            if a["artifact-type"] == WASM_CONFIG:
                r.check("wkg", f"wkg oci pull {ref} = the module", lambda: self.check_wkg(layers, a, layout))
            if a["artifact-type"] == HELM_CONFIG:
                for helm, tool in self.helms:
                    chart = f"oci://{a['registry']}/{a['repository']} (tag {a['tags'][0] if a['tags'] else '-'})"
                    r.check(helm, f"helm pull {chart} = the chart",
                            lambda: self.check_helm(helm, tool, layers, a, layout))
        r.check("skopeo", "referrers fallback index of each repository lists its artifacts", self.check_referrers)
        r.check("skopeo", f"app image {self.image} manifest byte-unchanged after publishing", self.check_app_unchanged)
        r.check("skopeo", f"copy --all --preserve-digests {self.image} still works", self.check_app_copy_all)
        for name, layers, image in fixtures:
            r.check("cnb-artifacts", f"re-publish {name} uploads 0 bytes", lambda: self.check_republish(name, layers, image))
        r.summary()
        return 1 if r.failed else 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--registry", required=True, help="host:port of a plain-HTTP registry")
    p.add_argument("--work", required=True, help="an empty scratch directory")
    p.add_argument("--repo", required=True, help="the cnb-artifacts checkout (fixtures/)")
    p.add_argument("--cnb-artifacts", required=True, help="the binary under test")
    p.add_argument("--skopeo", required=True, help="path, or missing:<reason>")
    p.add_argument("--wkg", required=True, help="path, or missing:<reason>")
    p.add_argument("--helm3", required=True, help="path, or missing:<reason>")
    p.add_argument("--helm4", required=True, help="path, or missing:<reason>")
    p.add_argument("--known-failures", required=True, help="file of known failures")
    return Interop(p.parse_args()).main()


if __name__ == "__main__":
    sys.exit(main())
