#!/usr/bin/env python3
"""python-zeroconf as a foreign mDNS peer for dnssd's interop tests and benchmarks.

Run inside a netlab host only (scripts/netlab exec LAB H python3 scripts/zc_peer.py ...).

  zc_peer.py register NAME TYPE PORT [KEY=VALUE ...] [--hold SECS] [--update-after S KEY=VALUE]
      registers, prints {"event":"registered","name":...} once announced, holds, unregisters
      (goodbye) on SIGTERM/SIGINT or after --hold.
  zc_peer.py browse TYPE [--timeout SECS]
      prints one JSON line per event: {"event":"added"|"removed"|"updated","name","port",
      "addresses","txt","server","t"} (t = seconds since start); exits after --timeout.
  zc_peer.py query NAME [--type PTR] [--count N] [--gap SECS] [--interface nl0]
      (raw sockets, not python-zeroconf) sends N multicast QM queries from port 5353 over IPv4
      and IPv6, SECS apart, and expects no answer: other responders' caches then flush
      records whose owner is gone (RFC 6762 §10.5, Passive Observation Of Failures).
"""
import argparse
import json
import signal
import socket
import struct
import sys
import threading
import time

from zeroconf import IPVersion, ServiceBrowser, ServiceInfo, ServiceStateChange, Zeroconf

START = time.monotonic()


def emit(obj):
    obj["t"] = round(time.monotonic() - START, 4)
    print(json.dumps(obj), flush=True)


def full_type(t):
    t = t.rstrip(".")
    return t + ".local." if not t.endswith(".local") else t + "."


def parse_txt(pairs):
    props = {}
    for p in pairs:
        k, _, v = p.partition("=")
        props[k] = v if "=" in p else None
    return props


def txt_dict(info):
    out = {}
    for k, v in (info.properties or {}).items():
        key = k.decode(errors="replace")
        if key not in out:
            out[key] = None if v is None else v.decode(errors="replace")
    return out


def register(args):
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    zc = Zeroconf(ip_version=IPVersion.All)
    stype = full_type(args.type)
    info = ServiceInfo(
        stype,
        f"{args.name}.{stype}",
        port=args.port,
        properties=parse_txt(args.txt),
        server=f"{socket.gethostname()}-zc.local.",
        addresses=None,
        parsed_addresses=args.address or None,
    )
    zc.register_service(info, allow_name_change=True)
    emit({"event": "registered", "name": info.name[: -len(stype) - 1]})
    deadline = time.monotonic() + args.hold
    updated = False
    while not stop.is_set() and time.monotonic() < deadline:
        if args.update_after is not None and not updated and time.monotonic() - START >= args.update_after:
            info = ServiceInfo(stype, info.name, port=args.port, properties=parse_txt(args.update_txt or []),
                               server=info.server, parsed_addresses=info.parsed_addresses())
            zc.update_service(info)
            emit({"event": "updated"})
            updated = True
        stop.wait(0.05)
    zc.unregister_service(info)
    zc.close()
    emit({"event": "unregistered"})


def browse(args):
    zc = Zeroconf(ip_version=IPVersion.All)
    stype = full_type(args.type)

    def on_change(zeroconf, service_type, name, state_change):
        short = name[: -len(service_type) - 1] if name.endswith(service_type) else name
        if state_change is ServiceStateChange.Removed:
            emit({"event": "removed", "name": short})
            return
        info = zeroconf.get_service_info(service_type, name, timeout=3000)
        if info is None:
            return
        emit({
            "event": "added" if state_change is ServiceStateChange.Added else "updated",
            "name": short,
            "port": info.port,
            "server": info.server,
            "addresses": info.parsed_scoped_addresses(),
            "txt": txt_dict(info),
        })

    ServiceBrowser(zc, stype, handlers=[on_change])
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait(args.timeout)
    zc.close()


def query(args):
    qtype = {"A": 1, "PTR": 12, "TXT": 16, "AAAA": 28, "SRV": 33, "ANY": 255}[args.type.upper()]
    name = args.name.rstrip(".")
    packet = struct.pack(">HHHHHH", 0, 0, 1, 0, 0, 0)
    packet += b"".join(bytes([len(label)]) + label for label in (l.encode() for l in name.split(".")))
    packet += b"\0" + struct.pack(">HH", qtype, 1)
    sockets = []
    for family, bind in ((socket.AF_INET, ("0.0.0.0", 5353)), (socket.AF_INET6, ("::", 5353))):
        s = socket.socket(family, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        s.bind(bind)
        sockets.append(s)
    index = socket.if_nametoindex(args.interface)
    sockets[0].setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 255)
    sockets[1].setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, index)
    sockets[1].setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
    for i in range(args.count):
        for s, dest in ((sockets[0], ("224.0.0.251", 5353)), (sockets[1], ("ff02::fb", 5353, 0, index))):
            try:
                s.sendto(packet, dest)
            except OSError as e:
                emit({"event": "error", "error": str(e)})
        emit({"event": "queried", "n": i + 1})
        time.sleep(args.gap)


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("register")
    r.add_argument("name")
    r.add_argument("type")
    r.add_argument("port", type=int)
    r.add_argument("txt", nargs="*")
    r.add_argument("--hold", type=float, default=3600)
    r.add_argument("--address", action="append")
    r.add_argument("--update-after", type=float)
    r.add_argument("--update-txt", action="append")
    b = sub.add_parser("browse")
    b.add_argument("type")
    b.add_argument("--timeout", type=float, default=10)
    q = sub.add_parser("query")
    q.add_argument("name")
    q.add_argument("--type", default="PTR")
    q.add_argument("--count", type=int, default=6)
    q.add_argument("--gap", type=float, default=1.1)
    q.add_argument("--interface", default="nl0")
    args = p.parse_args()
    {"register": register, "browse": browse, "query": query}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
