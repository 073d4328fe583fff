//! Shared by the system-backend tests (`system_avahi`, `system_lifecycle`): a lab whose host 1
//! runs the avahi-daemon this process talks to, `avahi-browse` parsing, and polling helpers.

#![allow(dead_code, reason = "each test file uses a different subset")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test support: a failure here is a test failure with a message"
)]

use std::future::Future;
use std::process::Command;
use std::time::{Duration, Instant};

use dnssd::{BackendKind, BrowseEvent, Instance, ServiceDiscovery};
use dnssd_netlab::{Avahi, Host, Lab};

/// Deadline for anything that goes over the network (probing alone takes ~1 s).
pub const NET: Duration = Duration::from_secs(15);

/// A two-host lab, avahi on both; this process uses host 1's daemon. Call first in a test:
/// it sets the environment before any thread exists.
pub fn lab() -> (Lab, Avahi, Avahi) {
    let lab = Lab::new(2);
    let a1 = lab.host(1).start_avahi();
    a1.use_for_this_process();
    let a2 = lab.host(2).start_avahi();
    (lab, a1, a2)
}

/// The tokio runtime for a test body, built after the environment is set.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// A system-backend handle (inside the runtime).
pub async fn system(reconnect: bool) -> ServiceDiscovery {
    let sd = ServiceDiscovery::builder()
        .backend(BackendKind::DnsSd)
        .reconnect(reconnect)
        .build()
        .await
        .unwrap();
    assert_eq!(sd.backend(), BackendKind::DnsSd);
    sd
}

/// One resolved line of `avahi-browse -rpt`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrowseLine {
    pub interface: String,
    pub protocol: String,
    pub name: String,
    pub service_type: String,
    pub host: String,
    pub address: String,
    pub port: u16,
    /// TXT strings, in avahi's order (it lists them reversed from the wire order).
    pub txt: Vec<String>,
}

/// Undo avahi-browse's escaping (`\032` decimal byte codes, `\.`, `\\`).
pub fn unescape(s: &str) -> String {
    let mut out = Vec::new();
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 4 <= bytes.len()
            && bytes[i + 1..i + 4].iter().all(u8::is_ascii_digit)
        {
            let n: u32 = s[i + 1..i + 4].parse().unwrap();
            out.push(u8::try_from(n).unwrap_or(b'?'));
            i += 4;
        } else if bytes[i] == b'\\' && i + 1 < bytes.len() {
            out.push(bytes[i + 1]);
            i += 2;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn parse_txt(field: &str) -> Vec<String> {
    // `"a=1" "b=2"`: quoted strings separated by spaces.
    let mut out = Vec::new();
    let mut rest = field.trim();
    while let Some(start) = rest.find('"') {
        let after = &rest[start + 1..];
        let Some(end) = after.find('"') else { break };
        out.push(after[..end].to_string());
        rest = &after[end + 1..];
    }
    out
}

/// Resolved services of `service_type` that `avahi-browse -rpt` on `host` lists now.
pub fn avahi_browse(host: &Host, service_type: &str) -> Vec<BrowseLine> {
    let out = host
        .command("avahi-browse")
        .args(["-rpt", service_type])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with("=;"))
        .filter_map(|l| {
            let f: Vec<&str> = l.splitn(10, ';').collect();
            if f.len() < 10 {
                return None;
            }
            Some(BrowseLine {
                interface: f[1].to_string(),
                protocol: f[2].to_string(),
                name: unescape(f[3]),
                service_type: f[4].to_string(),
                host: f[6].to_string(),
                address: f[7].to_string(),
                port: f[8].parse().ok()?,
                txt: parse_txt(f[9]),
            })
        })
        .collect()
}

/// Poll `avahi-browse` on `host` until `pred` holds for the listing; the listing that matched.
pub fn wait_browse(
    host: &Host,
    service_type: &str,
    what: &str,
    pred: impl Fn(&[BrowseLine]) -> bool,
) -> Vec<BrowseLine> {
    let deadline = Instant::now() + NET;
    loop {
        let lines = avahi_browse(host, service_type);
        if pred(&lines) {
            return lines;
        }
        assert!(
            Instant::now() < deadline,
            "avahi-browse on {} never showed {what}; last listing: {lines:#?}",
            host.name()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// `avahi-publish -s NAME TYPE PORT TXT...` on `host`; unpublished when the child drops.
pub fn publish(
    host: &Host,
    name: &str,
    service_type: &str,
    port: u16,
    txt: &[&str],
) -> dnssd_netlab::LabChild {
    let mut cmd: Command = host.command("avahi-publish");
    cmd.args(["-s", name, service_type, &port.to_string()])
        .args(txt)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    host.spawn(cmd)
}

/// Await `fut`, failing the test with `what` after `limit`.
pub async fn within<T>(limit: Duration, what: &str, fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(limit, fut).await {
        Ok(v) => v,
        Err(_) => panic!("timed out after {limit:?} waiting for {what}"),
    }
}

/// Wait on `browse` for an `Added` of `name`; the instance.
pub async fn added(browse: &mut dnssd::Browse, name: &str) -> Instance {
    within(NET, &format!("Added({name})"), async {
        loop {
            match browse.next_event().await {
                Some(Ok(BrowseEvent::Added(i))) if i.name.as_str() == name => return i,
                Some(Ok(_)) => {}
                Some(Err(e)) => panic!("browse error: {e}"),
                None => panic!("browse ended"),
            }
        }
    })
    .await
}
