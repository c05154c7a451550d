#!/usr/bin/env python3
"""Writes COUNT small WebAssembly components for ci/bench.d/wasm.sh: `component<i>.wasm`
(i = 1..COUNT), each the smallest valid component of fixtures/wasm/make.py (magic, version 0x0d,
layer 1) followed by one custom section (id 0) named `cnb-artifacts-bench` holding SIZE bytes
derived from i, so that every component has its own digest. A custom section is valid anywhere
in a component and means nothing to a runtime.

Usage: make_components.py DIR COUNT [SIZE]   (SIZE default 16384)
"""

import hashlib
import os
import sys

HEADER = b"\0asm" + bytes([0x0D, 0x00, 0x01, 0x00])
SECTION_NAME = b"cnb-artifacts-bench"


def leb128(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def component(i: int, size: int) -> bytes:
    payload = bytearray()
    block = 0
    while len(payload) < size:
        payload += hashlib.sha256(f"component {i} block {block}".encode()).digest()
        block += 1
    body = leb128(len(SECTION_NAME)) + SECTION_NAME + bytes(payload[:size])
    return HEADER + bytes([0x00]) + leb128(len(body)) + body


def main() -> int:
    args = sys.argv[1:]
    if len(args) not in (2, 3) or not all(a.isdigit() for a in args[1:]):
        print(__doc__, file=sys.stderr)
        return 2
    root, count = args[0], int(args[1])
    size = int(args[2]) if len(args) == 3 else 16384
    os.makedirs(root, exist_ok=True)
    for i in range(1, count + 1):
        with open(os.path.join(root, f"component{i}.wasm"), "wb") as f:
            f.write(component(i, size))
    return 0


if __name__ == "__main__":
    sys.exit(main())
