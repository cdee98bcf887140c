#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""
Write the seed corpora of the libFuzzer harnesses (tests/fuzz/corpus/<harness>/).

Each seed is a valid protocol unit built here from the RFCs (login and text
keys, Login PDUs, full-feature PDU streams with and without digests, iSER
messages, CHAP exchanges, CDBs with their parameter lists, configuration
files) or one of its edge cases, in the input format the harness' header
comment describes. The output is deterministic: run it again after changing
a format and commit what changed. Regression inputs (corpus/*/regress-*)
are not written here and are kept as they are.

    python3 tests/fuzz/gen_corpus.py
"""
import hashlib
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus")

IQN_T = "iqn.2026-11.org.idm:disk"
IQN_T2 = "iqn.2026-11.org.idm:other"
IQN_I = "iqn.2026-11.org.idm:ini"

# ---- helpers -------------------------------------------------------------


def kv(*pairs):
    """"key=value\\0..." from ("key", "value") pairs or raw "k=v" strings."""
    out = b""
    for p in pairs:
        if isinstance(p, tuple):
            p = "%s=%s" % p
        out += (p.encode() if isinstance(p, str) else p) + b"\0"
    return out


def be16(v):
    return struct.pack(">H", v & 0xFFFF)


def be24(v):
    return struct.pack(">I", v & 0xFFFFFF)[1:]


def be32(v):
    return struct.pack(">I", v & 0xFFFFFFFF)


def be64(v):
    return struct.pack(">Q", v & 0xFFFFFFFFFFFFFFFF)


def pad4(b):
    return b + b"\0" * (-len(b) % 4)


def _crc32c_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


CRC_TABLE = _crc32c_table()


def digest(b):
    """iSCSI CRC32C, as the 4 bytes on the wire (little endian)."""
    c = 0xFFFFFFFF
    for x in b:
        c = CRC_TABLE[(c ^ x) & 0xFF] ^ (c >> 8)
    return struct.pack("<I", c ^ 0xFFFFFFFF)


assert digest(b"\0" * 32) == bytes.fromhex("aa36918a")  # RFC 7143 B.4


def bhs(op, flags=0, imm=False, ahs_words=0, dlen=0, lun=0, itt=0, f20=0, f24=0, f28=0,
        f32=0, f36=0, f40=0, f44=0, tail=None):
    """A 48-byte BHS; f<N> is the 32-bit field at byte N, `tail` bytes 32-47."""
    b = bytes([op | (0x40 if imm else 0), flags, 0, 0, ahs_words]) + be24(dlen)
    b += be64(lun) + be32(itt) + be32(f20) + be32(f24) + be32(f28)
    b += tail if tail is not None else be32(f32) + be32(f36) + be32(f40) + be32(f44)
    assert len(b) == 48, len(b)
    return b


def lun_field(lun):
    return (lun & 0x3FFF) << 48 | (0x4000 << 48 if lun > 255 else 0)


def pdu(h, data=b"", ahs=b"", hd=False, dd=False):
    """A PDU on the wire: BHS (with its lengths set), AHS, digests, data."""
    h = bytearray(h)
    h[4] = len(ahs) // 4
    h[5:8] = be24(len(data))
    out = bytes(h) + ahs
    if hd:
        out += digest(out)
    if data:
        out += pad4(data)
        if dd:
            out += digest(pad4(data))
    return out


def write(harness, name, data):
    d = os.path.join(OUT, harness)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def clean():
    if not os.path.isdir(OUT):
        return
    for h in os.listdir(OUT):
        for f in os.listdir(os.path.join(OUT, h)):
            if not f.startswith("regress-"):
                os.unlink(os.path.join(OUT, h, f))


# ---- login and text keys -------------------------------------------------

OP_KEYS = kv(("HeaderDigest", "CRC32C,None"), ("DataDigest", "CRC32C,None"),
             ("MaxConnections", "1"), ("InitialR2T", "No"), ("ImmediateData", "Yes"),
             ("MaxRecvDataSegmentLength", "262144"), ("MaxBurstLength", "1048576"),
             ("FirstBurstLength", "262144"), ("DefaultTime2Wait", "2"),
             ("DefaultTime2Retain", "20"), ("MaxOutstandingR2T", "16"),
             ("DataPDUInOrder", "Yes"), ("DataSequenceInOrder", "Yes"),
             ("ErrorRecoveryLevel", "0"))
SEC_KEYS = kv(("InitiatorName", IQN_I), ("TargetName", IQN_T), ("SessionType", "Normal"),
              ("AuthMethod", "None"))
TGT_ANSWER = kv(("HeaderDigest", "None"), ("DataDigest", "None"), ("InitialR2T", "Yes"),
                ("ImmediateData", "Yes"), ("MaxRecvDataSegmentLength", "65536"),
                ("MaxBurstLength", "262144"), ("FirstBurstLength", "65536"),
                ("DefaultTime2Wait", "2"), ("DefaultTime2Retain", "0"),
                ("MaxOutstandingR2T", "1"), ("DataPDUInOrder", "Yes"),
                ("DataSequenceInOrder", "Yes"), ("ErrorRecoveryLevel", "0"),
                ("TargetPortalGroupTag", "1"))


def keys_seeds():
    # settings bits: 0 initiator, 1 leading, 2 discovery, 3 iSER, 4 CHAP,None, 5 digests, 6 small
    def rec(stage, text):
        return stage.encode() + text

    def seed(name, cfg, *records):
        write("fuzz_keys", name, bytes([cfg]) + b"\n".join(records))

    seed("tgt-normal-login", 0x02, rec("0", SEC_KEYS), rec("1", OP_KEYS))
    seed("tgt-op-only", 0x02, rec("1", SEC_KEYS + OP_KEYS))
    seed("tgt-discovery", 0x06, rec("0", kv(("InitiatorName", IQN_I),
                                            ("SessionType", "Discovery"),
                                            ("AuthMethod", "None"))),
         rec("1", kv(("HeaderDigest", "None"), ("MaxRecvDataSegmentLength", "8192"))),
         rec("3", kv(("SendTargets", "All"))))
    seed("tgt-ffp-text", 0x02, rec("1", SEC_KEYS), rec("3", kv(("MaxRecvDataSegmentLength",
                                                                "16384"))))
    seed("tgt-chap-offer", 0x12, rec("0", SEC_KEYS.replace(b"AuthMethod=None",
                                                            b"AuthMethod=CHAP,None")))
    seed("tgt-iser", 0x0a, rec("0", SEC_KEYS),
         rec("1", kv(("RDMAExtensions", "Yes"), ("TargetRecvDataSegmentLength", "8192"),
                     ("InitiatorRecvDataSegmentLength", "8192"),
                     ("MaxOutstandingUnexpectedPDUs", "0"))))
    seed("tgt-digests", 0x22, rec("1", SEC_KEYS + kv(("HeaderDigest", "CRC32C"),
                                                      ("DataDigest", "CRC32C,None"))))
    seed("tgt-numbers", 0x02, rec("1", SEC_KEYS + kv(("MaxBurstLength", "0x40000"),
                                                      ("FirstBurstLength", "0b AAQAAA=="),
                                                      ("MaxRecvDataSegmentLength", "0b AAIAAA=="),
                                                      ("DefaultTime2Wait", "0x0"))))
    seed("tgt-out-of-range", 0x42, rec("1", SEC_KEYS + kv(("MaxBurstLength", "4294967296"),
                                                           ("MaxRecvDataSegmentLength", "1"),
                                                           ("ErrorRecoveryLevel", "3"),
                                                           ("MaxConnections", "0"))))
    seed("tgt-unknown-keys", 0x02, rec("1", SEC_KEYS + kv(("X-com.example.Foo", "bar"),
                                                           ("X#ext", "1"), ("Bogus", ""),
                                                           ("OFMarker", "No"), ("IFMarker", "Yes"),
                                                           ("OFMarkInt", "1~65535"),
                                                           ("IFMarkInt", "2048~4096"))))
    seed("tgt-repeated-key", 0x02, rec("1", SEC_KEYS + kv(("MaxBurstLength", "512"),
                                                           ("MaxBurstLength", "1024"))))
    seed("tgt-malformed", 0x02, rec("1", b"noequals\0=empty\0InitiatorName\0" + b"A" * 70 +
                                        b"=x\0"))
    seed("tgt-long-value", 0x02, rec("1", SEC_KEYS + kv(("TargetAlias", "x" * 300),
                                                         ("InitiatorAlias", "y" * 9000))))
    seed("tgt-reject-values", 0x02, rec("1", SEC_KEYS + kv(("HeaderDigest", "MD5,SHA1"),
                                                            ("InitialR2T", "Maybe"),
                                                            ("ImmediateData", "Reject"),
                                                            ("DataPDUInOrder", "Irrelevant"))))
    seed("tgt-sec-keys-late", 0x02, rec("1", SEC_KEYS), rec("1", kv(("AuthMethod", "CHAP"))))
    seed("tgt-lo-on-non-leading", 0x00, rec("1", SEC_KEYS + OP_KEYS))
    seed("tgt-task-reporting", 0x02, rec("1", SEC_KEYS + kv(("TaskReporting", "ResponseFence"),
                                                             ("iSCSIProtocolLevel", "2"))))
    seed("tgt-no-trailing-nul", 0x02, rec("1", SEC_KEYS + b"MaxBurstLength=512"))
    seed("tgt-missing-names", 0x02, rec("1", kv(("SessionType", "Normal"))))
    seed("tgt-session-type-bad", 0x02, rec("0", kv(("InitiatorName", IQN_I),
                                                   ("SessionType", "Boot"))))
    seed("ini-normal", 0x03, rec("0", kv(("TargetPortalGroupTag", "1"), ("AuthMethod", "None"))),
         rec("1", TGT_ANSWER))
    seed("ini-op-only", 0x03, rec("1", TGT_ANSWER))
    seed("ini-discovery", 0x07, rec("1", kv(("HeaderDigest", "None"), ("DataDigest", "None"),
                                            ("MaxRecvDataSegmentLength", "8192"))),
         rec("3", kv(("TargetName", IQN_T), ("TargetAddress", "127.0.0.1:3260,1"),
                     ("TargetName", IQN_T2), ("TargetAddress", "[::1]:3260,1"))))
    seed("ini-target-offers", 0x03, rec("1", TGT_ANSWER + kv(("MaxBurstLength", "8192"))))
    seed("ini-not-understood", 0x03, rec("1", kv(("HeaderDigest", "NotUnderstood"),
                                                 ("MaxBurstLength", "Irrelevant"),
                                                 ("InitialR2T", "Reject"))))
    seed("ini-iser", 0x0b, rec("1", TGT_ANSWER + kv(("RDMAExtensions", "Yes"),
                                                    ("TargetRecvDataSegmentLength", "8192"),
                                                    ("InitiatorRecvDataSegmentLength", "8192"))))
    seed("ini-digests", 0x23, rec("1", kv(("HeaderDigest", "CRC32C"), ("DataDigest", "None"))))
    seed("ini-chap-method", 0x13, rec("0", kv(("AuthMethod", "CHAP"))))
    seed("ini-bad-answer", 0x03, rec("1", kv(("MaxBurstLength", "99999999999"),
                                             ("ErrorRecoveryLevel", "2"),
                                             ("MaxConnections", "2"))))
    seed("empty", 0x02)
    seed("empty-records", 0x03, b"", b"1", b"3")


# ---- Login PDUs ----------------------------------------------------------

ISID = bytes([0x80, 0x12, 0x34, 0x56, 0x00, 0x01])


def login_req(csg, nsg, transit, data, itt=0x10, cmdsn=1, tsih=0, cont=False, isid=ISID,
              cid=0, expstatsn=0, vmax=0, vmin=0):
    flags = (0x80 if transit else 0) | (0x40 if cont else 0) | csg << 2 | (nsg if transit else 0)
    h = bytearray(bhs(0x03, flags, imm=True, itt=itt, f20=cid << 16, f24=cmdsn, f28=expstatsn))
    h[2], h[3] = vmax, vmin
    h[8:14] = isid
    h[14:16] = be16(tsih)
    return pdu(bytes(h), data)


def chap_resp_keys(user="alice"):
    return kv(("CHAP_N", user), "CHAP_R=0x" + "00" * 32)


def login_seeds():
    # settings: 0 CHAP, 1 mutual, 2 discovery CHAP, 3 ACL, 4 iSER-only target 2,
    # 5 second connection, 6 SHA-256 only
    def seed(name, cfg, *pdus):
        write("fuzz_login", name, bytes([cfg]) + b"".join(pdus))

    seed("op-to-ffp", 0x00, login_req(1, 3, True, SEC_KEYS + OP_KEYS))
    seed("sec-op-ffp", 0x00, login_req(0, 1, True, SEC_KEYS), login_req(1, 3, True, OP_KEYS))
    seed("sec-stay-then-transit", 0x00, login_req(0, 0, False, SEC_KEYS),
         login_req(0, 1, True, b""), login_req(1, 3, True, OP_KEYS))
    seed("discovery", 0x00, login_req(1, 3, True, kv(("InitiatorName", IQN_I),
                                                      ("SessionType", "Discovery"))))
    seed("discovery-chap", 0x04, login_req(0, 1, True, kv(("InitiatorName", IQN_I),
                                                            ("SessionType", "Discovery"),
                                                            ("AuthMethod", "CHAP,None"))),
         login_req(0, 0, False, kv(("CHAP_A", "7,5"))),
         login_req(0, 1, True, chap_resp_keys("disc")))
    seed("chap", 0x01, login_req(0, 1, True, SEC_KEYS.replace(b"AuthMethod=None",
                                                               b"AuthMethod=CHAP")),
         login_req(0, 0, False, kv(("CHAP_A", "8,7,6,5"))),
         login_req(0, 1, True, chap_resp_keys()), login_req(1, 3, True, OP_KEYS))
    seed("chap-mutual", 0x03, login_req(0, 0, False, SEC_KEYS.replace(b"AuthMethod=None",
                                                                       b"AuthMethod=CHAP")),
         login_req(0, 0, False, kv(("CHAP_A", "7"))),
         login_req(0, 1, True, chap_resp_keys() + kv(("CHAP_I", "17"),
                                                      "CHAP_C=0x" + "ab" * 32)))
    seed("chap-skipped", 0x01, login_req(1, 3, True, SEC_KEYS + OP_KEYS))
    seed("chap-sha256-only", 0x41, login_req(0, 0, False, SEC_KEYS.replace(
        b"AuthMethod=None", b"AuthMethod=CHAP")), login_req(0, 0, False, kv(("CHAP_A", "5"))))
    seed("acl-refused", 0x08, login_req(1, 3, True, kv(("InitiatorName", "iqn.2026-11.x:y"),
                                                        ("TargetName", IQN_T))))
    seed("acl-admitted", 0x08, login_req(1, 3, True, SEC_KEYS + OP_KEYS))
    seed("iser-only-target", 0x10, login_req(1, 3, True, kv(("InitiatorName", IQN_I),
                                                             ("TargetName", IQN_T2))))
    seed("unknown-target", 0x00, login_req(1, 3, True, kv(("InitiatorName", IQN_I),
                                                           ("TargetName", "iqn.nope:x"))))
    seed("missing-initiator-name", 0x00, login_req(1, 3, True, kv(("TargetName", IQN_T))))
    seed("continue-text", 0x00, login_req(1, 3, True, SEC_KEYS[:20], cont=True),
         login_req(1, 3, True, SEC_KEYS[20:] + OP_KEYS))
    seed("continue-split-key", 0x00, login_req(0, 1, True, b"InitiatorName=iqn.2026", cont=True),
         login_req(0, 1, True, b"-11.org.idm:ini\0TargetName=" + IQN_T.encode() + b"\0"))
    seed("itt-changed", 0x00, login_req(0, 0, False, SEC_KEYS),
         login_req(0, 1, True, b"", itt=0x11))
    seed("isid-changed", 0x00, login_req(0, 0, False, SEC_KEYS),
         login_req(0, 1, True, b"", isid=bytes(6)))
    seed("bad-stage-transit", 0x00, login_req(1, 0, True, SEC_KEYS))
    seed("csg-reserved", 0x00, login_req(2, 3, True, SEC_KEYS))
    seed("transit-and-continue", 0x00, login_req(1, 3, True, SEC_KEYS, cont=True))
    seed("version-bad", 0x00, login_req(1, 3, True, SEC_KEYS, vmax=0, vmin=5))
    seed("tsih-unknown", 0x00, login_req(1, 3, True, SEC_KEYS, tsih=0x1234))
    seed("reinstate", 0x20, login_req(1, 3, True, SEC_KEYS + OP_KEYS),
         login_req(1, 3, True, SEC_KEYS + OP_KEYS))
    seed("add-connection", 0x20, login_req(1, 3, True, SEC_KEYS + OP_KEYS),
         login_req(1, 3, True, SEC_KEYS, tsih=1, cid=1))
    seed("text-too-long", 0x00, *[login_req(0, 0, False, b"X" * 8192, cont=True)
                                  for _ in range(9)])
    seed("nego-failure", 0x00, login_req(1, 3, True, SEC_KEYS + kv(("MaxBurstLength", "1"))))
    seed("empty-data", 0x00, login_req(0, 1, True, b""))
    seed("with-ahs", 0x00, pdu(bhs(0x43, 0x87, itt=0x10), SEC_KEYS, ahs=b"\0" * 8))


# ---- full feature phase on TCP ------------------------------------------

def scsi_cmd(itt, cmdsn, cdb, edtl=0, read=False, write=False, data=b"", lun=0, final=True,
             ahs=b"", imm=False):
    flags = (0x80 if final else 0) | (0x40 if read else 0) | (0x20 if write else 0) | 1
    cdb = cdb + bytes(16 - len(cdb))
    h = bhs(0x01, flags, imm=imm, lun=lun_field(lun), itt=itt, f20=edtl, f24=cmdsn, f28=2,
            tail=cdb[:16])
    return h, data, ahs


def data_out(itt, ttt, datasn, offset, data, final=True, lun=0):
    h = bhs(0x05, 0x80 if final else 0, lun=lun_field(lun), itt=itt, f20=ttt, f28=2, f36=datasn,
            f40=offset)
    return h, data, b""


def nop_out(itt, cmdsn, data=b"", ttt=0xFFFFFFFF, imm=True):
    return bhs(0x00, 0x80, imm=imm, itt=itt, f20=ttt, f24=cmdsn, f28=2), data, b""


def text_req(itt, cmdsn, data, cont=False, ttt=0xFFFFFFFF):
    return bhs(0x04, 0x40 if cont else 0x80, imm=True, itt=itt, f20=ttt, f24=cmdsn, f28=2), \
        data, b""


def tmf(itt, cmdsn, func, ref=0xFFFFFFFF, lun=0, refcmdsn=0):
    return bhs(0x02, 0x80 | func, imm=True, lun=lun_field(lun), itt=itt, f20=ref, f24=cmdsn,
               f28=2, f32=refcmdsn), b"", b""


def logout(itt, cmdsn, reason=0):
    return bhs(0x06, 0x80 | reason, imm=True, itt=itt, f24=cmdsn, f28=2), b"", b""


def snack(itt, kind=0, begrun=0, runlen=0):
    return bhs(0x10, 0x80 | kind, itt=itt, f20=0xFFFFFFFF, f28=2, f40=begrun, f44=runlen), b"", b""


def cdb10(op, lba=0, n=0, b1=0):
    return bytes([op, b1]) + be32(lba) + b"\0" + be16(n) + b"\0"


def cdb16(op, lba=0, n=0, b1=0):
    return bytes([op, b1]) + be64(lba) + be32(n) + b"\0\0"


def tcp_seeds():
    # settings: 0 HeaderDigest, 1 DataDigest, 2 discovery, 3 InitialR2T=Yes/ImmediateData=No,
    # 4-6 write size, 7 the harness inserts the digests
    def stream(pdus, hd=False, dd=False):
        return b"".join(pdu(h, d, ahs=a, hd=hd, dd=dd) for h, d, a in pdus)

    def seed(name, cfg, pdus):
        hd, dd = bool(cfg & 1) and not cfg & 0x80, bool(cfg & 2) and not cfg & 0x80
        write("fuzz_tcp_rx", name, bytes([cfg]) + stream(pdus, hd, dd))

    blk = bytes(range(256)) * 2
    seed("nop-ping", 0x00, [nop_out(1, 1, b"ping")])
    seed("tur-inquiry-luns", 0x00, [scsi_cmd(1, 1, bytes(6)),
                                   scsi_cmd(2, 2, bytes([0x12, 0, 0, 0, 96, 0]), 96, read=True),
                                   scsi_cmd(3, 3, bytes([0xA0, 0, 0, 0, 0, 0]) + be32(4096) +
                                            b"\0\0", 4096, read=True)])
    seed("read10", 0x00, [scsi_cmd(1, 1, cdb10(0x28, 0, 8), 4096, read=True)])
    seed("write10-immediate", 0x00, [scsi_cmd(1, 1, cdb10(0x2A, 0, 1), 512, write=True,
                                              data=blk)])
    seed("write10-unsolicited", 0x00,
         [scsi_cmd(1, 1, cdb10(0x2A, 8, 4), 2048, write=True, data=blk, final=False),
          data_out(1, 0xFFFFFFFF, 0, 512, blk), data_out(1, 0xFFFFFFFF, 1, 1024, blk + blk)])
    seed("write10-r2t", 0x08, [scsi_cmd(1, 1, cdb10(0x2A, 0, 16), 8192, write=True),
                               data_out(1, 1, 0, 0, blk * 8), data_out(1, 1, 1, 4096, blk * 8)])
    seed("write16-overflow-edtl", 0x00, [scsi_cmd(1, 1, cdb16(0x8A, 0, 2), 512, write=True,
                                                  data=blk)])
    seed("read-write-bidi", 0x00, [scsi_cmd(1, 1, cdb10(0x28, 0, 1), 512, read=True,
                                            write=True, data=blk)])
    seed("data-out-unknown-task", 0x00, [data_out(77, 0x1234, 0, 0, blk)])
    seed("data-out-bad-offset", 0x00,
         [scsi_cmd(1, 1, cdb10(0x2A, 0, 2), 1024, write=True, data=blk, final=False),
          data_out(1, 0xFFFFFFFF, 0, 0xFFFFFE00, blk)])
    seed("text-sendtargets", 0x00, [text_req(1, 1, kv(("SendTargets", "All")))])
    seed("text-continue", 0x00, [text_req(1, 1, b"SendTarg", cont=True),
                                 text_req(1, 1, b"ets=All\0")])
    seed("text-renegotiate", 0x00, [text_req(1, 1, kv(("MaxRecvDataSegmentLength", "8192"),
                                                      ("X-foo", "bar")))])
    seed("discovery-sendtargets", 0x04, [text_req(1, 1, kv(("SendTargets", "All"))),
                                         logout(2, 1)])
    seed("discovery-scsi-refused", 0x04, [scsi_cmd(1, 1, bytes(6))])
    seed("tmf-abort-task", 0x08, [scsi_cmd(5, 1, cdb10(0x2A, 0, 8), 4096, write=True),
                                  tmf(6, 2, 1, ref=5, refcmdsn=1)])
    seed("tmf-lun-reset", 0x00, [tmf(1, 1, 5), tmf(2, 1, 2), tmf(3, 1, 4), tmf(4, 1, 6),
                                 tmf(5, 1, 7), tmf(6, 1, 8), tmf(7, 1, 3)])
    seed("logout-session", 0x00, [logout(1, 1, 0)])
    seed("logout-then-cmd", 0x00, [logout(1, 1, 1), scsi_cmd(2, 1, bytes(6))])
    seed("snack", 0x00, [snack(1, 0), snack(2, 1), snack(3, 2), snack(4, 3)])
    seed("unknown-opcodes", 0x00, [(bhs(op, 0x80, itt=op), b"", b"")
                                   for op in (0x07, 0x0F, 0x1C, 0x1D, 0x1E, 0x3C, 0x23)])
    seed("cmdsn-outside-window", 0x00, [scsi_cmd(1, 1000, bytes(6)), scsi_cmd(2, 1, bytes(6)),
                                        scsi_cmd(3, 0x80000001, bytes(6))])
    seed("duplicate-itt", 0x08, [scsi_cmd(1, 1, cdb10(0x2A, 0, 8), 4096, write=True),
                                 scsi_cmd(1, 2, cdb10(0x2A, 0, 8), 4096, write=True)])
    seed("ext-cdb-ahs", 0x00, [scsi_cmd(1, 1, bytes([0x7F]) + bytes(15),
                                        ahs=be16(20) + b"\x01\0" + bytes(20))])
    seed("bidi-ahs", 0x00, [scsi_cmd(1, 1, cdb10(0x28, 0, 1), 512, read=True,
                                     ahs=be16(5) + b"\x02\0\0" + be32(512) + b"\0\0\0")])
    seed("ahs-too-long", 0x00, [scsi_cmd(1, 1, bytes(6), ahs=bytes(255 * 4))])
    seed("dlen-over-mrdsl", 0x00, [nop_out(1, 1, b"x" * 70000)])
    seed("truncated-bhs", 0x00, [])
    write("fuzz_tcp_rx", "truncated-bhs", b"\x00" + pdu(*nop_out(1, 1)[:2])[:30])
    write("fuzz_tcp_rx", "huge-dlen", b"\x00" + bhs(0x00, 0x80, imm=True, itt=1,
                                                     f20=0xFFFFFFFF)[:5] + b"\xff\xff\xff" +
          bytes(40))
    seed("hdigest", 0x01, [nop_out(1, 1, b"ping"), scsi_cmd(2, 1, bytes(6))])
    seed("ddigest", 0x02, [nop_out(1, 1, b"ping"), scsi_cmd(2, 1, cdb10(0x2A, 0, 1), 512,
                                                             write=True, data=blk)])
    seed("both-digests", 0x03, [scsi_cmd(1, 1, cdb10(0x2A, 0, 1), 512, write=True, data=blk,
                                         final=False), data_out(1, 0xFFFFFFFF, 0, 0, blk)])
    seed("digests-by-harness", 0x83, [scsi_cmd(1, 1, cdb10(0x2A, 0, 1), 512, write=True,
                                               data=blk), nop_out(2, 2, b"abc"),
                                      text_req(3, 2, kv(("SendTargets", "All")))])
    write("fuzz_tcp_rx", "hdigest-wrong", b"\x01" + pdu(*nop_out(1, 1)[:2]) + b"\0\0\0\0")
    write("fuzz_tcp_rx", "ddigest-wrong", b"\x02" + pdu(*nop_out(1, 1, b"ping")[:2]) +
          b"\0\0\0\0")
    for i, size in enumerate((3, 7, 48, 53, 512, 1000, 4096), 1):
        seed("chunked-%d" % size, i << 4, [scsi_cmd(1, 1, cdb10(0x2A, 0, 2), 1024, write=True,
                                                     data=blk, final=False),
                                           data_out(1, 0xFFFFFFFF, 0, 512, blk),
                                           nop_out(2, 2, b"ping")])
    # the SCSI opcodes with a parameter list, over the wire
    seed("pr-out-register", 0x00, [scsi_cmd(1, 1, bytes([0x5F, 0, 0, 0, 0]) + be32(24) +
                                            b"\0", 24, write=True, data=bytes(8) + be64(7) +
                                            bytes(8))])
    seed("unmap", 0x00, [scsi_cmd(1, 1, bytes([0x42, 0, 0, 0, 0, 0, 0]) + be16(24) + b"\0", 24,
                                  write=True, data=be16(22) + be16(16) + bytes(4) + be64(0) +
                                  be32(8) + bytes(4))])


# ---- iSER ----------------------------------------------------------------

def iser_seeds():
    def seed(name, cfg, body):
        write("fuzz_iser", name, bytes([cfg]) + body)

    def limits(ahs_words, data):
        return be16(ahs_words) + be24(data)

    def ctrl(flags=0, wstag=0, wva=0, rstag=0, rva=0):
        return bytes([0x10 | flags, 0, 0, 0]) + be32(wstag) + be64(wva) + be32(rstag) + be64(rva)

    login = bytes(bhs(0x43, 0x87, itt=1, f24=1))
    seed("ctrl-login", 0, limits(0, 8192) + ctrl() + pdu(login, SEC_KEYS))
    seed("ctrl-scsi-read", 0, limits(66, 8192) + ctrl(0x04, 0, 0, 0x1234, 0x7F0000001000) +
         pdu(*scsi_cmd(1, 1, cdb10(0x28, 0, 8), 4096, read=True)[:2]))
    seed("ctrl-scsi-write", 0, limits(66, 8192) + ctrl(0x08, 0x55, 0x1000) +
         pdu(*scsi_cmd(1, 1, cdb10(0x2A, 0, 8), 4096, write=True)[:2]))
    seed("ctrl-bidi", 0, limits(66, 8192) + ctrl(0x0C, 1, 2, 3, 4) +
         pdu(*scsi_cmd(1, 1, cdb10(0x28, 0, 1), 512, read=True, write=True)[:2]))
    seed("ctrl-ahs", 0, limits(66, 8192) + ctrl() +
         pdu(*scsi_cmd(1, 1, bytes([0x7F]) + bytes(15))[:2], ahs=be16(20) + b"\x01\0" +
             bytes(20)))
    seed("ctrl-ahs-over-limit", 0, limits(1, 8192) + ctrl() +
         pdu(*scsi_cmd(1, 1, bytes(6))[:2], ahs=bytes(8)))
    seed("ctrl-data-over-limit", 0, limits(0, 16) + ctrl() + pdu(*nop_out(1, 1, b"x" * 64)[:2]))
    seed("ctrl-dlen-past-end", 0, limits(0, 8192) + ctrl() + bhs(0x00, 0x80, dlen=4096))
    seed("ctrl-short", 0, limits(0, 8192) + ctrl()[:20])
    seed("ctrl-only-iser-hdr", 0, limits(0, 8192) + ctrl())
    seed("ctrl-huge-ahs", 0, limits(0xFFFF, 0xFFFFFF) + ctrl() + bytes([0, 0, 0, 0, 255]) +
         b"\xff\xff\xff" + bytes(40))
    hello = bytes([0x20, 0x11, 0, 0]) + be16(16) + bytes(6)
    seed("hello", 1, hello)
    seed("hello-versions-inverted", 1, bytes([0x20, 0x12, 0, 0]) + be16(16) + bytes(6))
    seed("hello-version-zero", 1, bytes([0x20, 0x00, 0, 0]) + be16(0) + bytes(6))
    seed("hello-reply", 1, bytes([0x30, 0x11, 0, 0]) + be16(16) + bytes(6))
    seed("hello-reply-reject", 1, bytes([0x31, 0xF1, 0, 0]) + be16(0) + bytes(6))
    seed("hello-short", 1, hello[:11])
    seed("cm-priv", 1, bytes([0xC0, 0, 0, 0]))
    seed("cm-priv-zbva", 1, bytes([0x80, 0, 0, 0]))
    seed("cm-priv-short", 1, bytes([0x40, 0]))

    def rec(stage, text):
        return stage.encode() + text

    seed("keys-target", 0x06, b"\n".join([
        rec("0", SEC_KEYS),
        rec("1", kv(("RDMAExtensions", "Yes"), ("TargetRecvDataSegmentLength", "262144"),
                    ("InitiatorRecvDataSegmentLength", "8192"),
                    ("MaxOutstandingUnexpectedPDUs", "0"), ("HeaderDigest", "CRC32C"),
                    ("DataDigest", "CRC32C,None"), ("OFMarker", "Yes"),
                    ("MaxRecvDataSegmentLength", "65536")))]))
    seed("keys-target-rdma-no", 0x06, rec("1", SEC_KEYS + kv(("RDMAExtensions", "No"))))
    seed("keys-target-bad-values", 0x06, rec("1", SEC_KEYS + kv(
        ("TargetRecvDataSegmentLength", "100"), ("MaxOutstandingUnexpectedPDUs", "1"),
        ("InitiatorRecvDataSegmentLength", "0x1000000"), ("HeaderDigest", ""))))
    seed("keys-target-non-leading", 0x02, rec("1", SEC_KEYS + kv(("RDMAExtensions", "Yes"))))
    seed("keys-initiator", 0x07, rec("1", kv(("RDMAExtensions", "Yes"),
                                             ("TargetRecvDataSegmentLength", "8192"),
                                             ("InitiatorRecvDataSegmentLength", "8192"),
                                             ("HeaderDigest", "None"), ("DataDigest", "None"),
                                             ("MaxOutstandingUnexpectedPDUs", "NotUnderstood"))))
    seed("keys-initiator-rdma-no", 0x07, rec("1", kv(("RDMAExtensions", "No"))))
    seed("keys-initiator-ignorable", 0x07, rec("1", kv(
        ("TargetRecvDataSegmentLength", "Irrelevant"),
        ("InitiatorRecvDataSegmentLength", "NotUnderstood"))))


# ---- CHAP ----------------------------------------------------------------

def chap_seeds():
    # settings: 0 initiator, 1 mutual, 2 base64, 3-4 algorithms, 5 codec only
    def seed(name, settings, *records):
        write("fuzz_chap", name, bytes([settings]) + b"\n".join(records))

    auth = kv(("AuthMethod", "CHAP"))
    seed("target-one-way", 0x00, auth, kv(("CHAP_A", "7,5")), kv(("CHAP_N", "alice"),
                                                                   "CHAP_R=*"))
    seed("target-mutual", 0x02, auth, kv(("CHAP_A", "8")),
         kv(("CHAP_N", "alice"), "CHAP_R=*", ("CHAP_I", "5"), "CHAP_C=0x" + "5a" * 32))
    seed("target-md5", 0x08, auth, kv(("CHAP_A", "5")), kv(("CHAP_N", "alice"), "CHAP_R=*"))
    seed("target-sha1-base64", 0x14, auth, kv(("CHAP_A", "6")),
         kv(("CHAP_N", "alice"), "CHAP_R=*"))
    seed("target-wrong-response", 0x00, auth, kv(("CHAP_A", "7")),
         kv(("CHAP_N", "alice"), "CHAP_R=0x" + "00" * 32))
    seed("target-wrong-user", 0x00, auth, kv(("CHAP_A", "7")),
         kv(("CHAP_N", "mallory"), "CHAP_R=*"))
    seed("target-no-common-alg", 0x18, auth, kv(("CHAP_A", "5,6,7,200")))
    seed("target-alg-list-junk", 0x00, auth, kv(("CHAP_A", ",,7,,x,0x5,99999999999")))
    seed("target-response-first", 0x00, auth, kv(("CHAP_N", "alice"), "CHAP_R=*"))
    seed("target-mutual-reflected", 0x02, auth, kv(("CHAP_A", "7")),
         kv(("CHAP_N", "alice"), "CHAP_R=*", ("CHAP_I", "0"), "CHAP_C=*"))
    seed("target-repeated-key", 0x00, auth, kv(("CHAP_A", "7"), ("CHAP_A", "5")))
    seed("target-long-values", 0x00, auth, kv(("CHAP_A", "7")),
         kv(("CHAP_N", "a" * 300), "CHAP_R=0x" + "f" * 5000))
    seed("target-mutual-bad-challenge", 0x02, auth, kv(("CHAP_A", "7")),
         kv(("CHAP_N", "alice"), "CHAP_R=*", ("CHAP_I", "256"), "CHAP_C=0b===="))
    seed("target-none-offered", 0x00, kv(("AuthMethod", "None")), kv(("CHAP_A", "7")))
    seed("initiator-one-way", 0x01, kv(("AuthMethod", "CHAP")),
         kv(("CHAP_A", "7"), ("CHAP_I", "12"), "CHAP_C=0x" + "01" * 32))
    seed("initiator-mutual", 0x03, kv(("AuthMethod", "CHAP")),
         kv(("CHAP_A", "8"), ("CHAP_I", "200"), "CHAP_C=0b" + "AAAA" * 8),
         kv(("CHAP_N", "tgt"), "CHAP_R=*"))
    seed("initiator-mutual-wrong", 0x03, kv(("AuthMethod", "CHAP")),
         kv(("CHAP_A", "8"), ("CHAP_I", "1"), "CHAP_C=0x11"),
         kv(("CHAP_N", "tgt"), "CHAP_R=0x" + "00" * 32))
    seed("initiator-alg-not-offered", 0x09, kv(("AuthMethod", "CHAP")),
         kv(("CHAP_A", "7"), ("CHAP_I", "1"), "CHAP_C=0x11"))
    seed("initiator-short-challenge", 0x01, kv(("AuthMethod", "CHAP")),
         kv(("CHAP_A", "7"), ("CHAP_I", "1"), "CHAP_C=0x"))
    seed("initiator-none", 0x03, kv(("AuthMethod", "None")))
    for name, value in (("hex", "0x0123456789abcdefABCDEF"), ("hex-odd", "0xabc"),
                        ("base64", "0bSGVsbG8gd29ybGQ="), ("base64-nopad", "0bSGVsbG8"),
                        ("base64-bad", "0b@@@="), ("empty-hex", "0x"), ("no-prefix", "1234"),
                        ("upper", "0XFF0B"), ("long", "0x" + "ab" * 300)):
        seed("codec-" + name, 0x20, bytes([255]) + value.encode())
    seed("codec-small-cap", 0x20, bytes([1]) + b"0xabcd")


# ---- SCSI ----------------------------------------------------------------

def naa(target, lun):
    md = hashlib.sha256(("%s/%d" % (target, lun)).encode()).digest()
    cid = 0x0A1D3D
    return bytes([0x60 | cid >> 20, (cid >> 12) & 0xFF, (cid >> 4) & 0xFF,
                  (cid << 4 | md[3] & 0x0F) & 0xFF]) + md[4:16]


def scsi_seeds():
    # records: flags (0-1 nexus, 2 LUN 1, 3 EDTL), 16-byte CDB, 2-byte length, data
    def r(cdb, data=b"", nexus=0, lun=0, edtl=False):
        cdb = cdb + bytes(16 - len(cdb))
        return bytes([nexus | (4 if lun else 0) | (8 if edtl else 0)]) + cdb + be16(len(data)) + \
            data

    def seed(name, *records):
        write("fuzz_scsi", name, b"".join(records))

    def prout(sa, ptype=0, key=0, sakey=0, flags=0, extra=b"", nexus=0):
        param = be64(key) + be64(sakey) + bytes(4) + bytes([flags, 0]) + bytes(2) + extra
        return r(bytes([0x5F, sa, ptype, 0, 0]) + be32(len(param)) + b"\0", param, nexus)

    def prin(sa, alloc=8192, nexus=0):
        return r(bytes([0x5E, sa]) + bytes(5) + be16(alloc) + b"\0", nexus=nexus)

    blk = bytes(range(256)) * 2
    alloc = be16(0xFFFF)
    # every opcode of the table once, plainly
    simple = {
        "tur": bytes(6), "request-sense": bytes([0x03, 0, 0, 0, 252, 0]),
        "inquiry": bytes([0x12, 0, 0, 0, 255, 0]),
        "inquiry-vpd-00": bytes([0x12, 1, 0x00, 0, 255, 0]),
        "inquiry-vpd-80": bytes([0x12, 1, 0x80, 0, 255, 0]),
        "inquiry-vpd-83": bytes([0x12, 1, 0x83, 1, 0, 0]),
        "inquiry-vpd-b0": bytes([0x12, 1, 0xB0, 0, 255, 0]),
        "inquiry-vpd-b1": bytes([0x12, 1, 0xB1, 0, 255, 0]),
        "inquiry-vpd-b2": bytes([0x12, 1, 0xB2, 0, 255, 0]),
        "inquiry-vpd-8f": bytes([0x12, 1, 0x8F, 0, 255, 0]),
        "mode-sense6-all": bytes([0x1A, 0, 0x3F, 0, 255, 0]),
        "mode-sense10-all": bytes([0x5A, 0, 0x3F, 0xFF, 0, 0, 0, 0xFF, 0xFF, 0]),
        "mode-sense10-llbaa": bytes([0x5A, 0x10, 0x08, 0, 0, 0, 0, 0x10, 0, 0]),
        "start-stop": bytes([0x1B, 0, 0, 0, 0, 0]),
        "prevent-allow": bytes([0x1E, 0, 0, 0, 1, 0]),
        "read-capacity10": bytes([0x25]) + bytes(9),
        "read-capacity16": bytes([0x9E, 0x10]) + bytes(8) + be32(32) + b"\0\0",
        "get-lba-status": bytes([0x9E, 0x12]) + be64(0) + be32(4096) + b"\0\0",
        "get-lba-status-maxalloc": bytes([0x9E, 0x12]) + be64(0) + be32(0xFFFFFFFF) + b"\0\0",
        "read6": bytes([0x08, 0, 0, 0, 1, 0]), "read10": cdb10(0x28, 0, 8),
        "read12": bytes([0xA8, 0]) + be32(0) + be32(8) + b"\0\0",
        "read16": cdb16(0x88, 0, 8), "read16-past-end": cdb16(0x88, 2040, 16),
        "read16-lba-wrap": cdb16(0x88, 0xFFFFFFFFFFFFFFFF, 2),
        "verify10": cdb10(0x2F, 0, 8), "verify16": cdb16(0x8F, 0, 8),
        "verify12": bytes([0xAF, 0]) + be32(0) + be32(8) + b"\0\0",
        "sync-cache10": cdb10(0x35, 0, 0), "sync-cache16": cdb16(0x91, 0, 0),
        "prefetch10": cdb10(0x34, 0, 8), "prefetch16": cdb16(0x90, 0, 8),
        "report-luns": bytes([0xA0, 0, 0, 0, 0, 0]) + be32(4096) + b"\0\0",
        "report-luns-maxalloc": bytes([0xA0, 0, 0, 0, 0, 0]) + be32(0xFFFFFFFF) + b"\0\0",
        "report-opcodes-all": bytes([0xA3, 0x0C, 0, 0, 0, 0]) + be32(65536) + b"\0\0",
        "report-opcodes-one": bytes([0xA3, 0x0C, 0x81, 0x28, 0, 0]) + be32(64) + b"\0\0",
        "report-opcodes-sa": bytes([0xA3, 0x0C, 0x82, 0x9E, 0, 0x10]) + be32(64) + b"\0\0",
        "report-opcodes-rctd": bytes([0xA3, 0x0C, 0x80, 0, 0, 0]) + be32(0xFFFFFFFF) + b"\0\0",
        "report-tpgs": bytes([0xA3, 0x0A, 0, 0, 0, 0]) + be32(1024) + b"\0\0",
        "report-tpgs-maxalloc": bytes([0xA3, 0x0A, 0, 0, 0, 0]) + be32(0xFFFFFFFF) + b"\0\0",
        "read-defect10": bytes([0x37, 0, 0x1D, 0, 0, 0, 0, 0xFF, 0xFF, 0]),
        "read-defect12": bytes([0xB7, 0x1D]) + bytes(4) + be32(0xFFFFFFFF) + b"\0\0",
        "reserve6": bytes([0x16]) + bytes(5), "release6": bytes([0x17]) + bytes(5),
        "reserve10": bytes([0x56]) + bytes(9), "release10": bytes([0x57]) + bytes(9),
        "rcr-status": bytes([0x84, 0x00, 1]) + bytes(7) + be32(1024) + b"\0\0",
        "rcr-op-params": bytes([0x84, 0x03]) + bytes(8) + be32(1024) + b"\0\0",
        "rcr-failed-seg": bytes([0x84, 0x04, 1]) + bytes(7) + be32(0xFFFFFFFF) + b"\0\0",
        "unknown-opcode": bytes([0xC0]) + bytes(15),
        "bad-control": bytes([0x00, 0, 0, 0, 0, 0xC7]),
    }
    for name, cdb in simple.items():
        seed(name, r(cdb))
    seed("lun1-read", r(cdb10(0x28, 0, 1), lun=1))
    seed("no-nexus-reserve", r(bytes([0x16]) + bytes(5), nexus=3))
    # writes
    seed("write6", r(bytes([0x0A, 0, 0, 2, 1, 0]), blk))
    seed("write10-fua", r(cdb10(0x2A, 1, 1, b1=0x08), blk))
    seed("write12", r(bytes([0xAA, 0]) + be32(3) + be32(1) + b"\0\0", blk))
    seed("write16-short-data", r(cdb16(0x8A, 0, 4), blk))
    seed("write-edtl", r(cdb10(0x2A, 0, 2), blk, edtl=True))
    seed("write-verify", r(cdb10(0x2E, 0, 1), blk), r(cdb16(0x8E, 1, 1), blk))
    seed("orwrite", r(cdb16(0x8B, 0, 1), blk))
    seed("caw", r(cdb10(0x2A, 0, 1), blk),
         r(bytes([0x89, 0]) + be64(0) + b"\0\0\0\x01\0\0", blk + blk))
    seed("caw-miscompare", r(bytes([0x89, 0]) + be64(0) + b"\0\0\0\x01\0\0", bytes(512) + blk))
    seed("caw-too-many", r(bytes([0x89, 0]) + be64(0) + b"\0\0\0\xff\0\0", blk))
    seed("write-same10", r(cdb10(0x41, 0, 16), blk))
    seed("write-same16-unmap", r(cdb16(0x93, 0, 64, b1=0x08), bytes(512)))
    seed("write-same16-ndob", r(cdb16(0x93, 8, 8, b1=0x09)))
    seed("write-same-whole-lu", r(cdb16(0x93, 0, 0), blk))
    unmap = be16(38) + be16(32) + bytes(4) + be64(0) + be32(8) + bytes(4) + be64(100) + \
        be32(1) + bytes(4)
    seed("unmap", r(bytes([0x42]) + bytes(6) + be16(len(unmap)) + b"\0", unmap))
    seed("unmap-bad-lengths", r(bytes([0x42]) + bytes(6) + be16(24) + b"\0",
                                be16(0xFFFF) + be16(0xFFF0) + bytes(4) + be64(0) + be32(8) +
                                bytes(4)))
    seed("unmap-past-end", r(bytes([0x42]) + bytes(6) + be16(24) + b"\0",
                             be16(22) + be16(16) + bytes(4) + be64(2047) + be32(8) + bytes(4)))
    # mode select
    caching = bytes([0x08, 0x12, 0x04]) + bytes(17)
    seed("mode-select6", r(bytes([0x15, 0x10, 0, 0, 4 + len(caching), 0]),
                           bytes(4) + caching))
    seed("mode-select10", r(bytes([0x55, 0x10]) + bytes(5) + be16(8 + len(caching)) + b"\0",
                            bytes(8) + caching))
    seed("mode-select-blockdesc", r(bytes([0x15, 0x10, 0, 0, 12, 0]),
                                    bytes([0, 0, 0, 8]) + bytes(5) + be24(512)))
    seed("mode-select-bad-page", r(bytes([0x15, 0x10, 0, 0, 8, 0]),
                                   bytes(4) + bytes([0x3E, 0xFF, 0, 0])))
    seed("mode-select-sp", r(bytes([0x15, 0x11, 0, 0, 4, 0]), bytes(4)))
    # persistent reservations, two initiators
    seed("pr-register-reserve", prout(0, key=0, sakey=0xA), prout(1, 5, key=0xA),
         prin(0), prin(1), prin(2), prin(3), r(cdb10(0x2A, 0, 1), blk, nexus=1))
    seed("pr-preempt", prout(0, sakey=0xA), prout(0, sakey=0xB, nexus=1), prout(1, 1, key=0xA),
         prout(4, 1, key=0xB, sakey=0xA, nexus=1), prin(2, nexus=1))
    seed("pr-preempt-abort", prout(0, sakey=0xA), prout(0, sakey=0xB, nexus=2),
         prout(1, 3, key=0xA), prout(5, 3, key=0xB, sakey=0xA, nexus=2))
    seed("pr-release-clear", prout(0, sakey=0xA), prout(1, 6, key=0xA), prout(2, 6, key=0xA),
         prout(3, key=0xA))
    seed("pr-register-ignore", prout(6, sakey=0xC), prout(0, key=0xC, sakey=0))
    seed("pr-aptpl", prout(0, sakey=0xA, flags=0x01), prin(3))
    seed("pr-all-tg-pt", prout(0, sakey=0xA, flags=0x04), prin(3, nexus=2))
    iname = (IQN_I + ",i,0x800000000001").encode()
    tid = bytes([0x45, 0]) + be16(len(pad4(iname + b"\0"))) + pad4(iname + b"\0")
    seed("pr-register-and-move", prout(0, sakey=0xA), prout(1, 5, key=0xA),
         r(bytes([0x5F, 7, 5, 0, 0]) + be32(24 + len(tid)) + b"\0",
           be64(0xA) + be64(0xD) + bytes(4) + bytes([0, 0]) + be16(2) + be32(len(tid)) + tid))
    for n, tlen in (("0", 0), ("23", 23), ("ffffffe8", 0xFFFFFFE8), ("ffffffff", 0xFFFFFFFF),
                    ("past-list", 200)):
        seed("pr-move-tidlen-" + n, prout(0, sakey=0xA), prout(1, 5, key=0xA),
             r(bytes([0x5F, 7, 5, 0, 0]) + be32(24 + 24) + b"\0",
               be64(0xA) + be64(0xD) + bytes(4) + bytes([0, 0]) + be16(1) + be32(tlen) + tid[:24]))
    seed("pr-spec-i-pt", prout(0, sakey=0xA, flags=0x08, extra=be32(len(tid)) + tid))
    seed("pr-bad-length", r(bytes([0x5F, 0, 0, 0, 0]) + be32(23) + b"\0", bytes(23)))
    seed("pr-in-maxalloc", r(bytes([0x5E, 2]) + bytes(5) + b"\xff\xff\0"))
    # extended copy between the two LUs
    def tgt(lun, bs):
        return bytes([0xE4, 0, 0, 0, 0x01, 0x03, 0, 16]) + naa("iqn.2026-11.org.idm:disk1", lun) + \
            bytes(5) + be24(bs)

    def seg(src, dst, n, slba, dlba):
        return bytes([0x02, 0]) + be16(24) + be16(src) + be16(dst) + b"\0\0" + be16(n) + \
            be64(slba) + be64(dlba)

    def xcopy(targets, segs, list_id=1, usage=0):
        t, s = b"".join(targets), b"".join(segs)
        param = bytes([list_id, usage]) + be16(len(t)) + bytes(4) + be32(len(s)) + bytes(4) + t + s
        return r(bytes([0x83, 0]) + bytes(8) + be32(len(param)) + b"\0\0", param)

    seed("xcopy-same-lu", r(cdb10(0x2A, 0, 1), blk),
         xcopy([tgt(0, 512)], [seg(0, 0, 1, 0, 100)]),
         r(bytes([0x84, 0x00, 1]) + bytes(7) + be32(1024) + b"\0\0"))
    seed("xcopy-two-lus", xcopy([tgt(0, 512), tgt(1, 4096)], [seg(0, 1, 8, 0, 1),
                                                               seg(1, 0, 1, 2, 16)]))
    seed("xcopy-bad-descriptor", xcopy([tgt(0, 512)], [seg(0, 5, 1, 0, 0)]))
    seed("xcopy-past-end", xcopy([tgt(0, 512)], [seg(0, 0, 0xFFFF, 0, 2000)]))
    seed("xcopy-unknown-naa", xcopy([bytes([0xE4, 0, 0, 0, 1, 3, 0, 16]) + bytes(16) + bytes(5) +
                                     be24(512)], [seg(0, 0, 1, 0, 1)]))
    seed("xcopy-reserved-dest", prout(0, sakey=0xA, nexus=1), prout(1, 3, key=0xA, nexus=1),
         xcopy([tgt(0, 512)], [seg(0, 0, 1, 0, 1)]))
    seed("xcopy-bad-lengths", r(bytes([0x83, 0]) + bytes(8) + be32(16) + b"\0\0",
                                bytes([1, 0]) + be16(0xFFE0) + bytes(4) + be32(0xFFFFFFE4) +
                                bytes(4)))
    # unit attentions and reset-like state
    seed("stop-then-read", r(bytes([0x1B, 0, 0, 0, 0, 0])), r(cdb10(0x28, 0, 1)),
         r(bytes([0x1B, 0, 0, 0, 1, 0])), r(cdb10(0x28, 0, 1)))
    seed("mode-select-ua", r(bytes([0x15, 0x10, 0, 0, 4 + len(caching), 0]), bytes(4) + caching),
         r(bytes(6), nexus=1), r(bytes(6), nexus=1))


# ---- JSON config ---------------------------------------------------------

def config_seeds():
    def seed(name, text):
        write("fuzz_config", name, text.encode())

    seed("minimal", '{"portals":[{"addr":"127.0.0.1"}],"targets":[{"iqn":"%s","luns":'
                    '[{"lun":0,"spec":"mem:64M"}]}]}' % IQN_T)
    seed("full", """{
  "reactors": 2,
  "state_dir": "/var/lib/idm",
  "portals": [{"addr": "127.0.0.1", "port": 3260, "tpgt": 1},
              {"addr": "::1", "port": 3261, "tpgt": 2}],
  "targets": [
    {"iqn": "%s", "alias": "disk",
     "luns": [{"lun": 0, "spec": "file:/tmp/lun0.img:1G", "block_size": 4096},
              {"lun": 1, "spec": "null:1T"}],
     "acl": ["%s"],
     "chap": {"user": "alice", "secret": "initiator-secret-1",
              "target_user": "tgt", "target_secret": "target-secret-22"},
     "transports": ["tcp", "iser"]},
    {"iqn": "%s", "luns": [{"lun": 5, "spec": "mem:1M"}], "transports": ["iser"]}],
  "discovery": {"chap": {"user": "disc", "secret": "discovery-secret"}, "acl_filter": false},
  "chap_algorithms": ["SHA3-256", "SHA-256", "SHA1", "MD5"],
  "tunables": {"max_recv_dsl": 262144, "max_burst_length": 1048576,
               "first_burst_length": 262144, "max_outstanding_r2t": 16,
               "initial_r2t": false, "immediate_data": true, "queue_depth": 128,
               "nop_interval_s": 30, "nop_timeout_s": 15, "login_timeout_s": 15,
               "shutdown_grace_s": 5, "iser_copy_threshold": 131072}
}""" % (IQN_T, IQN_I, IQN_T2))
    seed("not-json", "portals: [127.0.0.1]")
    seed("not-object", '[{"addr": "127.0.0.1"}]')
    seed("empty-object", "{}")
    seed("no-targets", '{"portals":[{"addr":"127.0.0.1"}]}')
    seed("unknown-key", '{"portals":[{"addr":"127.0.0.1"}],"bogus":1}')
    seed("bad-types", '{"portals":{"addr":1},"targets":"x","reactors":"2","tunables":[]}')
    seed("too-many-portals", '{"portals":[%s]}' % ",".join(['{"addr":"127.0.0.1"}'] * 17))
    seed("lun-out-of-range", '{"portals":[{"addr":"127.0.0.1"}],"targets":[{"iqn":"%s",'
                             '"luns":[{"lun":256,"spec":"mem:1M"},{"lun":-1,"spec":"x"}]}]}'
         % IQN_T)
    seed("long-strings", '{"portals":[{"addr":"%s"}],"targets":[{"iqn":"%s","alias":"%s",'
                         '"luns":[{"lun":0,"spec":"%s"}]}]}'
         % ("1" * 100, "i" * 300, "a" * 300, "m" * 600))
    seed("chap-bad", '{"portals":[{"addr":"127.0.0.1"}],"targets":[{"iqn":"%s","chap":'
                     '{"user":"","secret":"x","target_secret":"x"}}]}' % IQN_T)
    seed("chap-algs-bad", '{"chap_algorithms":["MD4","MD5","MD5"]}')
    seed("chap-algs-empty", '{"chap_algorithms":[]}')
    seed("tunables-range", '{"tunables":{"max_recv_dsl":1,"queue_depth":0,'
                           '"max_burst_length":99999999999,"bogus":1}}')
    seed("numbers-odd", '{"reactors":1e3,"portals":[{"addr":"127.0.0.1","port":65536,'
                        '"tpgt":-5}]}')
    seed("nested-deep", "[" * 64 + "]" * 64)
    seed("unicode", '{"portals":[{"addr":"\\u0000127.0.0.1"}],"targets":[{"iqn":"iqn.\\u00e9"}]}')
    seed("acl-too-long", '{"portals":[{"addr":"127.0.0.1"}],"targets":[{"iqn":"%s","acl":[%s]}]}'
         % (IQN_T, ",".join(['"%s"' % IQN_I] * 33)))
    seed("transports-bad", '{"portals":[{"addr":"127.0.0.1"}],"targets":[{"iqn":"%s",'
                           '"transports":["fc"]}]}' % IQN_T)
    seed("duplicate-keys", '{"portals":[{"addr":"127.0.0.1"}],"portals":[],"targets":[]}')
    seed("truncated", '{"portals":[{"addr":"127.0.0.1"')


def main():
    clean()
    keys_seeds()
    login_seeds()
    tcp_seeds()
    iser_seeds()
    chap_seeds()
    scsi_seeds()
    config_seeds()
    for h in sorted(os.listdir(OUT)):
        print("%-12s %d seeds" % (h, len(os.listdir(os.path.join(OUT, h)))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
