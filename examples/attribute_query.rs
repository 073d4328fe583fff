//! Attribute query over TXT: which instances of a service type have `key=value` in their TXT
//! record (`Color=T` printers, `version=2` servers)? Watches for a few seconds, then prints
//! the matching instances with where to reach them.
//!
//! ```text
//! cargo run --example attribute_query -- _ipp._tcp Color=T 3
//! ```

use std::time::Duration;

use dnssd::{ServiceDiscovery, ServiceType};

#[tokio::main]
async fn main() -> dnssd::Result<()> {
    let mut args = std::env::args().skip(1);
    let service_type = ServiceType::new(&args.next().unwrap_or_else(|| "_ipp._tcp".to_owned()))?;
    let wanted = args.next().unwrap_or_else(|| "Color=T".to_owned());
    // `key` alone asks for the key with any value (or none: a boolean attribute).
    let (key, value) = match wanted.split_once('=') {
        Some((key, value)) => (key, Some(value)),
        None => (wanted.as_str(), None),
    };
    let settle = Duration::from_secs(args.next().and_then(|s| s.parse().ok()).unwrap_or(3));

    let sd = ServiceDiscovery::new().await?;
    // TXT keys compare case-insensitively (RFC 6763 §6.4), values exactly.
    let matching = sd
        .browse(&service_type)?
        .resolved()
        .with_txt(key, value)
        .collect_for(settle)
        .await?;
    for e in &matching {
        let addresses: Vec<String> = e.addresses.iter().map(|a| a.ip().to_string()).collect();
        println!(
            "{}  {}:{}  [{}]",
            e.instance.name,
            e.host_target,
            e.port,
            addresses.join(", ")
        );
    }
    println!("{} instances have {wanted}", matching.len());
    Ok(())
}
