#!/usr/bin/env python3
"""Driver of scripts/bench-peers: runs inside `scripts/netlab run` (see that script)."""
import argparse
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
NETLAB = str(REPO / "scripts" / "netlab")
ZC = str(REPO / "scripts" / "bench_zc.py")
BIN = os.environ.get("BENCH_PEER", str(REPO / "target" / "release" / "examples" / "bench_peer"))
MDNS_SD = os.environ.get("MDNS_SD_PEER", str(REPO / "target" / "release" / "mdns-sd-peer"))
TYPE = "_bench._tcp"
PORT = "4242"
TAG = f"{random.randrange(16**4):04x}"


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def netlab(*args, check=True, quiet=True):
    return subprocess.run([NETLAB, *map(str, args)], check=check, text=True,
                          stdout=subprocess.PIPE if quiet else None).stdout


def in_host(lab, h, argv, uts=True):
    """argv run in lab host h; with its own UTS namespace named after the host (every lab host
    otherwise shares this machine's host name, and two mDNS stacks claiming one name conflict)."""
    if uts:
        argv = ["unshare", "--uts", "--", "sh", "-c", 'hostname "$0"; exec "$@"', f"{lab}-h{h}", *argv]
    return [NETLAB, "exec", lab, str(h), *argv]


def announced(argv):
    """argv preceded by a START line (timestamped by the reader when it arrives) and line-buffered."""
    return ["sh", "-c", 'echo START; exec stdbuf -oL "$@" 2>&1', "sh", *argv]


class Proc:
    """A started process whose stdout lines are timestamped (wall clock) as they arrive."""

    def __init__(self, argv, name=""):
        self.name = name
        self.lines = []  # (wall, text, json-or-None)
        self.cond = threading.Condition()
        self.p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                  stdin=subprocess.DEVNULL, text=True, bufsize=1,
                                  start_new_session=True)
        self.spawned = time.time()
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()

    def _read(self):
        for line in self.p.stdout:
            now = time.time()
            line = line.rstrip("\n")
            try:
                obj = json.loads(line)
            except ValueError:
                obj = None
            with self.cond:
                self.lines.append((now, line, obj))
                self.cond.notify_all()
        with self.cond:
            self.cond.notify_all()

    def wait_for(self, pred, timeout, start=0):
        """First line (index >= start) for which pred(text, obj) holds: (wall, text, obj) or None."""
        deadline = time.time() + timeout
        i = start
        with self.cond:
            while True:
                while i < len(self.lines):
                    item = self.lines[i]
                    i += 1
                    if pred(item[1], item[2]):
                        return item
                left = deadline - time.time()
                if left <= 0 or (self.p.poll() is not None and not self.t.is_alive()):
                    return None
                self.cond.wait(min(left, 0.2))

    def event(self, name, timeout):
        return self.wait_for(lambda t, o: o is not None and o.get("event") == name, timeout)

    def mark(self):
        with self.cond:
            return len(self.lines)

    def stop(self, sig=signal.SIGTERM, timeout=10):
        if self.p.poll() is None:
            try:
                os.killpg(self.p.pid, sig)  # our own session: the process and what it started
            except ProcessLookupError:
                pass
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.p.pid, signal.SIGKILL)
                self.p.wait()
        self.t.join(2)


def stats(xs):
    if not xs:
        return None
    s = sorted(xs)
    p90 = s[min(len(s) - 1, max(0, int(round(0.9 * len(s) + 0.49)) - 1))]
    return {"n": len(s), "median": statistics.median(s), "min": s[0], "p90": p90, "max": s[-1]}


def ms(x):
    return "-" if x is None else f"{x * 1000:.0f}"


def ratio(a, b):
    numbers = all(isinstance(x, (int, float)) for x in (a, b))
    return "-" if not numbers or b == 0 else f"{a / b:.2f}x"


# ---------------------------------------------------------------------------------------------
# Registrants and browsers

def registrant(impl, lab, h, name, count=1):
    """Start a registrant; returns (Proc, t0 getter). t0 = just before the library handle is made
    (ours, python-zeroconf) or just before avahi-publish is exec'd."""
    if impl in ("embedded", "system", "avahi-dbus"):
        backend = NATIVE_BACKEND.get(impl, impl)
        p = Proc(in_host(lab, h, [BIN, "--backend", backend, "register", name, TYPE, PORT,
                                  "--count", str(count)]), impl)
    elif impl == "mdns-sd":
        p = Proc(in_host(lab, h, [MDNS_SD, "register", name, TYPE, PORT, "--count", str(count)]), impl)
    elif impl == "zeroconf":
        p = Proc(in_host(lab, h, ["python3", ZC, "register", name, TYPE, PORT, "--count", str(count)]), impl)
    elif impl in ("avahi", "avahi-publish"):
        if count == 1:
            argv = announced(["avahi-publish", "-s", name, TYPE, PORT, "i=0"])
        else:
            # One avahi-publish (one D-Bus client, one entry group) per service: Avahi limits an
            # entry group to 32 entries and libdns_sd opens a D-Bus connection per service anyway.
            script = ('echo START; i=0; while [ $i -lt "$1" ]; do '
                      'avahi-publish -s "$0-$i" "$2" "$3" "i=$i" >/dev/null 2>&1 & i=$((i+1)); done; '
                      'echo SPAWNED; wait')
            argv = ["sh", "-c", script, name, str(count), TYPE, PORT]
        p = Proc(in_host(lab, h, argv, uts=False), impl)
    else:
        raise ValueError(impl)
    return p


def t_start(p, timeout=10):
    item = p.wait_for(lambda t, o: t == "START" or (o is not None and o.get("event") == "start"), timeout)
    if item is None:
        return None
    return item[2]["wall"] if item[2] is not None else item[0]


# Our native Avahi path: the `avahi-dbus` rows run bench_peer with `--backend avahi`.
NATIVE_BACKEND = {"avahi-dbus": "avahi"}


def browser(impl, lab, h, expect=1, timeout=30):
    if impl in ("embedded", "system", "avahi-dbus"):
        return Proc(in_host(lab, h, [BIN, "--backend", NATIVE_BACKEND.get(impl, impl), "browse", TYPE, "--expect", str(expect),
                                     "--timeout", str(timeout)]), impl)
    if impl == "mdns-sd":
        return Proc(in_host(lab, h, [MDNS_SD, "browse", TYPE, "--expect", str(expect),
                                     "--timeout", str(timeout)]), impl)
    if impl == "zeroconf":
        return Proc(in_host(lab, h, ["python3", ZC, "browse", TYPE, "--expect", str(expect),
                                     "--timeout", str(timeout)]), impl)
    if impl.startswith("avahi"):  # avahi-browse
        return Proc(in_host(lab, h, announced(["avahi-browse", "-r", "-p", TYPE]), uts=False), "avahi")
    raise ValueError(impl)


def avahi_resolved(text, obj):
    return obj is None and text.startswith("=;")


def browser_done(impl, p, expect, timeout, counts=None):
    """Wall time when the browser has `expect` distinct resolved instances, or None (then the
    number it had is appended to `counts`)."""
    if not impl.startswith("avahi") or impl in NATIVE_BACKEND:
        item = p.wait_for(lambda t, o: o is not None and o.get("event") in ("done", "timeout", "error"),
                          timeout + 5)
        if item and item[2]["event"] == "done":
            return item[2]["wall"]
        if counts is not None:
            counts.append(item[2].get("count", 0) if item else 0)
        return None
    names = set()

    def pred(text, obj):
        if avahi_resolved(text, obj):
            f = text.split(";")
            if len(f) > 7 and "." in f[7]:  # an IPv4 address (IPv6 also arrives; either will do)
                names.add(f[3])
            elif len(f) > 7:
                names.add(f[3])
        return len(names) >= expect

    item = p.wait_for(pred, timeout)
    if item is None and counts is not None:
        counts.append(len(names))
    return item[0] if item else None


# ---------------------------------------------------------------------------------------------
# (1) register -> resolved at a remote browser

def bench_register(runs):
    lab = "br"
    netlab("up", lab, 4)
    netlab("avahi", lab, 3)
    netlab("avahi", lab, 4)
    # Observers: python-zeroconf on h2 (no daemon; the figure reported), avahi-browse on h4.
    zc = Proc(in_host(lab, 2, ["python3", ZC, "browse", TYPE, "--expect", "0", "--every",
                               "--timeout", "100000"]), "zc-observer")
    av = Proc(in_host(lab, 4, ["stdbuf", "-oL", "avahi-browse", "-r", "-p", TYPE], uts=False), "avahi-observer")
    zc.event("start", 10)
    time.sleep(2)
    hosts = {"embedded": 1, "zeroconf": 1, "mdns-sd": 1, "system": 3, "avahi": 3}
    res = {k: {"zc": [], "avahi": [], "confirm": [], "fail": 0} for k in hosts}
    for i in range(runs):
        for impl, h in hosts.items():
            name = f"{impl}-{TAG}-{i}"
            mz, ma = zc.mark(), av.mark()
            p = registrant(impl, lab, h, name)
            t0 = t_start(p)
            seen = zc.wait_for(lambda t, o: o is not None and o.get("event") == "up" and o.get("name") == name,
                               10, mz)
            seen_av = av.wait_for(lambda t, o: avahi_resolved(t, o) and t.split(";")[3] == name, 3, ma)
            conf = p.wait_for(lambda t, o: (o is not None and o.get("event") == "registered") or
                              t.startswith("Established"), 1)
            if t0 is None or seen is None:
                res[impl]["fail"] += 1
                log(f"register {impl} run {i}: not seen")
            else:
                res[impl]["zc"].append(seen[2]["wall"] - t0)
                if seen_av:
                    res[impl]["avahi"].append(seen_av[0] - t0)
                if conf:
                    res[impl]["confirm"].append((conf[2]["wall"] if conf[2] else conf[0]) - t0)
            mz = zc.mark()
            p.stop()
            zc.wait_for(lambda t, o: o is not None and o.get("event") == "removed" and o.get("name") == name,
                        3, mz)
            time.sleep(0.3)
        log(f"register: run {i + 1}/{runs} " + " ".join(
            f"{k}={ms(v['zc'][-1]) if v['zc'] else '-'}" for k, v in res.items()))
    zc.stop()
    av.stop()
    netlab("down", lab)
    return res


# ---------------------------------------------------------------------------------------------
# (2) cold browse -> first resolved endpoint

def bench_cold(runs, responder):
    lab = "bc"
    netlab("up", lab, 3)
    netlab("avahi", lab, 3)
    if responder == "avahi":
        netlab("avahi", lab, 1)
    reg = registrant(responder, lab, 1, f"cold-{responder}-{TAG}")
    if reg.wait_for(lambda t, o: (o is not None and o.get("event") == "registered") or
                    t.startswith("Established"), 10) is None:
        log(f"cold: {responder} registrant did not confirm")
    time.sleep(3)  # past the announcements
    browsers = {"embedded": 2, "zeroconf": 2, "mdns-sd": 2, "system": 3, "avahi": 3}
    res = {k: {"t": [], "fail": 0} for k in browsers}
    for i in range(runs):
        for impl, h in browsers.items():
            if h == 3:
                # A fresh daemon: Avahi caches every record it hears, so a long-running daemon
                # would answer from its cache (not a cold browse).
                netlab("avahi-stop", lab, 3)
                netlab("avahi", lab, 3)
            time.sleep(1.1)  # the responder multicasts a record at most once a second
            b = browser(impl, lab, h, 1, 10)
            t0 = t_start(b)
            t1 = browser_done(impl, b, 1, 10)
            if t0 is None or t1 is None:
                res[impl]["fail"] += 1
                log(f"cold {impl} run {i}: nothing resolved")
            else:
                res[impl]["t"].append(t1 - t0)
            b.stop()
        log(f"cold ({responder}): run {i + 1}/{runs} " + " ".join(
            f"{k}={ms(v['t'][-1]) if v['t'] else '-'}" for k, v in res.items()))
    reg.stop()
    netlab("down", lab)
    return res


# ---------------------------------------------------------------------------------------------
# (3) 1000 services, (4) idle CPU and RSS

class Capture:
    """tcpdump of UDP port 5353 on lab host h's nl0 into `path`, for one measured window."""

    def __init__(self, lab, h, path, outbound_only=False):
        self.path = path
        direction = ["-Q", "out"] if outbound_only else []
        self.p = subprocess.Popen([NETLAB, "exec", lab, str(h), "tcpdump", "-i", "nl0", "-U", "-B", "8192",
                                   *direction, "-w", path, "udp", "port", "5353"], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, text=True, start_new_session=True)
        self.stderr = []
        for line in self.p.stderr:  # "listening on nl0 ..." once the capture runs
            self.stderr.append(line)
            if "listening" in line:
                break
        else:
            raise SystemExit(f"tcpdump on {lab} h{h} did not start: {''.join(self.stderr)}")
        self.reader = threading.Thread(target=lambda: self.stderr.extend(self.p.stderr), daemon=True)
        self.reader.start()

    def stop(self):
        """Ends the capture; returns the kernel's drop count tcpdump reports (None if unknown)."""
        alive = self.p.poll() is None
        if alive:
            os.killpg(self.p.pid, signal.SIGTERM)
        self.p.wait(10)
        self.reader.join(5)
        if not alive:
            raise SystemExit(f"tcpdump ({self.path}) ended before the window did: {''.join(self.stderr)}")
        for line in self.stderr:
            if "dropped by kernel" in line:
                return int(line.split()[0])
        return None


EMPTY_CAPTURES = []  # windows with no packets: reported, and the run exits non-zero


def count_packets(path, t0, t1, what):
    """Frames and bytes (Ethernet) in `path` between wall times t0 and t1. An empty window is
    an error (every window measured here has traffic): reported, and the run fails."""
    out = subprocess.run(["tcpdump", "-r", path, "-tt", "-n", "-q", "-e"], text=True,
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout
    n = b = total = 0
    for line in out.splitlines():
        try:
            ts = float(line.split()[0])
            length = int(line.split("length ")[1].split(":")[0])  # frame length (with -e)
        except (ValueError, IndexError):
            continue
        total += 1
        if t0 <= ts <= t1:
            n += 1
            b += length
    if n == 0:
        EMPTY_CAPTURES.append(f"{what}: no packets captured in the window {t0:.3f}-{t1:.3f} "
                              f"({total} in {path}): the capture or its timing is broken")
        log(f"ERROR {EMPTY_CAPTURES[-1]}")
        return "capture empty", None
    return n, b


def proc_ticks(pid):
    try:
        f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(f[11]) + int(f[12])  # utime + stime
    except (OSError, IndexError, ValueError):
        return None


def proc_rss_kb(pid):
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def descendants(pid):
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        for task in Path(f"/proc/{p}/task").glob("*"):
            try:
                kids = [int(x) for x in (task / "children").read_text().split()]
            except OSError:
                kids = []
            out += kids
            todo += kids
    return out


def comm(pid):
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def find_comm(pid, name):
    for p in [pid, *descendants(pid)]:
        if comm(p) == name:
            return p
    return None


def avahi_pid(lab, h):
    state = Path(os.environ["NETLAB_STATE"]) / lab / f"h{h}.avahi.pid"
    return find_comm(int(state.read_text()), "avahi-daemon")


def write_static_services(services, prefix, count):
    """`count` avahi static service files (one service each) in `services`."""
    d = Path(services)
    d.mkdir(exist_ok=True)
    for i in range(count):
        name = f"{prefix}-{i}"
        (d / f"{name}.service").write_text(
            "<?xml version=\"1.0\" standalone='no'?>\n"
            "<!DOCTYPE service-group SYSTEM \"avahi-service.dtd\">\n"
            f"<service-group><name>{name}</name><service><type>{TYPE}</type>"
            f"<port>{PORT}</port><txt-record>i={i}</txt-record></service></service-group>\n")


def pss_kb(pid):
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def bench_many(reg_impl, br_impl, count, idle_secs, workdir, timeout):
    """`reg_impl` registers `count` services on h1 while `br_impl` browses on h2; then a fresh
    `br_impl` browser (cold); then (when idle_secs) idle CPU and RSS of the registrant."""
    lab = f"bm{reg_impl[0]}{reg_impl[-1]}{br_impl[0]}"
    state = Path(os.environ["NETLAB_STATE"]) / lab
    netlab("up", lab, 2)
    if br_impl == "avahi":
        netlab("avahi", lab, 2)
    if reg_impl in ("avahi-publish", "avahi-dbus"):
        netlab("avahi", lab, 1)
    elif reg_impl == "avahi":
        # Avahi's cheapest way to hold many services: static service files, loaded when the
        # daemon starts (no D-Bus client at all). Adding 1000 files to a running daemon is
        # much slower: it reloads the whole directory on every inotify event.
        write_static_services(state / "h1.services", f"ava-{TAG}", count)
    r = {"registrant": reg_impl, "browser": br_impl}
    pcap = str(Path(workdir) / f"{lab}-reg.pcap")
    cap = Capture(lab, 2, pcap)
    b = browser(br_impl, lab, 2, count, timeout)
    t_start(b)
    time.sleep(1.5)
    reg = None
    if reg_impl == "avahi":
        t0 = time.time()  # the daemon's start (it also probes its host name meanwhile)
        netlab("avahi", lab, 1)
        conf_t = None
    else:
        reg = registrant(reg_impl, lab, 1, f"{reg_impl[:3]}-{TAG}", count)
        t0 = t_start(reg)
    counts = []
    t1 = browser_done(br_impl, b, count, timeout, counts)
    r["reg_time"] = None if t0 is None or t1 is None else t1 - t0
    r["reg_count"] = counts[0] if counts else count
    conf = None
    if reg is not None:
        conf = reg.wait_for(lambda t, o: t == "SPAWNED" or (o is not None and o.get("event") == "registered"), 60)
        if conf and conf[2] is not None and t0 is not None:
            r["confirm_time"] = conf[2]["wall"] - t0
    b.stop()
    r["reg_capture_drops"] = cap.stop()
    if r["reg_time"] is not None:
        r["reg_pkts"], r["reg_bytes"] = count_packets(pcap, t0 - 0.01, t1 + 0.01,
                                                      f"{reg_impl} -> {br_impl} registering")
    # Cold browse of the `count` services (fresh browser; for Avahi, a fresh daemon on h2).
    time.sleep(3)
    if br_impl == "avahi":
        netlab("avahi-stop", lab, 2)
        netlab("avahi", lab, 2)
        time.sleep(1.1)
    cold_pcap = str(Path(workdir) / f"{lab}-cold.pcap")
    cap = Capture(lab, 2, cold_pcap)
    b2 = browser(br_impl, lab, 2, count, timeout)
    c0 = t_start(b2)
    counts = []
    c1 = browser_done(br_impl, b2, count, timeout, counts)
    r["cold_time"] = None if c0 is None or c1 is None else c1 - c0
    r["cold_count"] = counts[0] if counts else count
    r["timeout"] = timeout
    b2.stop()
    time.sleep(0.5)
    r["cold_capture_drops"] = cap.stop()
    if r["cold_time"] is not None:
        r["cold_pkts"], r["cold_bytes"] = count_packets(cold_pcap, c0 - 0.01, c1 + 0.01,
                                                        f"{reg_impl} -> {br_impl} cold browse")
    if idle_secs:
        # Idle: nothing browses any more; let the announcements end, then count CPU ticks.
        time.sleep(3)
        clients = []
        if reg_impl == "avahi-dbus":
            # Our client holding the groups, and the daemon serving them.
            pids = {"avahi-dbus": conf[2].get("pid") if conf and conf[2] else None,
                    "avahi-daemon (serving dnssd over D-Bus)": avahi_pid(lab, 1)}
        elif reg_impl.startswith("avahi"):
            pids = {"avahi-daemon": avahi_pid(lab, 1)}
            if reg is not None:
                clients = [p for p in descendants(reg.p.pid) if comm(p) == "avahi-publish"]
        else:
            pids = {reg_impl: conf[2].get("pid") if conf and conf[2] else None}
        before = {k: proc_ticks(p) for k, p in pids.items()}
        cl_before = sum(proc_ticks(p) or 0 for p in clients)
        time.sleep(idle_secs)
        r["idle"] = {}
        for k, p in pids.items():
            t = proc_ticks(p)
            r["idle"][k] = {"ticks": None if t is None or before[k] is None else t - before[k],
                            "rss_kb": proc_rss_kb(p)}
        if clients:
            r["idle"][f"{len(clients)} avahi-publish clients (PSS)"] = {
                "ticks": sum(proc_ticks(p) or 0 for p in clients) - cl_before,
                "rss_kb": sum(pss_kb(p) or 0 for p in clients)}
        r["idle_secs"] = idle_secs
    if reg is not None:
        reg.stop()
    netlab("down", lab)
    log(f"{count} services {reg_impl} -> {br_impl}: " + json.dumps(r))
    return r


# ---------------------------------------------------------------------------------------------
# (5) goodbyes: a process holding `count` services stops (SIGTERM)

def udp_receive_errors(lab, h):
    """UDP datagrams lab host h's kernel dropped on receive (InErrors, which counts
    RcvbufErrors too), IPv4 (/proc/net/snmp) plus IPv6 (/proc/net/snmp6); both are per network
    namespace."""
    text = netlab("exec", lab, h, "cat", "/proc/net/snmp", "/proc/net/snmp6")
    udp = [line.split() for line in text.splitlines() if line.startswith("Udp:")]
    v6 = dict(line.split()[:2] for line in text.splitlines() if line.startswith("Udp6InErrors"))
    if len(udp) < 2:
        return None
    fields = dict(zip(udp[0][1:], udp[1][1:]))
    return int(fields.get("InErrors", 0)) + int(v6.get("Udp6InErrors", 0))


class Observer:
    """A browser on its own host that reports every instance it holds and every one it drops:
    avahi-browse -p under a running avahi-daemon (its cache), python-zeroconf, dnssd embedded,
    mdns-sd."""

    def __init__(self, impl, lab, h, count):
        self.impl, self.lab, self.h, self.count = impl, lab, h, count
        self.present = set()
        self.ever = set()
        self.emptied = None  # wall time the last instance went away
        if impl == "avahi":
            netlab("avahi", lab, h)
            argv = ["stdbuf", "-oL", "avahi-browse", "-p", TYPE]
            self.p = Proc(in_host(lab, h, argv, uts=False), "avahi-observer")
        elif impl == "zeroconf":
            self.p = Proc(in_host(lab, h, ["python3", ZC, "browse", TYPE, "--expect", "0", "--every",
                                           "--timeout", "100000"]), "zc-observer")
        elif impl == "embedded":
            self.p = Proc(in_host(lab, h, [BIN, "--backend", "embedded", "browse", TYPE, "--expect",
                                           str(count), "--removals", "--timeout", "100000"]), "emb-observer")
        elif impl == "mdns-sd":
            self.p = Proc(in_host(lab, h, [MDNS_SD, "browse", TYPE, "--expect", str(count), "--removals",
                                           "--timeout", "100000"]), "mdns-sd-observer")
        else:
            raise ValueError(impl)
        self.seen_lines = 0

    def _update(self):
        with self.p.cond:
            lines = self.p.lines[self.seen_lines:]
            self.seen_lines = len(self.p.lines)
        for wall, text, obj in lines:
            if self.impl == "avahi":
                f = text.split(";")
                if len(f) < 4 or f[0] not in "+-":
                    continue
                key = (f[1], f[2], f[3])  # interface, protocol, name
                if f[0] == "+":
                    self.present.add(key)
                    self.ever.add(f[3])
                else:
                    self.present.discard(key)
                    if not self.present and self.ever:
                        self.emptied = wall
                continue
            if obj is None:
                continue
            ev = obj.get("event")
            if ev == "up":
                self.present.add(obj["name"])
                self.ever.add(obj["name"])
            elif ev == "removed":
                self.present.discard(obj["name"])
                if not self.present and self.ever:
                    self.emptied = obj["wall"]

    def holding(self):
        """How many instances it holds now."""
        self._update()
        return len({k[2] for k in self.present} if self.impl == "avahi" else self.present)

    def wait_all(self, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.holding() >= self.count:
                return True
            time.sleep(0.2)
        return False

    def stop(self):
        self.p.stop()


SETTLE = 12.0  # seconds between every browser holding all and the SIGTERM


def bench_goodbye(reg_impl, count, workdir, window=10.0):
    """`reg_impl` holds `count` services on h1; observers (avahi, python-zeroconf, dnssd embedded,
    mdns-sd) on h2..h5 hold them all; SIGTERM to the registrant (avahi: its daemon). Measures
    the packets h1 sends from then on, when each observer's cache is empty, and receive drops."""
    lab = f"bg{reg_impl[:3]}"
    state = Path(os.environ["NETLAB_STATE"]) / lab
    observers = {"avahi": 2, "zeroconf": 3, "embedded": 4, "mdns-sd": 5}
    netlab("up", lab, 1 + len(observers))
    r = {"registrant": reg_impl, "window": window}
    obs = {k: Observer(k, lab, h, count) for k, h in observers.items()}
    time.sleep(1)
    reg = None
    if reg_impl == "avahi":
        write_static_services(state / "h1.services", f"bye-{TAG}", count)
        netlab("avahi", lab, 1)
    else:
        reg = registrant(reg_impl, lab, 1, f"bye-{TAG}", count)
        reg.wait_for(lambda t, o: o is not None and o.get("event") == "registered", 90)
    missing = {k: o.holding() for k, o in obs.items() if not o.wait_all(60)}
    log(f"goodbye {reg_impl}: observers hold " + ", ".join(f"{k}={o.holding()}" for k, o in obs.items()))
    if missing:
        log(f"goodbye {reg_impl}: not every observer holds all {count}: {missing}")
    # Let the browsers' first queries (1 s, 2 s, 4 s ... apart) and their answers pass: four
    # browsers asking for 1000 services keep a busy avahi-daemon from reading its socket.
    time.sleep(SETTLE - 5)
    # Baseline: receive drops and avahi-daemon's CPU over the 5 s before the SIGTERM.
    errors_base = {k: udp_receive_errors(lab, h) for k, h in observers.items()}
    av_pid = avahi_pid(lab, observers["avahi"])
    av_ticks = proc_ticks(av_pid)
    time.sleep(5)
    errors_before = {k: udp_receive_errors(lab, h) for k, h in observers.items()}
    r["avahi_observer_ticks_before"] = (proc_ticks(av_pid) or 0) - (av_ticks or 0)
    r["receive_errors_before"] = sum((errors_before[k] or 0) - (errors_base[k] or 0) for k in observers)
    pcap = str(Path(workdir) / f"{lab}.pcap")
    cap = Capture(lab, 1, pcap, outbound_only=True)  # what h1 sends, both families
    t_stop = time.time()
    if reg_impl == "avahi":
        netlab("avahi-stop", lab, 1)
        exited = time.time()
    else:
        reg.stop(timeout=30)
        exited = time.time()
    r["exit_time"] = exited - t_stop
    time.sleep(max(0.0, t_stop + window - time.time()))
    r["capture_drops"] = cap.stop()
    r["pkts"], r["bytes"] = count_packets(pcap, t_stop, t_stop + window, f"goodbye {reg_impl}")
    r["observers"] = {}
    for k, o in obs.items():
        o._update()
        after = udp_receive_errors(lab, observers[k])
        before = errors_before[k]
        r["observers"][k] = {
            "empty_after": None if o.emptied is None or o.emptied < t_stop else o.emptied - t_stop,
            "left": o.holding(),
            "held": count - missing.get(k, count) if k in missing else count,
            "receive_errors": None if after is None or before is None else after - before,
        }
        o.stop()
    netlab("down", lab)
    log(f"goodbye {reg_impl}: " + json.dumps(r))
    return r


# ---------------------------------------------------------------------------------------------
# (6) the native Avahi path (D-Bus): register -> seen vs avahi-publish; many services

def bench_native(runs, count, idle_secs, workdir, timeout):
    """Our `--backend avahi` against avahi-publish, both served by h1's avahi-daemon and seen by
    a python-zeroconf observer on h2 (no daemon there); then `count` registrations from one
    process vs Avahi's static service files, both resolved by avahi-browse -r on h2."""
    lab = "bn"
    netlab("up", lab, 2)
    netlab("avahi", lab, 1)
    zc = Proc(in_host(lab, 2, ["python3", ZC, "browse", TYPE, "--expect", "0", "--every",
                               "--timeout", "100000"]), "zc-observer")
    zc.event("start", 10)
    time.sleep(2)
    res = {k: {"zc": [], "confirm": [], "fail": 0} for k in ("avahi-dbus", "avahi")}
    for i in range(runs):
        for impl in res:
            name = f"nat-{impl}-{TAG}-{i}"
            mz = zc.mark()
            p = registrant(impl, lab, 1, name)
            t0 = t_start(p)
            seen = zc.wait_for(lambda t, o: o is not None and o.get("event") == "up" and o.get("name") == name,
                               10, mz)
            conf = p.wait_for(lambda t, o: (o is not None and o.get("event") == "registered") or
                              t.startswith("Established"), 1)
            if t0 is None or seen is None:
                res[impl]["fail"] += 1
                log(f"native register {impl} run {i}: not seen")
            else:
                res[impl]["zc"].append(seen[2]["wall"] - t0)
                if conf:
                    res[impl]["confirm"].append((conf[2]["wall"] if conf[2] else conf[0]) - t0)
            mz = zc.mark()
            p.stop()
            zc.wait_for(lambda t, o: o is not None and o.get("event") == "removed" and o.get("name") == name,
                        3, mz)
            time.sleep(0.3)
        log(f"native register: run {i + 1}/{runs} " + " ".join(
            f"{k}={ms(v['zc'][-1]) if v['zc'] else '-'}" for k, v in res.items()))
    zc.stop()
    netlab("down", lab)
    # python-zeroconf browses without avahi-browse's limit (1024 objects per D-Bus client: one
    # resolver per instance and protocol); avahi-browse gives the cold browse through a daemon.
    many = [bench_many("avahi-dbus", "zeroconf", count, 0, workdir, timeout),
            bench_many("avahi", "zeroconf", count, 0, workdir, timeout),
            bench_many("avahi-dbus", "avahi", count, idle_secs, workdir, timeout),
            bench_many("avahi", "avahi", count, 0, workdir, timeout)]
    return {"register": res, "many": many}


def report_native(nat, n):
    L = ["### 6. Native Avahi path (D-Bus, no libdns_sd)", ""]
    reg = nat["register"]
    a = stats(reg["avahi"]["zc"])
    L.append("Register -> seen: from the registrant's start (bench_peer --backend avahi: before the "
             "handle is made; avahi-publish: its exec) to a python-zeroconf browser on another host "
             "reporting it resolved with an address. Both are served by the same avahi-daemon.")
    L.append("")
    L.append("| registrant | median | min | p90 | max | vs avahi-publish | confirmed (median) | failed |")
    L.append("|---|---|---|---|---|---|---|---|")
    for impl in ("avahi-dbus", "avahi"):
        v = reg[impl]
        s, sc = stats(v["zc"]), stats(v["confirm"])
        label = LABEL[impl] if impl != "avahi" else "avahi-publish"
        if s is None:
            L.append(f"| {label} | - | - | - | - | - | - | {v['fail']} |")
            continue
        L.append(f"| {label} | {ms(s['median'])} | {ms(s['min'])} | {ms(s['p90'])} | {ms(s['max'])} | "
                 f"{ratio(s['median'], a and a['median'])} | {ms(sc and sc['median'])} | {v['fail']} |")
    L.append("")
    by = {(r["registrant"], r["browser"]): r for r in nat["many"]}
    ours = by.get(("avahi-dbus", "avahi"), {})
    L.append(f"{n} registrations from one process (one D-Bus connection, one entry group each) -> all "
             f"resolved on another host, vs Avahi's own {n} static service files (timed from the "
             f"daemon's start) in the same run. Registering: the browser runs first. Cold: a fresh "
             f"browser (avahi-browse: on a freshly restarted daemon) once all are registered.")
    L.append("")
    L.append("| registrant -> browser | confirmed to the client (s) | registering: all resolved (s) | "
             "vs static files | cold: all resolved (s) | vs static files |")
    L.append("|---|---|---|---|---|---|")

    def shown(r, phase):
        t = r.get(f"{phase}_time")
        if t is None:
            return f"{r.get(phase + '_count', 0)} of {n} after {r.get('timeout')} s"
        return f"{t:.2f}"

    for (reg, br), r in by.items():
        static = by.get(("avahi", br), {})
        label = LABEL[reg] if reg != "avahi" else "avahi-daemon, static service files"
        c = r.get("confirm_time")
        L.append(f"| {label} -> {LABEL[br]} | {'-' if c is None else f'{c:.2f}'} | {shown(r, 'reg')} | "
                 f"{ratio(r.get('reg_time'), static.get('reg_time'))} | {shown(r, 'cold')} | "
                 f"{ratio(r.get('cold_time'), static.get('cold_time'))} |")
    L.append("")
    if ours.get("idle"):
        L.append(f"Idle, holding {n} (CPU ticks of 10 ms over {ours['idle_secs']} s; RSS):")
        L.append("")
        L.append("| process | CPU ticks | RSS (MB) |")
        L.append("|---|---|---|")
        for k, v in ours["idle"].items():
            rss = "-" if v["rss_kb"] is None else f"{v['rss_kb'] / 1024:.1f}"
            ticks = "-" if v["ticks"] is None else v["ticks"]
            L.append(f"| {LABEL.get(k, k)} | {ticks} / {ours['idle_secs']} s | {rss} |")
        L.append("")
    return L


# ---------------------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--runs", type=int)
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--only", default="register,cold,many,goodbye,native")
    ap.add_argument("--many-impls", default="embedded,avahi,zeroconf,mdns-sd")
    ap.add_argument("--pairs", help="registrant:browser,... for the many-services part")
    ap.add_argument("--goodbye-impls", default="embedded,avahi,zeroconf,mdns-sd")
    ap.add_argument("--json", help="also write the raw results here")
    ap.add_argument("--command", default="scripts/bench-peers")
    args = ap.parse_args()
    runs = args.runs or (5 if args.quick else 20)
    idle = 10
    only = args.only.split(",")
    workdir = os.environ.get("NETLAB_STATE", "/tmp")
    out = {"runs": runs, "count": args.count}
    started = time.time()
    if "register" in only:
        out["register"] = bench_register(runs)
    if "cold" in only:
        out["cold"] = {"avahi": bench_cold(runs, "avahi")}
        if not args.quick:
            out["cold"]["embedded"] = bench_cold(runs, "embedded")
    if "many" in only:
        if args.pairs:
            pairs = [tuple(p.split(":")) for p in args.pairs.split(",")]
        else:
            pairs = [(i, i) for i in args.many_impls.split(",")]
            if args.quick:
                pairs = [p for p in pairs if p[0] != "zeroconf"]
            else:
                pairs += [("avahi-publish", "avahi"), ("embedded", "zeroconf"), ("avahi", "zeroconf"),
                          ("zeroconf", "embedded"), ("zeroconf", "avahi")]
        timeout = 20 if args.quick else 90
        out["many"] = [bench_many(r, b, args.count, idle if r.startswith(b[:5]) else 0, workdir, timeout)
                       for r, b in pairs]
    if "goodbye" in only:
        out["goodbye"] = [bench_goodbye(i, args.count, workdir) for i in args.goodbye_impls.split(",")]
    if "native" in only:
        out["native"] = bench_native(runs, args.count, idle, workdir, 20 if args.quick else 90)
    out["elapsed"] = time.time() - started
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))
    print(report(out, args.command))
    if EMPTY_CAPTURES:
        log("bench-peers: FAILED: a measured window has no packets (its cells say 'capture empty'):")
        for e in EMPTY_CAPTURES:
            log(f"  {e}")
        sys.exit(1)


LABEL = {"avahi-dbus": "dnssd avahi (native D-Bus path)", "embedded": "dnssd embedded", "system": "dnssd system (on avahi)", "avahi": "avahi-daemon 0.8",
         "avahi-publish": "avahi-daemon 0.8, one avahi-publish per service",
         "zeroconf": "python-zeroconf 0.154", "mdns-sd": "mdns-sd 0.21.7"}


def report(out, command):
    L = []
    L.append(f"Command: `{command}` ({out['runs']} runs per cell; {out['elapsed']:.0f} s; "
             f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; times in ms)")
    L.append("")
    reg = out.get("register")
    if reg:
        a = stats(reg["avahi"]["zc"])
        L.append("### 1. Register -> resolved endpoint at a remote browser")
        L.append("")
        L.append("From the registrant's start (before the library handle is made; for avahi-publish, "
                 "its exec) to a long-running python-zeroconf browser on another host reporting "
                 "the service resolved with an address. Also shown: the median at an avahi-browse -r "
                 "on a third host, and when the registrant itself reported the name confirmed.")
        L.append("")
        L.append("| registrant | median | min | p90 | max | vs Avahi | seen by avahi-browse (median) | "
                 "confirmed (median) | failed |")
        L.append("|---|---|---|---|---|---|---|---|---|")
        for impl in ("embedded", "system", "avahi", "zeroconf", "mdns-sd"):
            v = reg[impl]
            s = stats(v["zc"])
            sa = stats(v["avahi"])
            sc = stats(v["confirm"])
            if s is None:
                L.append(f"| {LABEL[impl]} | - | - | - | - | - | - | - | {v['fail']} |")
                continue
            L.append(f"| {LABEL[impl]} | {ms(s['median'])} | {ms(s['min'])} | {ms(s['p90'])} | "
                     f"{ms(s['max'])} | {ratio(s['median'], a and a['median'])} | "
                     f"{ms(sa and sa['median'])} | {ms(sc and sc['median'])} | {v['fail']} |")
        L.append("")
    cold = out.get("cold")
    if cold:
        L.append("### 2. Cold browse -> first resolved endpoint")
        L.append("")
        L.append("From the browser's start (ours and python-zeroconf: before the handle is made, in a "
                 "host with no daemon; avahi-browse -r and ours-on-avahi: a freshly restarted "
                 "avahi-daemon, so its cache is empty) to the first endpoint with an address. One "
                 "service, registered long before on a third host by the responder named.")
        L.append("")
        for resp, res in cold.items():
            a = stats(res["avahi"]["t"])
            L.append(f"Responder: {LABEL[resp]}")
            L.append("")
            L.append("| browser | median | min | p90 | max | vs Avahi | failed |")
            L.append("|---|---|---|---|---|---|---|")
            for impl in ("embedded", "system", "avahi", "zeroconf", "mdns-sd"):
                s = stats(res[impl]["t"])
                if s is None:
                    L.append(f"| {LABEL[impl]} | - | - | - | - | - | {res[impl]['fail']} |")
                    continue
                L.append(f"| {LABEL[impl]} | {ms(s['median'])} | {ms(s['min'])} | {ms(s['p90'])} | "
                         f"{ms(s['max'])} | {ratio(s['median'], a and a['median'])} | {res[impl]['fail']} |")
            L.append("")
    many = out.get("many")
    if many:
        n = out["count"]
        by = {(r["registrant"], r["browser"]): r for r in many}

        def ref(r):
            if r["registrant"] == r["browser"] or r["registrant"] == "avahi-publish":
                return by.get(("avahi", "avahi"), {})
            if r["browser"] == "zeroconf":
                return by.get(("avahi", "zeroconf"), {})
            if r["registrant"] == "zeroconf":
                return by.get(("zeroconf", "avahi"), {})
            return {}

        L.append(f"### 3. {n} services on one host -> all resolved on the other")
        L.append("")
        L.append(f"Registering: the browser runs first; from the registrant's start to the browser "
                 f"holding all {n} resolved with an address. Avahi registers from {n} static "
                 f"service files (its cheapest way: no D-Bus client), timed from the daemon's start; "
                 f"\"one avahi-publish per service\" is the way applications (and libdns_sd) do it. "
                 f"Cold: a fresh browser (Avahi: a fresh daemon) once all are registered. Packets and "
                 f"bytes: Ethernet frames to or from UDP port 5353, both directions, captured with "
                 f"tcpdump on the browsing host's nl0 within each window. Rows with the same "
                 f"implementation on both sides compare with Avahi on both sides; a python-zeroconf "
                 f"browser isolates the responders, a python-zeroconf responder the browsers.")
        L.append("")
        L.append("| registrant -> browser | registering: time (s) | packets | bytes | time vs Avahi | "
                 "packets vs Avahi | cold: time (s) | packets | bytes | time vs Avahi | packets vs Avahi |")
        L.append("|---|---|---|---|---|---|---|---|---|---|---|")
        for r in many:
            a = ref(r)

            def f(key, fmt="{:.2f}"):
                v = r.get(key)
                if v is None and key.endswith("_time"):
                    return f"{r.get(key[:-5] + '_count', 0)} of {n} after {r['timeout']} s"
                return "-" if v is None else fmt.format(v)
            L.append(f"| {LABEL[r['registrant']]} -> {LABEL[r['browser']]} | {f('reg_time')} | "
                     f"{f('reg_pkts', '{}')} | {f('reg_bytes', '{}')} | "
                     f"{ratio(r.get('reg_time'), a.get('reg_time'))} | "
                     f"{ratio(r.get('reg_pkts'), a.get('reg_pkts'))} | {f('cold_time')} | "
                     f"{f('cold_pkts', '{}')} | {f('cold_bytes', '{}')} | "
                     f"{ratio(r.get('cold_time'), a.get('cold_time'))} | "
                     f"{ratio(r.get('cold_pkts'), a.get('cold_pkts'))} |")
        L.append("")
        L.append(f"### 4. Idle, holding {n} services")
        L.append("")
        L.append("CPU ticks (utime+stime, 1 tick = 10 ms) over the idle window, starting 3 s after "
                 "the last browser stopped; RSS at its end.")
        L.append("")
        L.append("| process | CPU ticks | RSS (MB) |")
        L.append("|---|---|---|")
        for r in many:
            for k, v in r.get("idle", {}).items():
                rss = "-" if v["rss_kb"] is None else f"{v['rss_kb'] / 1024:.1f}"
                ticks = "-" if v["ticks"] is None else v["ticks"]
                what = LABEL.get(k, k) + (" (static services)" if r["registrant"] == "avahi" else "")
                L.append(f"| {what} | {ticks} / {r['idle_secs']} s | {rss} |")
        L.append("")
    bye = out.get("goodbye")
    if bye:
        n = out["count"]
        L.append(f"### 5. Goodbye: {n} services leave (SIGTERM)")
        L.append("")
        L.append(f"The registrant holds {n} services on h1 (Avahi: static service files, and the daemon "
                 f"is stopped) while four browsers on other hosts hold them all: avahi-browse under "
                 f"avahi-daemon, python-zeroconf, dnssd embedded, mdns-sd. From the SIGTERM: the "
                 f"datagrams h1 sends within {bye[0]['window']:.0f} s (tcpdump -Q out on h1's nl0, "
                 f"both families), when the registrant process ended, and when each browser's cache "
                 f"was empty (its last removal; \"N left\" if not within the window). Receive drops: "
                 f"growth of UDP InErrors (which counts RcvbufErrors; /proc/net/snmp and snmp6) summed "
                 f"over the browsers' hosts, in the window and, as a baseline, in the 5 s before the "
                 f"SIGTERM (the browsers settle {SETTLE:.0f} s after holding all); avahi-daemon's CPU "
                 f"ticks in those 5 s show how busy the avahi browser's host already was.")
        L.append("")
        names = list(bye[0]["observers"])
        L.append("| registrant | packets | bytes | process ended (s) | " +
                 " | ".join(f"empty at {LABEL[k]} (s)" for k in names) + " | receive drops | drops in the 5 s before | avahi browser's CPU ticks in the 5 s before |")
        L.append("|---|---|---|---|" + "---|" * len(names) + "---|---|---|")
        for r in bye:
            cells = []
            for k in names:
                o = r["observers"][k]
                if o["empty_after"] is not None and o["left"] == 0:
                    cells.append(f"{o['empty_after']:.2f}")
                else:
                    cells.append(f"{o['left']} left")
            drops = sum(o["receive_errors"] or 0 for o in r["observers"].values())
            L.append(f"| {LABEL[r['registrant']]} | {r['pkts']} | {r['bytes'] or '-'} | "
                     f"{r['exit_time']:.2f} | " + " | ".join(cells) + f" | {drops} | "
                     f"{r['receive_errors_before']} | {r['avahi_observer_ticks_before']} |")
        L.append("")

    if out.get("native"):
        L += report_native(out["native"], out["count"])
    L += goals(out)
    return "\n".join(L)


def goals(out):
    """Issue 15's goals, checked against these figures (each against its peer in this run)."""
    G = ["### Goals (issue 15)", "", "| goal | measured | met |", "|---|---|---|"]
    yes = lambda ok: "yes" if ok else "no"  # noqa: E731
    reg = out.get("register")
    if reg:
        e = stats(reg["embedded"]["zc"])
        peers = {k: stats(v["zc"]) for k, v in reg.items() if k != "embedded" and stats(v["zc"])}
        if e and peers:
            best = min(p["median"] for p in peers.values())
            G.append(f"| register -> seen remotely: median <= 880 ms and <= every peer | embedded "
                     f"{ms(e['median'])} ms; " + ", ".join(f"{LABEL[k]} {ms(p['median'])}" for k, p in peers.items())
                     + f" | {yes(e['median'] <= 0.88 and e['median'] <= best)} |")
    cold = out.get("cold", {}).get("avahi")
    if cold:
        e, a = stats(cold["embedded"]["t"]), stats(cold["avahi"]["t"])
        if e and a:
            G.append(f"| cold browse <= 0.6x avahi-browse's (responder Avahi) | embedded {ms(e['median'])} ms, "
                     f"avahi-browse {ms(a['median'])} ms ({ratio(e['median'], a['median'])}) | "
                     f"{yes(e['median'] <= 0.6 * a['median'])} |")
    many = out.get("many")
    if many:
        by = {(r["registrant"], r["browser"]): r for r in many}
        e = by.get(("embedded", "embedded"))
        m = by.get(("mdns-sd", "mdns-sd"))
        if e and e.get("reg_time") is not None:
            pk, by_ = e.get("reg_pkts"), e.get("reg_bytes")
            ok = (e["reg_time"] <= 1.0 and isinstance(pk, int) and pk <= 1135
                  and isinstance(by_, int) and by_ <= 532_000)
            peer = (f"; mdns-sd {m['reg_time']:.2f} s / {m.get('reg_pkts')} packets / {m.get('reg_bytes')} bytes"
                    if m and m.get("reg_time") is not None else "")
            G.append(f"| {out['count']} services -> all resolved on another host: <= 1.0 s, <= 1135 packets, "
                     f"<= 532 KB | embedded {e['reg_time']:.2f} s / {pk} packets / {by_} bytes{peer} | {yes(ok)} |")
        rss = {r["registrant"]: v["rss_kb"] for r in many for k, v in r.get("idle", {}).items()
               if k == r["registrant"] and v.get("rss_kb")}
        if "embedded" in rss and "mdns-sd" in rss:
            G.append(f"| RSS holding {out['count']} services <= mdns-sd's | embedded {rss['embedded'] / 1024:.1f} MB, "
                     f"mdns-sd {rss['mdns-sd'] / 1024:.1f} MB | {yes(rss['embedded'] <= rss['mdns-sd'])} |")
    bye = {r["registrant"]: r for r in out.get("goodbye", [])}
    e = bye.get("embedded")
    if e:
        times = {k: o["empty_after"] for k, o in e["observers"].items()}
        drops = sum(o["receive_errors"] or 0 for o in e["observers"].values())
        all_empty = all(o["left"] == 0 and o["empty_after"] is not None and o["empty_after"] <= 4
                        for o in e["observers"].values())
        pk = e.get("pkts")
        G.append(f"| goodbye of {out['count']} (SIGTERM): every peer empty within 4 s, <= 75 packets, no "
                 f"receive drops | {pk} packets (both families); empty after " +
                 ", ".join(f"{LABEL[k]} {'-' if t is None else f'{t:.2f} s'}" for k, t in times.items()) +
                 f"; {drops} receive drops | {yes(all_empty and isinstance(pk, int) and pk <= 75 and drops == 0)} |")
    G.append("")
    return G


if __name__ == "__main__":
    main()
