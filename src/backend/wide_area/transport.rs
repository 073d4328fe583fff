//! One DNS exchange with a server: UDP first, TCP when the answer is truncated, every step
//! bounded by a timeout so that a dead server ends in [`Error::Timeout`], never a hang.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::{Instant, timeout_at};

use crate::types::error::{Error, Result};

/// Largest UDP response we read (EDNS payload plus slack).
const UDP_BUFFER: usize = 4096;

/// The bounds of one exchange.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bounds {
    /// How long one UDP attempt (and the TCP exchange) waits.
    pub(crate) attempt_timeout: Duration,
    /// UDP attempts before giving up.
    pub(crate) attempts: u32,
}

/// What came back, and whether it came over TCP.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) bytes: Vec<u8>,
    #[cfg_attr(not(test), allow(dead_code, reason = "checked by the unit tests"))]
    pub(crate) over_tcp: bool,
}

fn id_of(bytes: &[u8]) -> Option<u16> {
    let b = bytes.get(..2)?;
    Some(u16::from_be_bytes([*b.first()?, *b.get(1)?]))
}

fn truncated(bytes: &[u8]) -> bool {
    bytes.get(2).is_some_and(|flags| flags & 0x02 != 0)
}

fn is_response(bytes: &[u8]) -> bool {
    bytes.get(2).is_some_and(|flags| flags & 0x80 != 0)
}

/// Sends `message` (whose ID is its first two bytes) to `server` and returns the first
/// response with the same ID from that address. UDP `bounds.attempts` times, then TCP if the
/// UDP answer had TC set. Total time is at most `attempts + 1` times `attempt_timeout`.
pub(crate) async fn exchange(server: SocketAddr, message: &[u8], bounds: Bounds) -> Result<Reply> {
    let id = id_of(message).ok_or(Error::BadParam)?;
    let local: SocketAddr = match server.ip() {
        IpAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        IpAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = UdpSocket::bind(local).await?;
    socket.connect(server).await?;
    let mut buffer = vec![0u8; UDP_BUFFER];
    for _ in 0..bounds.attempts.max(1) {
        let deadline = Instant::now() + bounds.attempt_timeout;
        // A send error (no route, ICMP refusal of an earlier attempt) counts as a lost try.
        if socket.send(message).await.is_err() {
            tokio::time::sleep_until(deadline).await;
            continue;
        }
        loop {
            match timeout_at(deadline, socket.recv(&mut buffer)).await {
                Err(_) => break,
                // Refused (ICMP port unreachable) or similar: wait out this attempt.
                Ok(Err(_)) => {
                    tokio::time::sleep_until(deadline).await;
                    break;
                }
                Ok(Ok(len)) => {
                    let reply = buffer.get(..len).unwrap_or_default();
                    if id_of(reply) != Some(id) || !is_response(reply) {
                        continue; // stray or forged datagram: keep waiting
                    }
                    if truncated(reply) {
                        return exchange_tcp(server, message, bounds.attempt_timeout).await;
                    }
                    return Ok(Reply {
                        bytes: reply.to_vec(),
                        over_tcp: false,
                    });
                }
            }
        }
    }
    Err(Error::Timeout)
}

/// One exchange over TCP (RFC 1035 s4.2.2 length prefix), bounded by `limit` in total.
pub(crate) async fn exchange_tcp(
    server: SocketAddr,
    message: &[u8],
    limit: Duration,
) -> Result<Reply> {
    let deadline = Instant::now() + limit;
    let id = id_of(message).ok_or(Error::BadParam)?;
    let body = async {
        let mut stream = TcpStream::connect(server).await?;
        let len = u16::try_from(message.len()).map_err(|_| Error::BadParam)?;
        let mut framed = Vec::with_capacity(message.len() + 2);
        framed.extend_from_slice(&len.to_be_bytes());
        framed.extend_from_slice(message);
        stream.write_all(&framed).await?;
        loop {
            let mut prefix = [0u8; 2];
            stream.read_exact(&mut prefix).await?;
            let mut reply = vec![0u8; usize::from(u16::from_be_bytes(prefix))];
            stream.read_exact(&mut reply).await?;
            if id_of(&reply) == Some(id) && is_response(&reply) {
                return Ok::<_, Error>(reply);
            }
        }
    };
    match timeout_at(deadline, body).await {
        Ok(Ok(bytes)) => Ok(Reply {
            bytes,
            over_tcp: true,
        }),
        Ok(Err(Error::Io(e))) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            Err(Error::Timeout)
        }
        Ok(Err(e)) => Err(e),
        Err(_) => Err(Error::Timeout),
    }
}

/// The local address this host uses to reach `server` (no packet is sent: a connected UDP
/// socket only picks a route).
pub(crate) fn local_address_towards(server: SocketAddr) -> Option<IpAddr> {
    let local: SocketAddr = match server.ip() {
        IpAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        IpAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = std::net::UdpSocket::bind(local).ok()?;
    socket.connect(server).ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_unspecified()).then_some(ip)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_silent_server_is_a_timeout_within_the_bound() {
        // A bound UDP socket on loopback that never answers.
        let silent = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        let server = silent.local_addr().expect("addr");
        let bounds = Bounds {
            attempt_timeout: Duration::from_millis(100),
            attempts: 3,
        };
        let started = std::time::Instant::now();
        let result = exchange(server, &[0x12, 0x34, 0, 0], bounds).await;
        let took = started.elapsed();
        assert!(matches!(result, Err(Error::Timeout)), "{result:?}");
        assert!(took < Duration::from_secs(2), "took {took:?}");
    }

    #[tokio::test]
    async fn stray_replies_are_ignored_and_truncation_moves_to_tcp() {
        let udp = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        let server = udp.local_addr().expect("addr");
        let tcp = tokio::net::TcpListener::bind(server).await.expect("tcp");
        tokio::spawn(async move {
            let mut buf = [0u8; 512];
            let (_, from) = udp.recv_from(&mut buf).await.expect("recv");
            // A reply with the wrong ID, then a truncated one with the right ID.
            let _ = udp.send_to(&[0xde, 0xad, 0x80, 0, 0, 0], from).await;
            let _ = udp.send_to(&[0x12, 0x34, 0x82, 0, 0, 0], from).await;
            let (mut stream, _) = tcp.accept().await.expect("accept");
            let mut prefix = [0u8; 2];
            stream.read_exact(&mut prefix).await.expect("len");
            let mut query = vec![0u8; usize::from(u16::from_be_bytes(prefix))];
            stream.read_exact(&mut query).await.expect("query");
            let reply = [0, 6, 0x12, 0x34, 0x80, 0, 0, 0];
            stream.write_all(&reply).await.expect("reply");
        });
        let bounds = Bounds {
            attempt_timeout: Duration::from_secs(2),
            attempts: 1,
        };
        let reply = exchange(server, &[0x12, 0x34, 0, 0], bounds)
            .await
            .expect("reply");
        assert!(reply.over_tcp);
        assert_eq!(reply.bytes, vec![0x12, 0x34, 0x80, 0, 0, 0]);
    }
}
