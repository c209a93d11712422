#!/usr/bin/env python3
"""Screen checks for the framebuffer console (used by tools/iso.sh).

  screenshot.py dump SOCKET OUT.ppm   ask QEMU's monitor (unix SOCKET) for a screendump
  screenshot.py monitor SOCKET CMD    run one monitor command, print its answer
  screenshot.py halted SOCKET         exit 0 if CPU 0 sits in HLT with interrupts off
                                      (the kernel's final halt; firmware idles with IF=1)
  screenshot.py count IN.ppm          print the number of non-background pixels
  screenshot.py png IN.ppm OUT.png    convert for viewing (no third-party modules)

The background is the most common pixel colour, so a
blank screen of any colour counts 0. Every wait is bounded.
"""
import os
import re
import socket
import sys
import time
import zlib
import struct
from collections import Counter


def monitor(sock_path, command, timeout=10.0):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(sock_path)
    out = b""
    deadline = time.monotonic() + timeout
    while b"(qemu)" not in out and time.monotonic() < deadline:
        out += s.recv(4096)
    s.sendall(command.encode() + b"\n")
    out = b""
    while out.count(b"(qemu)") < 1 and time.monotonic() < deadline:
        chunk = s.recv(4096)
        if not chunk:
            break
        out += chunk
    s.close()
    return out.decode(errors="replace")


def read_ppm(path):
    data = open(path, "rb").read()
    fields, pos = [], 0
    while len(fields) < 4:
        while data[pos:pos + 1].isspace():
            pos += 1
        if data[pos:pos + 1] == b"#":
            pos = data.index(b"\n", pos) + 1
            continue
        end = pos
        while not data[end:end + 1].isspace():
            end += 1
        fields.append(data[pos:end])
        pos = end
    if fields[0] != b"P6" or fields[3] != b"255":
        raise SystemExit(f"{path}: not a binary 8-bit PPM")
    w, h = int(fields[1]), int(fields[2])
    return w, h, data[pos + 1:pos + 1 + w * h * 3]


def count(path):
    w, h, px = read_ppm(path)
    pixels = Counter(px[i:i + 3] for i in range(0, len(px), 3))
    background, n = pixels.most_common(1)[0]
    return w, h, w * h - n


def png(src, dst):
    w, h, px = read_ppm(src)
    raw = b"".join(b"\0" + px[y * w * 3:(y + 1) * w * 3] for y in range(h))
    chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
    with open(dst, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))


def main():
    cmd = sys.argv[1:2]
    if cmd == ["dump"] and len(sys.argv) == 4:
        target = os.path.abspath(sys.argv[3])
        if os.path.exists(target):
            os.unlink(target)
        monitor(sys.argv[2], f"screendump {target}")
        deadline = time.monotonic() + 10
        while not os.path.exists(target) and time.monotonic() < deadline:
            time.sleep(0.1)
        sys.exit(0 if os.path.exists(target) else 1)
    elif cmd == ["monitor"] and len(sys.argv) == 4:
        print(monitor(sys.argv[2], sys.argv[3]))
    elif cmd == ["halted"] and len(sys.argv) == 3:
        regs = monitor(sys.argv[2], "info registers")
        efl = re.search(r"RFL=([0-9a-f]+)", regs)
        stopped = "HLT=1" in regs and efl is not None and int(efl.group(1), 16) & 0x200 == 0
        sys.exit(0 if stopped else 1)
    elif cmd == ["count"] and len(sys.argv) == 3:
        w, h, n = count(sys.argv[2])
        print(f"{w}x{h} {n}")
    elif cmd == ["png"] and len(sys.argv) == 4:
        png(sys.argv[2], sys.argv[3])
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
