#!/usr/bin/env python3
"""write_bench: what writing footage costs in CPU, buffered vs O_DIRECT.

Usage: tools/bench/write_bench.py [--dir DIR] [--mib 1024] [--chunk-kib 256]

Writes --mib MiB in --chunk-kib KiB pwrites to a new file in DIR twice: through
the page cache (what `direct_io: false` does) and with O_DIRECT from an aligned
buffer (vigild's default, storage/storage.c), and prints for each the CPU time
the writing process was charged (user + system) and the wall time, as MB/s of
CPU and MB/s of wall. Fresh files each time (a recorder never overwrites), and
the buffered run ends with fsync so both have reached the disk. Run by hand;
the figures depend on the machine (a VM's fresh page-cache pages are costly).
Last line: `buffered_cpu_mbs=… direct_cpu_mbs=… cpu_ratio=… buffered_wall_mbs=…
direct_wall_mbs=…`.
"""
import argparse
import mmap
import os
import time


def one(path, total, chunk, direct):
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | (os.O_DIRECT if direct else 0)
    buf = mmap.mmap(-1, chunk)  # page aligned, as O_DIRECT wants
    buf.write(os.urandom(chunk))
    fd = os.open(path, flags, 0o644)
    try:
        t0, w0 = os.times(), time.monotonic()
        for off in range(0, total, chunk):
            os.pwritev(fd, [buf], off)
        os.fsync(fd)
        t1, w1 = os.times(), time.monotonic()
    finally:
        os.close(fd)
        os.unlink(path)
    cpu = (t1.user - t0.user) + (t1.system - t0.system)
    return cpu, w1 - w0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dir", default=".", help="a directory on the filesystem to measure")
    ap.add_argument("--mib", type=int, default=1024)
    ap.add_argument("--chunk-kib", type=int, default=256)
    a = ap.parse_args()
    total, chunk = a.mib << 20, a.chunk_kib << 10
    total -= total % chunk
    res = {}
    for name, direct in (("buffered", False), ("direct", True)):
        path = os.path.join(a.dir, ".write_bench.%d.%s" % (os.getpid(), name))
        try:
            cpu, wall = one(path, total, chunk, direct)
        except OSError as e:
            raise SystemExit("%s: %s (O_DIRECT refused by this filesystem?)" % (name, e))
        res[name] = (total / 1e6 / max(cpu, 1e-3), total / 1e6 / wall)
        print("%-8s %d MiB in %d KiB writes: cpu %.2f s (%.0f MB/s of CPU), wall %.2f s (%.0f MB/s)"
              % (name, a.mib, a.chunk_kib, cpu, res[name][0], wall, res[name][1]))
    print("buffered_cpu_mbs=%.0f direct_cpu_mbs=%.0f cpu_ratio=%.1f buffered_wall_mbs=%.0f "
          "direct_wall_mbs=%.0f" % (res["buffered"][0], res["direct"][0],
                                    res["direct"][0] / res["buffered"][0],
                                    res["buffered"][1], res["direct"][1]))


if __name__ == "__main__":
    main()
