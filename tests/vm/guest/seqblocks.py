#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Sequence-numbered 4 KiB blocks for the gateway failover test (runs INSIDE the VM).

  seqblocks.py write DEV LOG STOPFILE   write blocks 1, 2, 3, ... to DEV with O_DIRECT and
                                         O_DSYNC, one at a time, until STOPFILE exists; after
                                         each acknowledged write append "SEQ NS" to LOG (NS:
                                         CLOCK_REALTIME nanoseconds, as date +%s%N). A failed write is
                                         logged as "ERR SEQ NS errno" and retried (same SEQ,
                                         same bytes) after 0.1 s.
  seqblocks.py gap LOG KILL_NS [BACK_NS] the longest time between two acknowledged writes
                                         (up to BACK_NS), and how many were acknowledged
                                         after KILL_NS; with BACK_NS, the same after it.
  seqblocks.py verify LOG IMAGE          every acknowledged block is in IMAGE (a raw export).

Block SEQ lives at offset (SEQ mod NBLOCKS) * 4096; it starts with MAGIC, SEQ (8 bytes
LE) and its own offset, and the rest is a pattern derived from SEQ, so a block that is
stale, misplaced or torn does not verify.
"""
import mmap
import os
import struct
import sys
import time

BS = 4096
MAGIC = b"IDMSEQ01"
HDR = struct.Struct("<8sQQ")


def block(seq, nblocks):
    off = (seq % nblocks) * BS
    head = HDR.pack(MAGIC, seq, off)
    fill = (seq * 2654435761) & 0xFFFFFFFF
    body = struct.pack("<I", fill) * ((BS - len(head)) // 4)
    return off, head + body


def now_ns():
    return time.time_ns()


def write(dev, log_path, stop_path):
    fd = os.open(dev, os.O_WRONLY | os.O_DIRECT | os.O_DSYNC)
    nblocks = os.lseek(fd, 0, os.SEEK_END) // BS
    buf = mmap.mmap(-1, BS)  # page-aligned, as O_DIRECT wants
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    seq = 1
    while not os.path.exists(stop_path):
        off, data = block(seq, nblocks)
        buf[:] = data
        try:
            n = os.pwrite(fd, buf, off)
            if n != BS:
                raise OSError(0, "short write %d" % n)
        except OSError as e:
            os.write(log, b"ERR %d %d %d\n" % (seq, now_ns(), e.errno or 0))
            time.sleep(0.1)
            continue
        os.write(log, b"%d %d\n" % (seq, now_ns()))
        seq += 1
    os.close(fd)
    os.close(log)


def read_log(log_path):
    acks, errors = [], 0
    with open(log_path) as f:
        for line in f:
            w = line.split()
            if w and w[0] == "ERR":
                errors += 1
            elif len(w) == 2:
                acks.append((int(w[0]), int(w[1])))
    return acks, errors


def longest(pairs):
    """The longest (gap, seq after it, start) among consecutive acknowledgements."""
    return max(((t1 - t0, seq, t0) for (_, t0), (seq, t1) in pairs), default=(0, 0, 0))


def gap(log_path, kill_ns, return_ns):
    acks, errors = read_log(log_path)
    if len(acks) < 2:
        print("GAP none: only %d writes acknowledged" % len(acks))
        return 1
    pairs = list(zip(acks, acks[1:]))
    worst, at, start = longest(p for p in pairs if p[1][1] <= return_ns)
    after = sum(1 for _, t in acks if kill_ns < t <= return_ns)
    print("GAP %d ms before seq %d, from %+d ms of the kill; acknowledged %d (%d after "
          "the kill); write errors %d" % (worst // 1000000, at, (start - kill_ns) // 1000000,
                                          len(acks), after, errors))
    if return_ns < 2**63:
        worst, at, start = longest(p for p in pairs if p[1][1] > return_ns)
        after = sum(1 for _, t in acks if t > return_ns)
        print("RETURN_GAP %d ms before seq %d, from %+d ms of the restart; acknowledged %d "
              "after it" % (worst // 1000000, at, (start - return_ns) // 1000000, after))
    return 0


def verify(log_path, image):
    acks, _ = read_log(log_path)
    size = os.path.getsize(image)
    nblocks = size // BS
    last = {}  # offset -> the last acknowledged seq written there
    for seq, _ in acks:
        last[(seq % nblocks) * BS] = seq
    # the write in flight when the writer stopped may or may not have landed
    inflight = (acks[-1][0] + 1) if acks else 1
    bad = 0
    with open(image, "rb") as f:
        for off, seq in sorted(last.items()):
            f.seek(off)
            got = f.read(BS)
            if got == block(seq, nblocks)[1]:
                continue
            if (inflight % nblocks) * BS == off and got == block(inflight, nblocks)[1]:
                continue
            if bad < 10:
                m, s, o = HDR.unpack(got[:HDR.size])
                print("block at %d: want seq %d, found magic %r seq %d offset %d"
                      % (off, seq, m, s, o))
            bad += 1
    print("VERIFY %d acknowledged blocks checked, %d bad" % (len(last), bad))
    return 1 if bad or not last else 0


def main(argv):
    if len(argv) == 5 and argv[1] == "write":
        write(argv[2], argv[3], argv[4])
        return 0
    if len(argv) in (4, 5) and argv[1] == "gap":
        return gap(argv[2], int(argv[3]), int(argv[4]) if len(argv) == 5 else 2**63)
    if len(argv) == 4 and argv[1] == "verify":
        return verify(argv[2], argv[3])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
