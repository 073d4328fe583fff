#!/usr/bin/env python3
"""Writes the distinct mDNS UDP payloads of pcap files as NAME-NN.bin (used by capture.sh).

usage: split_pcap.py OUTDIR PCAP PREFIX [PCAP PREFIX ...]
Handles classic pcap with Ethernet (1) or Linux cooked (113) link types, IPv4/UDP only.
"""
import struct, sys

def payloads(path):
    with open(path, "rb") as f:
        data = f.read()
    magic = data[:4]
    endian = "<" if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    linktype = struct.unpack(endian + "I", data[20:24])[0]
    pos = 24
    while pos + 16 <= len(data):
        _, _, incl, _ = struct.unpack(endian + "IIII", data[pos:pos + 16])
        frame = data[pos + 16:pos + 16 + incl]
        pos += 16 + incl
        off = {1: 14, 113: 16}[linktype]
        ip = frame[off:]
        if not ip or ip[0] >> 4 != 4 or ip[9] != 17:
            continue
        udp = ip[(ip[0] & 0x0F) * 4:]
        yield udp[8:struct.unpack(">H", udp[4:6])[0]]

def main():
    out = sys.argv[1]
    args = sys.argv[2:]
    for path, prefix in zip(args[::2], args[1::2]):
        seen = []
        for p in payloads(path):
            if p not in seen:
                seen.append(p)
        for i, p in enumerate(seen):
            kind = "response" if p[2] & 0x80 else "query"
            with open(f"{out}/{prefix}-{i:02}-{kind}.bin", "wb") as f:
                f.write(p)
        print(f"{prefix}: {len(seen)} distinct payloads")

main()
