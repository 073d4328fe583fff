//! Other mDNS responders that can run on the same host as this process.

use std::fmt;

/// An mDNS responder running on this host (this network namespace) besides this process, as
/// found by [`detect_host_responders`](crate::detect_host_responders).
///
/// Two responders on one host must not both claim the host's name and reverse mapping; see
/// [`ServiceDiscovery`](crate::ServiceDiscovery) ("Other responders on this host").
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum HostResponder {
    /// avahi-daemon (its socket `/run/avahi-daemon/socket` answers, or it holds UDP 5353 here).
    Avahi {
        /// Its process, when this process may see it.
        pid: Option<u32>,
    },
    /// systemd-resolved with MulticastDNS enabled on some link (it holds UDP 5353 here).
    SystemdResolved {
        /// Its process, when this process may see it.
        pid: Option<u32>,
    },
    /// Apple's mDNSResponder (its socket `/var/run/mDNSResponder` answers, or it holds UDP
    /// 5353 here).
    MdnsResponder {
        /// Its process, when this process may see it.
        pid: Option<u32>,
    },
    /// Another program running this crate's embedded engine.
    EmbeddedEngine {
        /// Its process.
        pid: u32,
        /// Its program name (`/proc/PID/comm`), when readable.
        program: Option<String>,
    },
    /// Some other socket bound to UDP port 5353 here (another mDNS stack or querier).
    UnknownPort5353 {
        /// The socket's inode (`/proc/net/udp`).
        inode: u64,
        /// The process holding it, when this process may see it.
        pid: Option<u32>,
        /// That process's program name, when readable.
        program: Option<String>,
    },
}

impl HostResponder {
    /// Whether this is another program running this crate's embedded engine (which takes its
    /// own host name when it sees others, so a second one can run beside it).
    pub fn is_embedded_engine(&self) -> bool {
        matches!(self, HostResponder::EmbeddedEngine { .. })
    }
}

fn pid_suffix(f: &mut fmt::Formatter<'_>, pid: Option<u32>) -> fmt::Result {
    match pid {
        Some(pid) => write!(f, " (pid {pid})"),
        None => Ok(()),
    }
}

impl fmt::Display for HostResponder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostResponder::Avahi { pid } => {
                f.write_str("avahi-daemon")?;
                pid_suffix(f, *pid)
            }
            HostResponder::SystemdResolved { pid } => {
                f.write_str("systemd-resolved with MulticastDNS")?;
                pid_suffix(f, *pid)
            }
            HostResponder::MdnsResponder { pid } => {
                f.write_str("mDNSResponder")?;
                pid_suffix(f, *pid)
            }
            HostResponder::EmbeddedEngine { pid, program } => {
                write!(
                    f,
                    "the dnssd embedded engine of {} (pid {pid})",
                    program.as_deref().unwrap_or("another program")
                )
            }
            HostResponder::UnknownPort5353 {
                inode,
                pid,
                program,
            } => {
                match program {
                    Some(program) => write!(f, "{program}")?,
                    None => f.write_str("an unidentified process")?,
                }
                pid_suffix(f, *pid)?;
                write!(f, " holding UDP port 5353 (socket inode {inode})")
            }
        }
    }
}
