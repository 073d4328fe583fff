//! Device-ID -> addresses table: devices advertise `_device-info._tcp`-style services whose
//! TXT carries `id=...`; print one line per device ID with every address it answers on,
//! after collecting for a few seconds.
//!
//! ```text
//! cargo run --example device_table -- _sensor._tcp 3
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::time::Duration;

use dnssd::{EndpointEvent, ServiceDiscovery, ServiceType};

#[tokio::main]
async fn main() -> dnssd::Result<()> {
    let mut args = std::env::args().skip(1);
    let service_type = ServiceType::new(&args.next().unwrap_or_else(|| "_sensor._tcp".to_owned()))?;
    let settle = Duration::from_secs(args.next().and_then(|s| s.parse().ok()).unwrap_or(3));

    let sd = ServiceDiscovery::new().await?;
    let mut endpoints = sd.browse(&service_type)?.resolved();
    // Instance name -> (device ID, addresses): a device may change its addresses or leave.
    let mut devices: BTreeMap<String, (String, BTreeSet<IpAddr>)> = BTreeMap::new();
    let deadline = tokio::time::sleep(settle);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            () = &mut deadline => break,
            event = endpoints.next_event() => match event.transpose()? {
                Some(EndpointEvent::Up(e) | EndpointEvent::Changed(e)) => {
                    // Instances without an id are not devices of this kind.
                    if let Some(id) = e.txt.get_str("id") {
                        let addresses = e.addresses.iter().map(|a| a.ip()).collect();
                        devices.insert(e.instance.name.to_string(), (id.to_owned(), addresses));
                    }
                }
                Some(EndpointEvent::Down(gone)) => {
                    devices.remove(gone.name.as_str());
                }
                None => break,
            },
        }
    }

    // One device may be seen under several instance names (one per interface or service).
    let mut table: BTreeMap<&str, BTreeSet<IpAddr>> = BTreeMap::new();
    for (id, addresses) in devices.values() {
        table.entry(id).or_default().extend(addresses);
    }
    println!("{:<20} addresses", "device id");
    for (id, addresses) in table {
        let list: Vec<String> = addresses.iter().map(IpAddr::to_string).collect();
        println!("{id:<20} {}", list.join(" "));
    }
    Ok(())
}
