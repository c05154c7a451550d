#!/usr/bin/env python3
"""Turns the measurements of ci/bench into the Markdown report of docs/performance.md.

Usage: report.py --bin CNB_ARTIFACTS --reps N [--peers TSV] [--large TSV] [--load FILE]
                 [--failed "NAME ..."]

--peers: the workloads many, helm and wasm (ci/bench.d/common.sh writes it), one line per
measurement: workload, round trip, client, phase (publish, republish), artifacts, seconds,
requests the wan proxy received, requests by method (`GET=3,HEAD=2`). Medians of wall time;
ratios are the peer's median time divided by cnb-artifacts' (above 1: cnb-artifacts is faster).
The peers' versions are read from the tools named by BENCH_PYTHON, BENCH_HELM and BENCH_WKG.

--large: the workload large (ci/bench.d/large.sh), one line per measurement: kind, size in
bytes, seconds (or bytes for `republish-bytes`, or NA), peak RSS in KiB, CPU seconds of the
registry process during the measurement (or NA). Medians of wall time and registry CPU; maxima
of peak RSS.

--load: `uptime` lines taken before the first workload and after each; --failed: the workloads
that failed (named in the report).
"""

import argparse
import os
import platform
import re
import statistics
import subprocess
import sys
from collections import defaultdict

MIB = 1024 * 1024
# Issue 14's targets.
TARGET_VS_SKOPEO = 1.05
TARGET_VS_CURL = 0.95
TARGET_RSS_MIB = 32
TARGET_MANY_PUBLISH_S = 3.0
TARGET_MANY_REPUBLISH_S = 1.5
TARGET_MANY_VS_PEER = 5.0


def sh(*argv) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=120).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""


def cpu_model() -> str:
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def cpu_flags() -> set:
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    return set()


def sha256_rate() -> str:
    """OpenSSL's SHA-256 rate on 16 KiB blocks, in MB/s (10^6 bytes)."""
    text = sh("openssl", "speed", "-seconds", "2", "-bytes", "16384", "-evp", "sha256")
    for line in text.splitlines():
        if line.lower().startswith("sha256") or line.lower().startswith("sha2-256"):
            m = re.search(r"([\d.]+)k\s*$", line)
            if m:
                return f"{float(m.group(1)) * 1000 / 1e6:,.0f} MB/s"
    return "unknown (openssl speed gave no sha256 line)"


def memory() -> str:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal"):
                return f"{int(line.split()[1]) / MIB:.1f} GiB"
    return "unknown"


def load(path):
    rows = defaultdict(list)
    with open(path) as f:
        for line in f:
            kind, size, value, rss, registry_cpu = line.rstrip("\n").split("\t")
            rows[(kind, int(size))].append((value, int(rss), registry_cpu))
    return rows


def human(size: int) -> str:
    return f"{size // 1024 // MIB} GiB" if size >= 1024 * MIB else f"{size // MIB} MiB"


def machine(binary: str, reps: int, load_lines) -> None:
    print("### Machine and conditions\n")
    print(f"- CPU: {cpu_model()}, {os.cpu_count()} logical CPUs (`nproc`), SHA extensions: "
          f"{'yes' if 'sha_ni' in cpu_flags() else 'no'}; memory {memory()}; Linux {platform.release()}")
    print(f"- SHA-256 (`openssl speed -evp sha256`, 16 KiB blocks, one core): {sha256_rate()}")
    print(f"- {sh(binary, '--version')} (release build); {sh('rustc', '--version')}")
    print(f"- docker-registry {sh('docker-registry', '--version').split()[-1] if sh('docker-registry', '--version') else '?'}"
          f" (filesystem storage under {os.environ.get('TMPDIR', '/tmp')}); skopeo {sh('skopeo', '--version').split()[-1]};"
          f" {sh('curl', '--version').splitlines()[0].split(' (')[0] if sh('curl', '--version') else 'curl ?'}")
    print(f"- peers: {peer_versions()}")
    print(f"- each time: the median of {reps} runs")
    if os.environ.get("BENCH_PUBLISH_ARGS", "").strip():
        print(f"- every `cnb-artifacts publish` of many, helm and wasm with `{os.environ['BENCH_PUBLISH_ARGS'].strip()}`")
    if load_lines:
        print(f"- load (`uptime`) before the first workload: {load_lines[0]}")
        for line in load_lines[1:]:
            print(f"  - after a workload: {line}")
    print()


def peer_versions() -> str:
    parts = []
    python = os.environ.get("BENCH_PYTHON", "")
    if python and not python.startswith("missing:"):
        v = sh(python, "-c", "import importlib.metadata as m; print(m.version('oras'))")
        if v:
            parts.append(f"oras-py {v} (Python SDK)")
    helm = os.environ.get("BENCH_HELM", "")
    if helm and not helm.startswith("missing:"):
        parts.append(f"helm {sh(helm, 'version', '--short') or '?'}")
    wkg = os.environ.get("BENCH_WKG", "")
    if wkg and not wkg.startswith("missing:"):
        parts.append(sh(wkg, "--version") or "wkg ?")
    return ", ".join(parts) or "none"


PEER_LABELS = {
    "cnb-artifacts": "cnb-artifacts publish, one invocation",
    "skopeo": "`skopeo copy` per artifact",
    "oras": "oras-py `push()` per artifact",
    "helm": "`helm push` per chart",
    "wkg": "`wkg oci push` per component",
}
WORKLOAD_TITLES = {
    "many": "{n} artifacts of 64 KiB (`many`)",
    "helm": "{n} Helm charts (`helm`)",
    "wasm": "{n} Wasm components (`wasm`)",
}
METHODS = ("GET", "HEAD", "POST", "PATCH", "PUT", "DELETE")


def load_peers(path):
    """{(workload, rtt, tool, phase): [(count, seconds, requests, methods)]}, in file order."""
    rows = {}
    with open(path) as f:
        for line in f:
            if not line.strip():
                continue
            workload, rtt, tool, phase, count, seconds, requests, methods = line.rstrip("\n").split("\t")
            rows.setdefault((workload, rtt, tool, phase), []).append(
                (int(count), float(seconds), None if requests == "NA" else int(requests), methods))
    return rows


def rtt_ms(rtt: str) -> float:
    m = re.fullmatch(r"(\d+)(ms|s)", rtt)
    return float(m.group(1)) * (1000 if m.group(2) == "s" else 1) if m else 0.0


def peers(path) -> None:
    rows = load_peers(path)
    if not rows:
        return
    workloads = [w for w in ("many", "helm", "wasm") if any(k[0] == w for k in rows)]

    def med(key):
        values = [r[1] for r in rows.get(key, [])]
        return statistics.median(values) if values else None

    def requests(key):
        values = sorted({r[2] for r in rows.get(key, []) if r[2] is not None})
        if not values:
            return "n/a"
        return f"{values[0]}" if len(values) == 1 else f"{values[0]}–{values[-1]}"

    def methods(key):
        got = rows.get(key)
        if not got or got[0][3] == "NA":
            return "n/a"
        counts = dict(item.split("=") for item in got[0][3].split(","))
        return " / ".join(counts.get(m, "0") for m in METHODS)

    targets = []
    for workload in workloads:
        keys = [k for k in rows if k[0] == workload]
        rtts = sorted({k[1] for k in keys}, key=rtt_ms)
        tools = ["cnb-artifacts"] + [t for t in dict.fromkeys(k[2] for k in keys) if t != "cnb-artifacts"]
        count = next(iter(rows[keys[0]]))[0]
        print(f"### {WORKLOAD_TITLES[workload].format(n=count)}\n")
        print("| RTT | client | publish | requests | re-publish (unchanged) | requests | publish: peer ÷ ours | re-publish: peer ÷ ours |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- |")
        for rtt in rtts:
            ours = {phase: med((workload, rtt, "cnb-artifacts", phase)) for phase in ("publish", "republish")}
            for tool in tools:
                cells = []
                ratios = []
                for phase in ("publish", "republish"):
                    key = (workload, rtt, tool, phase)
                    t = med(key)
                    cells += [f"{t:.2f} s" if t is not None else "n/a", requests(key)]
                    if tool == "cnb-artifacts":
                        ratios.append("—")
                    else:
                        ratios.append(f"{t / ours[phase]:.1f}×" if t and ours[phase] else "n/a")
                label = f"**{PEER_LABELS[tool]}**" if tool == "cnb-artifacts" else PEER_LABELS[tool]
                print(f"| {rtt} | {label} | {' | '.join(cells)} | {' | '.join(ratios)} |")
        print()
        print(f"Requests by method ({' / '.join(METHODS)}), at {rtts[0]} (the first run):\n")
        print("| client | publish | re-publish |")
        print("| --- | --- | --- |")
        for tool in tools:
            print(f"| {PEER_LABELS[tool]} | {methods((workload, rtts[0], tool, 'publish'))} | {methods((workload, rtts[0], tool, 'republish'))} |")
        print()
        if workload == "many":
            for rtt in rtts:
                if rtt_ms(rtt) != 50:
                    continue
                ours_p = med((workload, rtt, "cnb-artifacts", "publish"))
                ours_r = med((workload, rtt, "cnb-artifacts", "republish"))
                peer_times = [(med((workload, rtt, t, "publish")), t) for t in tools if t != "cnb-artifacts"]
                peer_times = [(t, tool) for t, tool in peer_times if t is not None]
                fastest = min(peer_times) if peer_times else None
                if ours_p is not None:
                    targets.append((f"{count} × 64 KiB at {rtt}: publish ≤ {TARGET_MANY_PUBLISH_S:g} s", f"{ours_p:.2f} s",
                                    ours_p <= TARGET_MANY_PUBLISH_S))
                if ours_p and fastest:
                    ratio = fastest[0] / ours_p
                    targets.append((f"… and ≥ {TARGET_MANY_VS_PEER:g}× the fastest peer", f"{ratio:.1f}× ({fastest[1]}, {fastest[0]:.2f} s)",
                                    ratio >= TARGET_MANY_VS_PEER))
                if ours_r is not None:
                    targets.append((f"… unchanged re-publish ≤ {TARGET_MANY_REPUBLISH_S:g} s", f"{ours_r:.2f} s",
                                    ours_r <= TARGET_MANY_REPUBLISH_S))
    if targets:
        print("### Targets (issue 14), many small artifacts\n")
        print("| target | measured | |\n| --- | --- | --- |")
        for what, got, ok in targets:
            print(f"| {what} | {got} | {'met' if ok else 'MISSED'} |")
        print()


def main() -> int:
    p = argparse.ArgumentParser(description="The Markdown report of ci/bench.")
    p.add_argument("--bin", required=True)
    p.add_argument("--reps", type=int, required=True)
    p.add_argument("--peers")
    p.add_argument("--large")
    p.add_argument("--load")
    p.add_argument("--failed", default="")
    args = p.parse_args()
    load_lines = []
    if args.load and os.path.exists(args.load):
        with open(args.load) as f:
            load_lines = [" ".join(line.split()) for line in f if line.strip()]
    machine(args.bin, args.reps, load_lines)
    if args.failed.strip():
        print(f"**Failed workloads: {', '.join(args.failed.split())}** (their output above; their rows are missing or partial)\n")
    if args.peers and os.path.exists(args.peers):
        peers(args.peers)
    if args.large and os.path.exists(args.large) and os.path.getsize(args.large):
        large(args.large, args.reps)
    return 0


def large(path, reps) -> None:
    rows = load(path)

    def med(kind, size):
        values = [float(v) for v, _, _ in rows.get((kind, size), []) if v != "NA"]
        return statistics.median(values) if values else None

    def rss(kind, size):
        values = [r for _, r, _ in rows.get((kind, size), [])]
        return max(values) / 1024 if values else None

    def registry_cpu(kind, size):
        values = [float(c) for _, _, c in rows.get((kind, size), []) if c != "NA"]
        return statistics.median(values) if values else None

    sizes = sorted({size for kind, size in rows if kind == "publish"})
    print(f"Registry on loopback (no proxy), fresh storage per run; peak RSS: the largest of {reps} runs.\n")
    print("### Upload of one file\n")
    print("| size | publish | publish, 8 MiB pieces | skopeo copy | curl -T | publish ÷ skopeo | publish ÷ curl | peak RSS publish / 8 MiB pieces / skopeo / curl |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for size in sizes:
        cells, thr = [], {}
        for kind in ("publish", "publish-8m", "skopeo", "curl"):
            t = med(kind, size)
            thr[kind] = size / MIB / t if t else None
            cells.append(f"{thr[kind]:,.0f} MiB/s ({t:.2f} s)" if t else "n/a")
        ratio = lambda a, b: f"{thr[a] / thr[b]:.2f}×" if thr[a] and thr[b] else "n/a"
        rss_cells = " / ".join(f"{rss(k, size):.1f}" if rss(k, size) is not None else "n/a" for k in ("publish", "publish-8m", "skopeo", "curl"))
        print(f"| {human(size)} | {' | '.join(cells)} | {ratio('publish', 'skopeo')} | {ratio('publish', 'curl')} | {rss_cells} MiB |")

    print("\n### The registry's share\n")
    print("CPU seconds the registry process spent during each upload (median), against its wall time:\n")
    print("| size | publish | skopeo copy | curl -T |")
    print("| --- | --- | --- | --- |")
    for size in sizes:
        cells = []
        for kind in ("publish", "skopeo", "curl"):
            c, t = registry_cpu(kind, size), med(kind, size)
            cells.append(f"{c:.2f} s of {t:.2f} s" if c is not None and t else "n/a")
        print(f"| {human(size)} | {' | '.join(cells)} |")

    print("\n### Re-publish, unchanged\n")
    print("| size | wall time | blob bytes uploaded | peak RSS |")
    print("| --- | --- | --- | --- |")
    for size in sizes:
        uploaded = sorted({int(v) for v, _, _ in rows.get(("republish-bytes", size), [])})
        t = med("republish", size)
        print(f"| {human(size)} | {t:.2f} s | {', '.join(map(str, uploaded))} | {rss('republish', size):.1f} MiB |")

    print("\n### Other\n")
    t = med("plan-1000", 1000)
    print(f"- `plan` over 1,000 layer TOMLs (1,000 artifacts, manifests built): {t:.3f} s, peak RSS {rss('plan-1000', 1000):.1f} MiB")
    t = med("conformance", 0)
    if ("conformance-failed", 0) in rows:
        conformance = "**FAILED** (its output is in ci/bench's log; no time reported)"
    elif t:
        conformance = f"{t:.1f} s"
    else:
        conformance = "not measured (`cnb-artifacts conformance run` does not exist)"
    print(f"- full conformance run: {conformance}")

    print("\n### Targets (issue 14), one file\n")
    big = sizes[-1] if sizes else None
    if big:
        tp, ts, tc = (med(k, big) for k in ("publish", "skopeo", "curl"))
        vs_skopeo = ts / tp if tp and ts else None
        vs_curl = tc / tp if tp and tc else None
        peak = max((rss(k, s) for k in ("publish", "republish") for s in sizes if rss(k, s) is not None), default=None)
        again = {int(v) for s in sizes for v, _, _ in rows.get(("republish-bytes", s), [])}
        verdict = lambda ok: "met" if ok else "MISSED"
        print(f"| target | measured | |\n| --- | --- | --- |")
        print(f"| publish ≥ {TARGET_VS_SKOPEO}× skopeo's throughput at {human(big)} | {vs_skopeo:.2f}× | {verdict(vs_skopeo >= TARGET_VS_SKOPEO)} |")
        print(f"| publish ≥ {TARGET_VS_CURL}× raw curl -T at {human(big)} | {vs_curl:.2f}× | {verdict(vs_curl >= TARGET_VS_CURL)} |")
        print(f"| peak RSS ≤ {TARGET_RSS_MIB} MiB (publish, every size) | {peak:.1f} MiB | {verdict(peak <= TARGET_RSS_MIB)} |")
        print(f"| re-publish uploads 0 bytes | {', '.join(map(str, sorted(again)))} | {verdict(again == {0})} |")
        if tc and ts:
            print(f"\n{TARGET_VS_SKOPEO}× skopeo's throughput at {human(big)} would be {TARGET_VS_SKOPEO * tc / ts:.2f}× the rate of the raw "
                  f"`curl -T` upload, the most this registry accepted in this run.")


if __name__ == "__main__":
    sys.exit(main())
