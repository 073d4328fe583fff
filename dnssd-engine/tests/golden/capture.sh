#!/usr/bin/env bash
# Re-captures the golden packets in this directory: what python-zeroconf and Avahi put on the
# wire when they register, announce and answer a service. Everything runs inside a fresh
# network + mount namespace holding only `lo` (multicast never leaves it). Needs root,
# tcpdump, avahi-daemon, dbus-daemon, avahi-utils and PyPI `zeroconf`.
#   usage: bash dnssd-engine/tests/golden/capture.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if [[ "${1:-}" != "--inside" ]]; then
    work=$(mktemp -d)
    for peer in zeroconf avahi; do
        unshare -n -m bash "$0" --inside "$peer" "$work/$peer.pcap"
    done
    python3 "$here/split_pcap.py" "$here" "$work/zeroconf.pcap" zeroconf "$work/avahi.pcap" avahi
    rm -rf "$work"
    exit 0
fi

peer=$2 pcap=$3
# Guard: only loopback in this namespace.
if grep -vE '^(Inter| face|\s*lo:)' /proc/self/net/dev | grep -q .; then
    echo "refusing: not in a private network namespace" >&2; exit 1
fi
ip link set lo up
ip link set lo multicast on
ip route add 224.0.0.0/4 dev lo
mount --make-rprivate /
mount -t tmpfs tmpfs /run
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT

tcpdump -i lo -U -w "$pcap" udp port 5353 2>/dev/null &
pids+=($!)
sleep 2

case "$peer" in
zeroconf)
    cat > "$tmp/register.py" <<'PY'
import socket, time
from zeroconf import Zeroconf, ServiceInfo, IPVersion
zc = Zeroconf(interfaces=["127.0.0.1"], ip_version=IPVersion.V4Only)
info = ServiceInfo("_http._tcp.local.", "Golden Zeroconf._http._tcp.local.",
                   addresses=[socket.inet_aton("127.0.0.1")], port=8080,
                   properties={"path": "/golden", "v": "1", "flag": None},
                   server="golden-zc.local.")
zc.register_service(info)
time.sleep(6)
zc.unregister_service(info)
time.sleep(1)
zc.close()
PY
    cat > "$tmp/browse.py" <<'PY'
import time
from zeroconf import Zeroconf, ServiceBrowser, IPVersion
zc = Zeroconf(interfaces=["127.0.0.1"], ip_version=IPVersion.V4Only)
class L:
    def add_service(self, zc, t, n): zc.get_service_info(t, n, timeout=2000)
    def update_service(self, zc, t, n): pass
    def remove_service(self, zc, t, n): pass
ServiceBrowser(zc, "_http._tcp.local.", L())
time.sleep(4)
zc.close()
PY
    python3 "$tmp/register.py" & pids+=($!)
    sleep 2.5
    python3 "$tmp/browse.py"
    wait "${pids[1]}" || true
    ;;
avahi)
    mkdir -p /run/dbus /run/avahi-daemon
    cat > "$tmp/dbus.conf" <<XML
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig><type>system</type><listen>unix:path=/run/dbus/system_bus_socket</listen>
<auth>EXTERNAL</auth><policy context="default"><allow user="*"/><allow own="*"/>
<allow send_destination="*"/><allow receive_sender="*"/></policy></busconfig>
XML
    cat > "$tmp/avahi.conf" <<INI
[server]
host-name=golden-avahi
use-ipv4=yes
use-ipv6=no
allow-interfaces=lo
enable-dbus=yes
[publish]
publish-aaaa-on-ipv4=no
publish-workstation=no
publish-hinfo=no
[wide-area]
enable-wide-area=no
INI
    dbus-daemon --config-file="$tmp/dbus.conf" --nofork --nopidfile & pids+=($!)
    export DBUS_SYSTEM_BUS_ADDRESS=unix:path=/run/dbus/system_bus_socket
    sleep 0.5
    avahi-daemon --no-drop-root --no-chroot --no-rlimits -f "$tmp/avahi.conf" >/dev/null 2>&1 & pids+=($!)
    sleep 1.5
    avahi-publish -s "Golden Avahi" _http._tcp 8081 "path=/golden" "v=1" flag & pids+=($!)
    sleep 2.5
    timeout 4 avahi-browse -rpt _http._tcp >/dev/null || true
    # A python-zeroconf browser elicits answers to a QU query and known-answer queries.
    python3 - <<'PY'
import time
from zeroconf import Zeroconf, ServiceBrowser, IPVersion
zc = Zeroconf(interfaces=["127.0.0.1"], ip_version=IPVersion.V4Only)
class L:
    def add_service(self, zc, t, n): zc.get_service_info(t, n, timeout=2000)
    def update_service(self, zc, t, n): pass
    def remove_service(self, zc, t, n): pass
ServiceBrowser(zc, "_http._tcp.local.", L())
time.sleep(3)
zc.close()
PY
    kill "${pids[3]}"   # avahi-publish: Avahi sends goodbyes
    sleep 1.5
    ;;
esac
sleep 0.5
