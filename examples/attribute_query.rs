//! Attribute query over TXT: which instances of a service type have `key=value` in their TXT
//! record (`color=T` printers, `version=2` servers)? Collects for a few seconds, then prints
//! the matching instances with where to reach them.
//!
//! ```text
//! cargo run --example attribute_query -- _ipp._tcp Color=T 3
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

use dnssd::{Endpoint, EndpointEvent, ServiceDiscovery, ServiceType};

#[tokio::main]
async fn main() -> dnssd::Result<()> {
    let mut args = std::env::args().skip(1);
    let service_type = ServiceType::new(&args.next().unwrap_or_else(|| "_ipp._tcp".to_owned()))?;
    let wanted = args.next().unwrap_or_else(|| "Color=T".to_owned());
    let (key, value) = wanted.split_once('=').unwrap_or((&wanted, ""));
    let settle = Duration::from_secs(args.next().and_then(|s| s.parse().ok()).unwrap_or(3));

    let sd = ServiceDiscovery::new().await?;
    let everything = collect_for(&sd, &service_type, settle).await?;
    // TXT keys are case-insensitive (RFC 6763 §6.4), values are compared as given.
    let matching = everything
        .values()
        .filter(|e| e.txt.get_str(key) == Some(value));
    let mut count = 0;
    for e in matching {
        count += 1;
        let addresses: Vec<String> = e.addresses.iter().map(|a| a.ip().to_string()).collect();
        println!(
            "{}  {}:{}  [{}]",
            e.instance.name,
            e.host_target,
            e.port,
            addresses.join(", ")
        );
    }
    println!(
        "{count} of {} instances have {key}={value}",
        everything.len()
    );
    Ok(())
}

/// Every endpoint of `service_type` present after `settle`, with all the addresses that
/// arrived meanwhile (`Up` fires with the first address; later ones come as `Changed`).
async fn collect_for(
    sd: &ServiceDiscovery,
    service_type: &ServiceType,
    settle: Duration,
) -> dnssd::Result<BTreeMap<String, Endpoint>> {
    let mut endpoints = sd.browse(service_type)?.resolved();
    let mut present = BTreeMap::new();
    let deadline = tokio::time::sleep(settle);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            () = &mut deadline => return Ok(present),
            event = endpoints.next_event() => match event.transpose()? {
                Some(EndpointEvent::Up(e) | EndpointEvent::Changed(e)) => {
                    present.insert(e.instance.name.to_string(), e);
                }
                Some(EndpointEvent::Down(gone)) => {
                    present.remove(gone.name.as_str());
                }
                None => return Ok(present),
            },
        }
    }
}
