#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# An independent reference for `cvmseal pcr predict` (tests/integration/test-pcr-predict.sh): its own
# crypto-agile event log reader and SHA-256 replay, its own PE Authenticode hashing, and a small PE
# image writer.  Shares no code with src/lib.
#
#   pcr-predict-ref.py replay LOG [--kernel-digest HEX] [--initrd FILE] [--pcrs LIST]
#                                  pcr-values JSON of the replay with the kernel's PCR 4 digests
#                                  (the last EV_EFI_BOOT_SERVICES_APPLICATION's, and every earlier one
#                                  with the same digest) and the stub's PCR 9 initrd digest replaced
#   pcr-predict-ref.py authenticode FILE    the SHA-256 Authenticode digest, in hex
#   pcr-predict-ref.py make-pe OUT [--pe32] [--signed]
#                                  a small PE image: sections out of file order, an empty section,
#                                  trailing data, and (--signed) a certificate table at the end
#   pcr-predict-ref.py truncate LOG OUT     LOG cut in the middle of its last event
#   pcr-predict-ref.py tpm2-pcrs < YAML    the sha256 "pcrs:" of tpm2_eventlog's output, as pcr-values
#   pcr-predict-ref.py canon < JSON        a JSON document, with sorted keys on one line
#   pcr-predict-ref.py add-initrd LOG OUT FILE
#                                  LOG with the Linux EFI stub's PCR 9 measurement of the initrd FILE
#                                  appended (an EV_EVENT_TAG event, every bank of the log)
import hashlib, json, re, struct, sys

EV_NO_ACTION = 3
EV_EVENT_TAG = 6
EV_BSA = 0x80000003
EV_HCRTM = 0x80000010
INITRD_TAG = 0x8F3B22EC
SIZES = {0x0004: 20, 0x000B: 32, 0x000C: 48, 0x000D: 64, 0x0012: 32}


def parse(log):
    """[(pcr, type, {alg: digest}, data)] of a crypto-agile log, the Spec ID event excluded."""
    off = 0
    pcr, etype = struct.unpack_from('<II', log, 0)
    size = struct.unpack_from('<I', log, 28)[0]
    spec = log[32:32 + size]
    assert etype == EV_NO_ACTION and spec[:16] == b'Spec ID Event03\0', 'not a crypto-agile log'
    n = struct.unpack_from('<I', spec, 24)[0]
    sizes = {}
    for i in range(n):
        a, s = struct.unpack_from('<HH', spec, 28 + 4 * i)
        sizes[a] = s
    off = 32 + size
    events = []
    while off < len(log):
        pcr, etype, count = struct.unpack_from('<III', log, off)
        off += 12
        digests = {}
        for _ in range(count):
            (a,) = struct.unpack_from('<H', log, off)
            digests[a] = log[off + 2:off + 2 + sizes[a]]
            off += 2 + sizes[a]
        (dsize,) = struct.unpack_from('<I', log, off)
        data = log[off + 4:off + 4 + dsize]
        assert len(data) == dsize, 'truncated'
        off += 4 + dsize
        events.append((pcr, etype, digests, data))
    return events


def replay(events):
    pcrs = {}
    extended = set()
    start0 = bytes(32)
    pcr0_seen = False
    for pcr, etype, digests, data in events:
        if etype == EV_NO_ACTION:
            if pcr == 0 and data[:16] == b'StartupLocality\0':
                start0 = bytes(31) + data[16:17]
            continue
        if pcr == 0 and not pcr0_seen and etype == EV_HCRTM:
            start0 = bytes(31) + b'\x04'
        if pcr == 0:
            pcr0_seen = True
        cur = pcrs.get(pcr, start0 if pcr == 0 else bytes(32))
        pcrs[pcr] = hashlib.sha256(cur + digests[0x000B]).digest()
        extended.add(pcr)
    return pcrs, extended


def authenticode(pe):
    (lfanew,) = struct.unpack_from('<I', pe, 0x3C)
    assert pe[lfanew:lfanew + 4] == b'PE\0\0'
    nsec, = struct.unpack_from('<H', pe, lfanew + 6)
    optsize, = struct.unpack_from('<H', pe, lfanew + 20)
    opt = lfanew + 24
    magic, = struct.unpack_from('<H', pe, opt)
    dirs = opt + (96 if magic == 0x10B else 112)
    ndirs, = struct.unpack_from('<I', pe, dirs - 4)
    size_of_headers, = struct.unpack_from('<I', pe, opt + 60)
    checksum = opt + 64
    h = hashlib.sha256()
    h.update(pe[:checksum])
    cert_size = 0
    if ndirs > 4:
        cert = dirs + 4 * 8
        cert_size, = struct.unpack_from('<I', pe, cert + 4)
        h.update(pe[checksum + 4:cert])
        h.update(pe[cert + 8:size_of_headers])
    else:
        h.update(pe[checksum + 4:size_of_headers])
    done = size_of_headers
    secs = []
    for i in range(nsec):
        s = opt + optsize + 40 * i
        raw_size, raw_ptr = struct.unpack_from('<II', pe, s + 16)
        if raw_size:
            secs.append((raw_ptr, raw_size))
    for ptr, size in sorted(secs):
        h.update(pe[ptr:ptr + size])
        done += size
    if len(pe) > done:
        h.update(pe[done:len(pe) - cert_size])
    return h.hexdigest()


def make_pe(pe32=False, signed=False):
    file_align = 0x200
    nsec = 3
    optsize = (96 if pe32 else 112) + 16 * 8
    lfanew = 0x80
    headers_end = lfanew + 24 + optsize + 40 * nsec
    size_of_headers = (headers_end + file_align - 1) // file_align * file_align
    # Section data: .data placed before .text in the file; .bss has no raw data.
    text = bytes((i * 7 + 1) & 0xFF for i in range(0x400))
    data = bytes((i * 13 + 5) & 0xFF for i in range(0x200))
    data_ptr = size_of_headers
    text_ptr = data_ptr + len(data)
    trailer = b'trailing data, hashed' + bytes(11)
    body_end = text_ptr + len(text) + len(trailer)
    cert = b''
    if signed:
        blob = b'not really PKCS#7 but the hash skips it'
        cert = struct.pack('<IHH', 8 + len(blob), 0x0200, 0x0002) + blob
        cert += bytes(-len(cert) % 8)
    out = bytearray(body_end + len(cert))
    out[0:2] = b'MZ'
    struct.pack_into('<I', out, 0x3C, lfanew)
    out[lfanew:lfanew + 4] = b'PE\0\0'
    struct.pack_into('<HHIIIHH', out, lfanew + 4, 0x8664 if not pe32 else 0x14C, nsec, 0, 0, 0, optsize, 0x22)
    opt = lfanew + 24
    struct.pack_into('<H', out, opt, 0x10B if pe32 else 0x20B)
    struct.pack_into('<II', out, opt + 32, 0x1000, file_align)   # SectionAlignment, FileAlignment
    struct.pack_into('<I', out, opt + 56, 0x4000)                # SizeOfImage
    struct.pack_into('<I', out, opt + 60, size_of_headers)
    struct.pack_into('<I', out, opt + 64, 0xDEADBEEF)            # CheckSum: not hashed
    struct.pack_into('<H', out, opt + 68, 10)                    # Subsystem: EFI application
    dirs = opt + (96 if pe32 else 112)
    struct.pack_into('<I', out, dirs - 4, 16)
    if signed:
        struct.pack_into('<II', out, dirs + 4 * 8, body_end, len(cert))
    sec = opt + optsize
    for i, (name, va, vsize, raw_size, raw_ptr) in enumerate([
            (b'.text', 0x1000, len(text), len(text), text_ptr),
            (b'.data', 0x2000, len(data), len(data), data_ptr),
            (b'.bss', 0x3000, 0x100, 0, 0)]):
        s = sec + 40 * i
        out[s:s + 8] = name.ljust(8, b'\0')
        struct.pack_into('<IIII', out, s + 8, vsize, va, raw_size, raw_ptr)
    out[data_ptr:data_ptr + len(data)] = data
    out[text_ptr:text_ptr + len(text)] = text
    out[text_ptr + len(text):body_end] = trailer
    out[body_end:] = cert
    return bytes(out)


def main():
    cmd = sys.argv[1]
    if cmd == 'authenticode':
        print(authenticode(open(sys.argv[2], 'rb').read()))
    elif cmd == 'make-pe':
        open(sys.argv[2], 'wb').write(make_pe('--pe32' in sys.argv, '--signed' in sys.argv))
    elif cmd == 'truncate':
        log = open(sys.argv[2], 'rb').read()
        open(sys.argv[3], 'wb').write(log[:-3])
    elif cmd == 'tpm2-pcrs':
        m = re.search(r'^pcrs:\n(.*)', sys.stdin.read(), re.S | re.M)
        bank, out = None, {}
        for line in (m.group(1).splitlines() if m else []):
            b = re.match(r'^  (\w+):\s*$', line)
            if b:
                bank = b.group(1)
                continue
            v = re.match(r'^\s+(\d+)\s*:\s*0x([0-9a-fA-F]+)', line)
            if v and bank == 'sha256':
                out[v.group(1)] = v.group(2).lower()
        print(json.dumps({'sha256': out}, sort_keys=True))
    elif cmd == 'canon':
        print(json.dumps(json.load(sys.stdin), sort_keys=True))
    elif cmd == 'add-initrd':
        log = open(sys.argv[2], 'rb').read()
        data = open(sys.argv[4], 'rb').read()
        first = parse(log)[0]
        algs = {0x0004: hashlib.sha1, 0x000B: hashlib.sha256, 0x000C: hashlib.sha384, 0x000D: hashlib.sha512}
        ev = struct.pack('<III', 9, EV_EVENT_TAG, len(first[2]))
        for a in first[2]:
            ev += struct.pack('<H', a) + algs[a](data).digest()
        tag = struct.pack('<II', INITRD_TAG, 13) + b'Linux initrd\0'
        ev += struct.pack('<I', len(tag)) + tag
        open(sys.argv[3], 'wb').write(log + ev)
    elif cmd == 'replay':
        args = sys.argv[3:]
        opt = dict(zip(args[::2], args[1::2]))
        events = parse(open(sys.argv[2], 'rb').read())
        if '--kernel-digest' in opt:
            new = bytes.fromhex(opt['--kernel-digest'])
            bsa = [e for e in events if e[0] == 4 and e[1] == EV_BSA]
            assert bsa, 'no EV_EFI_BOOT_SERVICES_APPLICATION in PCR 4'
            old = bsa[-1][2][0x000B]
            for e in events:
                if e[0] == 4 and e[1] == EV_BSA and e[2][0x000B] == old:
                    e[2][0x000B] = new
        if '--initrd' in opt:
            d = hashlib.sha256(open(opt['--initrd'], 'rb').read()).digest()
            tagged = [e for e in events if e[0] == 9 and e[1] == EV_EVENT_TAG and
                      struct.unpack_from('<I', e[3], 0)[0] == INITRD_TAG]
            for e in tagged:
                e[2][0x000B] = d
            if not tagged:
                events.append((9, EV_EVENT_TAG, {0x000B: d}, struct.pack('<II', INITRD_TAG, 13) + b'Linux initrd\0'))
        pcrs, extended = replay(events)
        if '--pcrs' in opt:
            want = [int(x) for x in opt['--pcrs'].replace('+', ',').split(',')]
        else:
            want = sorted(extended)
        out = {}
        for i in want:
            v = pcrs.get(i, bytes(32))
            if i not in extended and 17 <= i <= 22:
                v = b'\xff' * 32
            out[str(i)] = v.hex()
        print(json.dumps({'sha256': out}, sort_keys=True))
    else:
        sys.exit('unknown command')


if __name__ == '__main__':
    main()
