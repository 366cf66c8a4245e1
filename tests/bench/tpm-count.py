#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Count the TPM 2.0 commands in a capture written by tpm2-tss's pcap TCTI.

tpm2-tss's "pcap:<child TCTI>" TCTI, with TCTI_PCAP_FILE=FILE, appends every command it sends and
every response it receives to FILE as pcapng.  Each TPM message is the payload of one fake IPv4/TCP
packet: host port 50000 -> TPM port 2321 for a command, 2321 -> 50000 for a response.  Every process
that opens the TCTI appends a new pcapng section (its own Section Header Block and Interface
Description Block) to the same file, so a capture of a shell script that runs several tpm2-tools holds
several sections; all of them are read, in file order.

Usage: tpm-count.py [--json] [--tpm-port N] FILE

Prints the commands in order (name, or hex for a command code not in the table), with the response
code of each and the TPM's time for it, then the total.  With --json: {"total": N, "commands":
["ReadPublic", ...], "rcs": [0, ...], "tpm_ms": [...], "tpm_total_ms": T} (each command's response
code, null when no response came; the time from the command's record to its response's record).

The TPM's time: the pcap TCTI records a command just before it hands it to the TPM and a response
just after it returns, with CLOCK_MONOTONIC time stamps, so their difference is what the TPM (and
the channel to it) took, with none of the caller's own work.  This is the floor of an unlock.

Standard library only.  Also reads classic libpcap files and captures with Ethernet, raw-IP, Linux
cooked or loopback link layers (tcpdump of an mssim-style TCP TPM is NOT the same stream: that
protocol wraps each command in its own framing, which this tool does not unwrap).
"""

import argparse
import json
import struct
import sys

# TPM 2.0 Library, Part 2, "TPM_CC" (command codes).
COMMAND_NAMES = {
    0x11F: "NV_UndefineSpaceSpecial", 0x120: "EvictControl", 0x121: "HierarchyControl",
    0x122: "NV_UndefineSpace", 0x124: "ChangeEPS", 0x125: "ChangePPS", 0x126: "Clear",
    0x127: "ClearControl", 0x128: "ClockSet", 0x129: "HierarchyChangeAuth",
    0x12A: "NV_DefineSpace", 0x12B: "PCR_Allocate", 0x12C: "PCR_SetAuthPolicy",
    0x12D: "PP_Commands", 0x12E: "SetPrimaryPolicy", 0x12F: "FieldUpgradeStart",
    0x130: "ClockRateAdjust", 0x131: "CreatePrimary", 0x132: "NV_GlobalWriteLock",
    0x133: "GetCommandAuditDigest", 0x134: "NV_Increment", 0x135: "NV_SetBits",
    0x136: "NV_Extend", 0x137: "NV_Write", 0x138: "NV_WriteLock",
    0x139: "DictionaryAttackLockReset", 0x13A: "DictionaryAttackParameters",
    0x13B: "NV_ChangeAuth", 0x13C: "PCR_Event", 0x13D: "PCR_Reset", 0x13E: "SequenceComplete",
    0x13F: "SetAlgorithmSet", 0x140: "SetCommandCodeAuditStatus", 0x141: "FieldUpgradeData",
    0x142: "IncrementalSelfTest", 0x143: "SelfTest", 0x144: "Startup", 0x145: "Shutdown",
    0x146: "StirRandom", 0x147: "ActivateCredential", 0x148: "Certify", 0x149: "PolicyNV",
    0x14A: "CertifyCreation", 0x14B: "Duplicate", 0x14C: "GetTime",
    0x14D: "GetSessionAuditDigest", 0x14E: "NV_Read", 0x14F: "NV_ReadLock",
    0x150: "ObjectChangeAuth", 0x151: "PolicySecret", 0x152: "Rewrap", 0x153: "Create",
    0x154: "ECDH_ZGen", 0x155: "HMAC", 0x156: "Import", 0x157: "Load", 0x158: "Quote",
    0x159: "RSA_Decrypt", 0x15B: "HMAC_Start", 0x15C: "SequenceUpdate", 0x15D: "Sign",
    0x15E: "Unseal", 0x160: "PolicySigned", 0x161: "ContextLoad", 0x162: "ContextSave",
    0x163: "ECDH_KeyGen", 0x164: "EncryptDecrypt", 0x165: "FlushContext",
    0x167: "LoadExternal", 0x168: "MakeCredential", 0x169: "NV_ReadPublic",
    0x16A: "PolicyAuthorize", 0x16B: "PolicyAuthValue", 0x16C: "PolicyCommandCode",
    0x16D: "PolicyCounterTimer", 0x16E: "PolicyCpHash", 0x16F: "PolicyLocality",
    0x170: "PolicyNameHash", 0x171: "PolicyOR", 0x172: "PolicyTicket", 0x173: "ReadPublic",
    0x174: "RSA_Encrypt", 0x176: "StartAuthSession", 0x177: "VerifySignature",
    0x178: "ECC_Parameters", 0x179: "FirmwareRead", 0x17A: "GetCapability",
    0x17B: "GetRandom", 0x17C: "GetTestResult", 0x17D: "Hash", 0x17E: "PCR_Read",
    0x17F: "PolicyPCR", 0x180: "PolicyRestart", 0x181: "ReadClock", 0x182: "PCR_Extend",
    0x183: "PCR_SetAuthValue", 0x184: "NV_Certify", 0x185: "EventSequenceComplete",
    0x186: "HashSequenceStart", 0x187: "PolicyPhysicalPresence",
    0x188: "PolicyDuplicationSelect", 0x189: "PolicyGetDigest", 0x18A: "TestParms",
    0x18B: "Commit", 0x18C: "PolicyPassword", 0x18D: "ZGen_2Phase", 0x18E: "EC_Ephemeral",
    0x18F: "PolicyNvWritten", 0x190: "PolicyTemplate", 0x191: "CreateLoaded",
    0x192: "PolicyAuthorizeNV", 0x193: "EncryptDecrypt2", 0x194: "AC_GetCapability",
    0x195: "AC_Send", 0x196: "Policy_AC_SendSelect", 0x197: "CertifyX509",
    0x198: "ACT_SetTimeout", 0x199: "ECC_Encrypt", 0x19A: "ECC_Decrypt",
    0x19B: "PolicyCapability", 0x19C: "PolicyParameters", 0x19D: "NV_DefineSpace2",
    0x19E: "NV_ReadPublic2", 0x19F: "SetCapability",
}

TPM_ST_NO_SESSIONS = 0x8001
TPM_ST_SESSIONS = 0x8002
TPM_HEADER = 10             # tag (2) + size (4) + command or response code (4)
MAX_TPM_MESSAGE = 1 << 20   # far above any real TPM buffer; anything bigger is a desync

PCAPNG_SHB = 0x0A0D0D0A
PCAPNG_IDB = 0x00000001
PCAPNG_PB = 0x00000002      # obsolete Packet Block
PCAPNG_SPB = 0x00000003
PCAPNG_EPB = 0x00000006
BYTE_ORDER_MAGIC = 0x1A2B3C4D

LINKTYPE_NULL = 0
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_RAW_OLD = 12       # some BSDs
LINKTYPE_LOOP = 108
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_LINUX_SLL2 = 276

COMMAND, RESPONSE = "command", "response"


class CaptureError(Exception):
    pass


def command_name(code):
    if code in COMMAND_NAMES:
        return COMMAND_NAMES[code]
    return "0x%08x" % code


# ---------------------------------------------------------------- capture files -> link frames

def read_pcapng(data):
    """Yields (linktype, frame bytes) for every packet of every section, in file order."""
    off = 0
    endian = None
    links = []
    while off < len(data):
        if len(data) - off < 12:
            raise CaptureError("truncated block at offset %d" % off)
        raw_type = struct.unpack_from("<I", data, off)[0]
        if raw_type == PCAPNG_SHB:
            # The byte-order magic decides how this whole section is read.
            magic = data[off + 8:off + 12]
            if magic == struct.pack("<I", BYTE_ORDER_MAGIC):
                endian = "<"
            elif magic == struct.pack(">I", BYTE_ORDER_MAGIC):
                endian = ">"
            else:
                raise CaptureError("bad byte-order magic at offset %d" % off)
            links = []     # interface ids restart in every section
        elif endian is None:
            raise CaptureError("not a pcapng file (no section header first)")
        btype, blen = struct.unpack_from(endian + "II", data, off)
        if blen < 12 or blen % 4 or off + blen > len(data):
            raise CaptureError("bad block length %d at offset %d" % (blen, off))
        body = data[off + 8:off + blen - 4]
        if btype == PCAPNG_IDB:
            links.append((struct.unpack_from(endian + "H", body, 0)[0], _tsresol(body, endian)))
        elif btype == PCAPNG_EPB:
            iface, ts_high, ts_low, caplen, _ = struct.unpack_from(endian + "IIIII", body, 0)
            link, unit = _link(links, iface, off)
            yield link, body[20:20 + caplen], ((ts_high << 32) | ts_low) * unit
        elif btype == PCAPNG_PB:
            iface, _, ts_high, ts_low, caplen, _ = struct.unpack_from(endian + "HHIIII", body, 0)
            link, unit = _link(links, iface, off)
            yield link, body[20:20 + caplen], ((ts_high << 32) | ts_low) * unit
        elif btype == PCAPNG_SPB:
            origlen = struct.unpack_from(endian + "I", body, 0)[0]
            yield _link(links, 0, off)[0], body[4:4 + origlen], None
        off += blen


def _tsresol(body, endian):
    """Seconds per time stamp unit of an interface: its if_tsresol option, else microseconds."""
    off = 8                                  # LinkType, Reserved, SnapLen
    while off + 4 <= len(body):
        code, length = struct.unpack_from(endian + "HH", body, off)
        if code == 0:                        # opt_endofopt
            break
        if code == 9 and length >= 1:        # if_tsresol
            v = body[off + 4]
            return 2.0 ** -(v & 0x7F) if v & 0x80 else 10.0 ** -v
        off += 4 + (length + 3) // 4 * 4
    return 1e-6


def _link(links, iface, off):
    if iface >= len(links):
        raise CaptureError("packet at offset %d names unknown interface %d" % (off, iface))
    return links[iface]


def read_pcap(data):
    """Classic libpcap, for captures made by other tools."""
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        endian = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        endian = ">"
    else:
        raise CaptureError("not a pcap or pcapng file")
    linktype = struct.unpack_from(endian + "I", data, 20)[0] & 0x0FFFFFFF
    unit = 1e-9 if magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d") else 1e-6
    off = 24
    while off + 16 <= len(data):
        sec, frac, caplen = struct.unpack_from(endian + "III", data, off)
        yield linktype, data[off + 16:off + 16 + caplen], sec + frac * unit
        off += 16 + caplen


def read_capture(data):
    if len(data) >= 4 and struct.unpack_from("<I", data, 0)[0] == PCAPNG_SHB:
        return read_pcapng(data)
    return read_pcap(data)


# ---------------------------------------------------------------- link frames -> TCP segments

def ip_packet(linktype, frame):
    """Strips the link layer; returns the IP packet or None."""
    if linktype in (LINKTYPE_IPV4, LINKTYPE_IPV6, LINKTYPE_RAW, LINKTYPE_RAW_OLD):
        return frame
    if linktype in (LINKTYPE_NULL, LINKTYPE_LOOP):
        return frame[4:]
    if linktype == LINKTYPE_ETHERNET:
        off, ethertype = 14, struct.unpack_from(">H", frame, 12)[0] if len(frame) >= 14 else 0
        while ethertype in (0x8100, 0x88A8) and len(frame) >= off + 4:
            ethertype = struct.unpack_from(">H", frame, off + 2)[0]
            off += 4
        return frame[off:] if ethertype in (0x0800, 0x86DD) else None
    if linktype == LINKTYPE_LINUX_SLL:
        return frame[16:]
    if linktype == LINKTYPE_LINUX_SLL2:
        return frame[20:]
    return None


def tcp_segment(packet):
    """Returns (source port, destination port, payload) of a TCP packet, or None."""
    if not packet:
        return None
    version = packet[0] >> 4
    if version == 4:
        if len(packet) < 20:
            return None
        ihl = (packet[0] & 0x0F) * 4
        total = struct.unpack_from(">H", packet, 2)[0]
        if packet[9] != 6:
            return None
        seg = packet[ihl:total if total else len(packet)]
    elif version == 6:
        if len(packet) < 40:
            return None
        plen = struct.unpack_from(">H", packet, 4)[0]
        nxt, off = packet[6], 40
        while nxt in (0, 43, 60) and len(packet) >= off + 8:   # hop-by-hop, routing, dest. options
            nxt, off = packet[off], off + (packet[off + 1] + 1) * 8
        if nxt != 6:
            return None
        seg = packet[off:40 + plen]
    else:
        return None
    if len(seg) < 20:
        return None
    sport, dport = struct.unpack_from(">HH", seg, 0)
    doff = (seg[12] >> 4) * 4
    return sport, dport, seg[doff:]


# ---------------------------------------------------------------- TCP payloads -> TPM messages

def tpm_messages(path, tpm_port):
    """Yields (direction, tag, code, time) for every complete TPM message, in capture order.

    time: the time stamp (seconds) of the packet that completed the message, or None.

    Direction comes from the TCP ports: to the TPM port is a command, from it a response.  Payloads
    of one direction are joined, so a message split over several segments (or several messages in
    one segment) is still framed correctly by the size field of its header.
    """
    with open(path, "rb") as f:
        data = f.read()
    if not data:
        raise CaptureError("empty capture (did the program under test use the pcap TCTI?)")
    buffers = {COMMAND: bytearray(), RESPONSE: bytearray()}
    for linktype, frame, ts in read_capture(data):
        packet = ip_packet(linktype, frame)
        seg = tcp_segment(packet) if packet is not None else None
        if seg is None:
            continue
        sport, dport, payload = seg
        if not payload:
            continue
        if dport == tpm_port:
            direction = COMMAND
        elif sport == tpm_port:
            direction = RESPONSE
        else:
            continue
        buf = buffers[direction]
        buf += payload
        while len(buf) >= TPM_HEADER:
            tag, size, code = struct.unpack_from(">HII", buf, 0)
            if tag not in (TPM_ST_NO_SESSIONS, TPM_ST_SESSIONS) or \
                    not TPM_HEADER <= size <= MAX_TPM_MESSAGE:
                raise CaptureError("%s stream out of step: tag 0x%04x size %d"
                                   % (direction, tag, size))
            if len(buf) < size:
                break
            del buf[:size]
            yield direction, tag, code, ts
    for direction, buf in buffers.items():
        if buf:
            print("tpm-count: warning: %d trailing bytes of an incomplete %s"
                  % (len(buf), direction), file=sys.stderr)


def pair(messages):
    """Returns [(command code, response code or None, TPM time in ms or None)] in command order.

    A TPM answers commands strictly one at a time, so the n-th response belongs to the n-th command.
    """
    commands, responses = [], []
    for direction, _, code, ts in messages:
        (commands if direction == COMMAND else responses).append((code, ts))
    pairs = []
    for i, (cc, sent) in enumerate(commands):
        rc, answered = responses[i] if i < len(responses) else (None, None)
        ms = None
        if sent is not None and answered is not None and answered >= sent:
            ms = (answered - sent) * 1000.0
        pairs.append((cc, rc, ms))
    return pairs


def main(argv=None):
    ap = argparse.ArgumentParser(description="Count the TPM commands in a tpm2-tss pcap capture.")
    ap.add_argument("capture", help="pcapng file written by the pcap TCTI (TCTI_PCAP_FILE)")
    ap.add_argument("--json", action="store_true",
                    help='print {"total": N, "commands": [names]} instead of a listing')
    ap.add_argument("--tpm-port", type=int, default=2321,
                    help="TCP port that stands for the TPM (tpm2-tss uses 2321)")
    args = ap.parse_args(argv)

    try:
        pairs = pair(tpm_messages(args.capture, args.tpm_port))
    except (OSError, CaptureError, struct.error) as e:
        print("tpm-count: %s: %s" % (args.capture, e), file=sys.stderr)
        return 1

    names = [command_name(cc) for cc, _, _ in pairs]
    times = [None if ms is None else round(ms, 3) for _, _, ms in pairs]
    total_ms = None if None in times else round(sum(times), 3)
    if args.json:
        print(json.dumps({"total": len(names), "commands": names,
                          "rcs": [rc for _, rc, _ in pairs],
                          "tpm_ms": times, "tpm_total_ms": total_ms}))
        return 0
    for i, (cc, rc, ms) in enumerate(pairs, 1):
        status = "no response" if rc is None else "rc=0x%03x" % rc
        when = "" if ms is None else "  %8.3f ms" % ms
        print("%3d  %-26s %-12s%s" % (i, command_name(cc), status, when))
    failed = sum(1 for _, rc, _ in pairs if rc)
    print("total: %d TPM commands%s%s" % (len(names), ", %d failed" % failed if failed else "",
                                          "" if total_ms is None else ", %.3f ms in the TPM" % total_ms))
    return 0


if __name__ == "__main__":
    sys.exit(main())
