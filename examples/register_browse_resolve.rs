//! Register, browse and resolve in one process: advertise an HTTP service, find it again with a
//! browse, resolve it to host, port, TXT and addresses, keep it up for HOLD-SECONDS (or until
//! Ctrl-C), then withdraw it.
//!
//! ```text
//! cargo run --example register_browse_resolve -- "My Web" 8080 10   # NAME PORT HOLD-SECONDS
//! ```

use std::time::Duration;

use dnssd::{BrowseEvent, InstanceName, Service, ServiceDiscovery, ServiceType, TxtRecord};

#[tokio::main]
async fn main() -> dnssd::Result<()> {
    let mut args = std::env::args().skip(1);
    let name = InstanceName::new(args.next().unwrap_or_else(|| "My Web".to_owned()))?;
    let port: u16 = args.next().and_then(|s| s.parse().ok()).unwrap_or(8080);
    let hold = Duration::from_secs(args.next().and_then(|s| s.parse().ok()).unwrap_or(0));

    let sd = ServiceDiscovery::new().await?;
    let http = ServiceType::new("_http._tcp")?;

    // Register: the future resolves once the name is ours (possibly renamed on a conflict).
    let mut txt = TxtRecord::new();
    txt.insert("path", "/")?;
    let registration = sd
        .register(
            Service::new(http.clone(), port)
                .with_name(name)
                .with_txt(txt),
        )
        .await?;
    println!(
        "registered {} ({:?} backend)",
        registration.name(),
        sd.backend()
    );

    // Browse until our own instance shows up (others of the type may be there too).
    let mut browse = sd.browse(&http)?;
    let instance = loop {
        match browse.next_event().await {
            Some(Ok(BrowseEvent::Added(i))) if i.name == *registration.name() => break i,
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(e),
            None => return Err(dnssd::Error::DaemonNotRunning),
        }
    };
    println!("browsed {}", instance.full_name());

    // Resolve it, then look up its host (each fails with Error::Timeout if nothing answers).
    let resolved = sd.resolve(&instance).await?;
    let addresses = sd.lookup_host(&resolved.host_target).await?;
    let list: Vec<String> = addresses.iter().map(|a| a.addr.to_string()).collect();
    println!(
        "resolved {}:{} txt {} addresses {}",
        resolved.host_target,
        resolved.port,
        resolved.txt,
        list.join(" ")
    );

    // Keep it up a while (or until Ctrl-C) for others to see, then withdraw it (goodbyes).
    tokio::select! {
        () = tokio::time::sleep(hold) => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    registration.unregister().await;
    sd.shutdown().await;
    println!("withdrawn");
    Ok(())
}
