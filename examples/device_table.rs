//! Device-ID -> addresses table: devices advertise a service whose TXT carries `id=...`; print
//! one line per device ID with every address it answers on, after watching for a few seconds.
//!
//! ```text
//! cargo run --example device_table -- _sensor._tcp 3
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::time::Duration;

use dnssd::{ServiceDiscovery, ServiceType};

#[tokio::main]
async fn main() -> dnssd::Result<()> {
    let mut args = std::env::args().skip(1);
    let service_type = ServiceType::new(&args.next().unwrap_or_else(|| "_sensor._tcp".to_owned()))?;
    let settle = Duration::from_secs(args.next().and_then(|s| s.parse().ok()).unwrap_or(3));

    let sd = ServiceDiscovery::new().await?;
    // Every endpoint with an `id`, each with all the addresses that arrived meanwhile.
    let devices = sd
        .browse(&service_type)?
        .resolved()
        .with_txt("id", None)
        .collect_for(settle)
        .await?;

    // One device may be seen under several instance names (one per service it offers).
    let mut table: BTreeMap<&str, BTreeSet<IpAddr>> = BTreeMap::new();
    for e in &devices {
        let id = e.txt.get_str("id").unwrap_or("(not text)");
        table
            .entry(id)
            .or_default()
            .extend(e.addresses.iter().map(|a| a.ip()));
    }
    println!("{:<20} addresses", "device id");
    for (id, addresses) in table {
        let list: Vec<String> = addresses.iter().map(IpAddr::to_string).collect();
        println!("{id:<20} {}", list.join(" "));
    }
    Ok(())
}
