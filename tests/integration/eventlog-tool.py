#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Event logs for the diagnose tests (tests/integration/test-diagnose.sh): what firmware writes, and
what it extends into the TPM.  Standard library only; shares no code with src/lib.

  eventlog-tool.py make OUT SPEC.json
        a crypto-agile TCG event log (SHA-256 bank only) of the events of SPEC, a JSON list:
          {"pcr": 7, "variable": "SecureBoot", "value": "01"}      EV_EFI_VARIABLE_DRIVER_CONFIG
          {"pcr": 7, "authority": "db", "value": "<hex>"}          EV_EFI_VARIABLE_AUTHORITY
          {"pcr": 4, "action": "Calling EFI Application from Boot Option"}   EV_EFI_ACTION
          {"pcr": 4, "separator": true}                            EV_SEPARATOR (00000000)
          {"pcr": 4, "app": "\\EFI\\BOOT\\BOOTX64.EFI", "digest": "<hex>"}
                                                  EV_EFI_BOOT_SERVICES_APPLICATION (a file path node)
          {"pcr": 4, "app": "...", "pe": FILE}     the same, with FILE's Authenticode digest
          {"pcr": 9, "initrd": FILE}               the Linux EFI stub's EV_EVENT_TAG "Linux initrd"
          {"pcr": 9, "load-options": "console=ttyS0"}   the stub's "LOADED_IMAGE::LoadOptions" tag
        The digest of a variable, action, separator or tag event is the SHA-256 of what it measures.
  eventlog-tool.py digests LOG [--pcrs LIST]
        "PCR HEX" per line: the SHA-256 digests the log's events extended, in order (EV_NO_ACTION left
        out), for tpm2_pcrextend; any crypto-agile log
  eventlog-tool.py last LOG PCR TYPE
        the index (tpm2_eventlog's EventNum) of the last event of TYPE (hex) in PCR
"""
import hashlib, json, struct, subprocess, sys, os

EV_NO_ACTION = 3
EV_SEPARATOR = 4
EV_EVENT_TAG = 6
EV_VAR_DRIVER_CONFIG = 0x80000001
EV_BSA = 0x80000003
EV_EFI_ACTION = 0x80000007
EV_VAR_AUTHORITY = 0x800000E0
SHA256 = 0x000B
EFI_GLOBAL_VARIABLE = bytes.fromhex("61dfe48bca93d211aa0d00e098032b8c")
INITRD_TAG, LOAD_OPTIONS_TAG = 0x8F3B22EC, 0x8F3B22ED


def spec_id_event():
    spec = b"Spec ID Event03\0" + struct.pack("<IBBBBI", 0, 0, 2, 0, 2, 1) + struct.pack("<HH", SHA256, 32) + b"\0"
    return struct.pack("<II", 0, EV_NO_ACTION) + b"\0" * 20 + struct.pack("<I", len(spec)) + spec


def event2(pcr, etype, digest, data):
    return struct.pack("<III", pcr, etype, 1) + struct.pack("<H", SHA256) + digest + struct.pack("<I", len(data)) + data


def variable_data(name, value):
    n = name.encode("utf-16-le")
    return EFI_GLOBAL_VARIABLE + struct.pack("<QQ", len(name), len(value)) + n + value


def device_path(path):
    p = path.encode("utf-16-le") + b"\0\0"
    node = struct.pack("<BBH", 4, 4, 4 + len(p)) + p
    return node + struct.pack("<BBH", 0x7F, 0xFF, 4)


def authenticode(path):
    ref = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pcr-predict-ref.py")
    return bytes.fromhex(subprocess.check_output([sys.executable, ref, "authenticode", path], text=True).strip())


def make(out, spec):
    log = spec_id_event()
    for e in spec:
        pcr = e["pcr"]
        if "variable" in e or "authority" in e:
            name = e.get("variable") or e.get("authority")
            data = variable_data(name, bytes.fromhex(e.get("value", "")))
            etype = EV_VAR_DRIVER_CONFIG if "variable" in e else EV_VAR_AUTHORITY
            digest = hashlib.sha256(data).digest()
        elif "action" in e:
            data, etype = e["action"].encode(), EV_EFI_ACTION
            digest = hashlib.sha256(data).digest()
        elif "separator" in e:
            data, etype = b"\0\0\0\0", EV_SEPARATOR
            digest = hashlib.sha256(data).digest()
        elif "app" in e:
            dp = device_path(e["app"])
            data, etype = struct.pack("<QQQQ", 0, 0, 0, len(dp)) + dp, EV_BSA
            digest = authenticode(e["pe"]) if "pe" in e else bytes.fromhex(e["digest"])
        elif "initrd" in e:
            desc = b"Linux initrd\0"
            data, etype = struct.pack("<II", INITRD_TAG, len(desc)) + desc, EV_EVENT_TAG
            digest = hashlib.sha256(open(e["initrd"], "rb").read()).digest()
        elif "load-options" in e:
            desc = b"LOADED_IMAGE::LoadOptions\0"
            data, etype = struct.pack("<II", LOAD_OPTIONS_TAG, len(desc)) + desc, EV_EVENT_TAG
            digest = hashlib.sha256(e["load-options"].encode("utf-16-le") + b"\0\0").digest()
        else:
            raise SystemExit("unknown event %r" % e)
        log += event2(pcr, etype, digest, data)
    open(out, "wb").write(log)


def parse(log):
    """[(index, pcr, type, sha256 or None)] of a crypto-agile log, the Spec ID event excluded."""
    size = struct.unpack_from("<I", log, 28)[0]
    spec = log[32:32 + size]
    assert spec[:16] == b"Spec ID Event03\0", "not a crypto-agile log"
    n = struct.unpack_from("<I", spec, 24)[0]
    sizes = dict(struct.unpack_from("<HH", spec, 28 + 4 * i) for i in range(n))
    off, index, events = 32 + size, 1, []
    while off < len(log):
        pcr, etype, count = struct.unpack_from("<III", log, off)
        off += 12
        sha = None
        for _ in range(count):
            (a,) = struct.unpack_from("<H", log, off)
            if a == SHA256:
                sha = log[off + 2:off + 34]
            off += 2 + sizes[a]
        (dsize,) = struct.unpack_from("<I", log, off)
        off += 4 + dsize
        events.append((index, pcr, etype, sha))
        index += 1
    return events


def main():
    cmd = sys.argv[1]
    if cmd == "make":
        make(sys.argv[2], json.load(open(sys.argv[3])))
    elif cmd == "digests":
        pcrs = None
        if "--pcrs" in sys.argv:
            pcrs = {int(x) for x in sys.argv[sys.argv.index("--pcrs") + 1].split(",")}
        for index, pcr, etype, sha in parse(open(sys.argv[2], "rb").read()):
            if etype == EV_NO_ACTION or (pcrs is not None and pcr not in pcrs):
                continue
            print(pcr, sha.hex())
    elif cmd == "last":
        pcr, etype = int(sys.argv[3]), int(sys.argv[4], 16)
        found = [i for i, p, t, _ in parse(open(sys.argv[2], "rb").read()) if p == pcr and t == etype]
        if not found:
            raise SystemExit("no such event")
        print(found[-1])
    else:
        raise SystemExit("unknown command " + cmd)


if __name__ == "__main__":
    main()
