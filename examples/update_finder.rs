//! Kiosk update finder: find the first `_update._tcp` server on the network (waiting up to
//! 10 s), then download the file its TXT `path` names over HTTP/1.0 and save it.
//!
//! ```text
//! cargo run --example update_finder -- firmware.bin
//! ```

use std::error::Error;
use std::net::SocketAddr;
use std::time::Duration;

use dnssd::{Endpoint, ServiceDiscovery, ServiceType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let out = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "update.bin".to_owned());
    let sd = ServiceDiscovery::new().await?;
    let server = first_update_server(&sd).await?;
    let path = server.txt.get_str("path").unwrap_or("/");
    println!(
        "found {} at {}:{}",
        server.instance.name, server.host_target, server.port
    );

    let body = download(&server.addresses, &server.host_target, path).await?;
    tokio::fs::write(&out, &body).await?;
    println!("downloaded {} bytes of {path} to {out}", body.len());
    Ok(())
}

/// The first update server that is up and says which file to fetch (`Error::Timeout` after
/// 10 s).
async fn first_update_server(sd: &ServiceDiscovery) -> dnssd::Result<Endpoint> {
    sd.browse(&ServiceType::new("_update._tcp")?)?
        .resolved()
        .with_txt("path", None)
        .first_matching(|_| true, Duration::from_secs(10))
        .await
}

/// `GET path` from the first address that accepts a connection (IPv4 first: a link-local IPv6
/// address only works with its scope id, which `Endpoint.addresses` carries).
async fn download(
    addresses: &[SocketAddr],
    host: &str,
    path: &str,
) -> Result<Vec<u8>, Box<dyn Error>> {
    let mut addresses = addresses.to_vec();
    addresses.sort_by_key(|a| !a.is_ipv4());
    for addr in addresses {
        let Ok(Ok(mut stream)) = timeout(Duration::from_secs(3), TcpStream::connect(addr)).await
        else {
            continue;
        };
        let host = host.trim_end_matches('.');
        stream
            .write_all(format!("GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n").as_bytes())
            .await?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await?;
        let split = response
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .ok_or("not an HTTP response")?;
        let (head, body) = response.split_at(split);
        let status = String::from_utf8_lossy(head.split(|&b| b == b'\r').next().unwrap_or(head));
        if !status.starts_with("HTTP/1.0 200") && !status.starts_with("HTTP/1.1 200") {
            return Err(format!("{addr}: {status}").into());
        }
        return Ok(body.get(4..).unwrap_or_default().to_vec());
    }
    Err("no address of the server accepted a connection".into())
}
