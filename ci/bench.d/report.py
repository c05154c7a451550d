#!/usr/bin/env python3
"""Turns the measurements of ci/bench into the Markdown report of docs/performance.md.

Usage: report.py RESULTS_TSV REPS CNB_ARTIFACTS_BINARY

RESULTS_TSV has one line per measurement: kind, size in bytes, seconds (or bytes for
`republish-bytes`, or NA), peak RSS in KiB, CPU seconds of the registry process during the
measurement (or NA). Medians of wall time and registry CPU; maxima of peak RSS.
"""

import os
import platform
import re
import statistics
import subprocess
import sys
from collections import defaultdict

MIB = 1024 * 1024
TARGET_VS_SKOPEO = 1.5
TARGET_VS_CURL = 0.8
TARGET_RSS_MIB = 32


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


def main() -> int:
    path, reps, binary = sys.argv[1], int(sys.argv[2]), sys.argv[3]
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
    print("### Machine\n")
    print(f"- CPU: {cpu_model()}, {os.cpu_count()} logical CPUs (`nproc`), SHA extensions: "
          f"{'yes' if 'sha_ni' in cpu_flags() else 'no'}; memory {memory()}; Linux {platform.release()}")
    print(f"- SHA-256 (`openssl speed -evp sha256`, 16 KiB blocks, one core): {sha256_rate()}")
    print(f"- {sh(binary, '--version')} (release build); {sh('rustc', '--version')}")
    print(f"- docker-registry {sh('docker-registry', '--version').split()[-1] if sh('docker-registry', '--version') else '?'}"
          f" (filesystem storage under {os.environ.get('TMPDIR', '/tmp')}); skopeo {sh('skopeo', '--version').split()[-1]};"
          f" {sh('curl', '--version').splitlines()[0].split(' (')[0] if sh('curl', '--version') else 'curl ?'}")
    print(f"- each number: median wall time of {reps} runs (peak RSS: the largest), registry on loopback, fresh storage per run\n")

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
    print(f"- full conformance run: {f'{t:.1f} s' if t else 'not measured (`cnb-artifacts conformance run` does not exist yet)'}")

    print("\n### Targets\n")
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
