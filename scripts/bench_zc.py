#!/usr/bin/env python3
"""python-zeroconf side of scripts/bench-peers (a benchmark, not a test). Run in a netlab host.

  bench_zc.py register PREFIX TYPE PORT [--count K] [--hold SECS]
      {"event":"start"} just before Zeroconf() is made; registers K services concurrently
      (PREFIX, or PREFIX-0..PREFIX-{K-1}) with the host's nl* addresses; {"event":"registered"}
      once all are announced; holds until SIGTERM/SIGINT or --hold; unregisters (goodbyes).
  bench_zc.py browse TYPE [--expect K] [--timeout SECS] [--every]
      {"event":"start"} just before Zeroconf() is made; {"event":"up","name",...} for each newly
      resolved instance (with --every or K <= 1: every one; else every 100th);
      {"event":"done"} when K distinct instances are resolved (K = 0: run until the timeout).

Every line carries "wall" (seconds since the Unix epoch; the lab hosts share the clock).
"""
import argparse
import asyncio
import json
import os
import signal
import socket
import sys
import time


def emit(obj):
    obj["wall"] = time.time()
    print(json.dumps(obj), flush=True)


def full_type(t):
    t = t.rstrip(".")
    return t + ".local." if not t.endswith(".local") else t + "."


def host_addresses():
    import ifaddr

    out = []
    for adapter in ifaddr.get_adapters():
        if not adapter.nice_name.startswith("nl"):
            continue
        for ip in adapter.ips:
            if isinstance(ip.ip, tuple):
                out.append(ip.ip[0])
            else:
                out.append(ip.ip)
    return out


async def register(args):
    from zeroconf import IPVersion, ServiceInfo
    from zeroconf.asyncio import AsyncZeroconf

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    emit({"event": "start"})
    addrs = host_addresses()
    aiozc = AsyncZeroconf(ip_version=IPVersion.All)
    stype = full_type(args.type)
    server = f"{socket.gethostname()}-zc.local."
    infos = []
    for i in range(args.count):
        name = args.prefix if args.count == 1 else f"{args.prefix}-{i}"
        infos.append(ServiceInfo(stype, f"{name}.{stype}", port=args.port, properties={"i": str(i)},
                                 server=server, parsed_addresses=addrs))
    tasks = await asyncio.gather(*(aiozc.async_register_service(info) for info in infos))
    await asyncio.gather(*tasks)
    emit({"event": "registered", "count": len(infos), "name": infos[0].name[: -len(stype) - 1],
          "pid": os.getpid()})
    try:
        await asyncio.wait_for(stop.wait(), args.hold)
    except asyncio.TimeoutError:
        pass
    await aiozc.async_unregister_all_services()
    await aiozc.async_close()
    emit({"event": "stopped"})


async def browse(args):
    from zeroconf import IPVersion, ServiceStateChange
    from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

    emit({"event": "start"})
    aiozc = AsyncZeroconf(ip_version=IPVersion.All)
    stype = full_type(args.type)
    done = asyncio.Event()
    seen = set()
    pending = set()

    async def resolve(name):
        info = AsyncServiceInfo(stype, name)
        for _ in range(10):
            if await info.async_request(aiozc.zeroconf, 3000) and info.parsed_addresses():
                break
        else:
            return
        short = name[: -len(stype) - 1]
        if short in seen:
            return
        seen.add(short)
        if args.every or args.expect <= 1 or len(seen) % 100 == 0:
            emit({"event": "up", "name": short, "port": info.port, "server": info.server,
                  "addresses": info.parsed_scoped_addresses(), "count": len(seen)})
        if args.expect and len(seen) >= args.expect:
            done.set()

    def on_change(zeroconf, service_type, name, state_change):
        if state_change is ServiceStateChange.Added:
            task = asyncio.ensure_future(resolve(name))
            pending.add(task)
            task.add_done_callback(pending.discard)
        elif state_change is ServiceStateChange.Removed and args.every:
            emit({"event": "removed", "name": name[: -len(stype) - 1]})

    browser = AsyncServiceBrowser(aiozc.zeroconf, stype, handlers=[on_change])
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, done.set)
    loop.add_signal_handler(signal.SIGINT, done.set)
    try:
        await asyncio.wait_for(done.wait(), args.timeout)
        if args.expect and len(seen) >= args.expect:
            emit({"event": "done", "count": len(seen)})
    except asyncio.TimeoutError:
        emit({"event": "timeout", "count": len(seen)})
    await browser.async_cancel()
    await aiozc.async_close()


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("register")
    r.add_argument("prefix")
    r.add_argument("type")
    r.add_argument("port", type=int)
    r.add_argument("--count", type=int, default=1)
    r.add_argument("--hold", type=float, default=365 * 86400)
    b = sub.add_parser("browse")
    b.add_argument("type")
    b.add_argument("--expect", type=int, default=1)
    b.add_argument("--timeout", type=float, default=60)
    b.add_argument("--every", action="store_true")
    args = p.parse_args()
    asyncio.run({"register": register, "browse": browse}[args.cmd](args))


if __name__ == "__main__":
    sys.exit(main())
