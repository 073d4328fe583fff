//! LAN presence list: announce yourself under `_presence._tcp` and print who else is on the
//! network as people arrive (`+`) and leave (`-`), until Ctrl-C or the time is up.
//!
//! ```text
//! cargo run --example presence -- Alice 30      # NAME, then how long to stay (seconds)
//! ```

use std::time::Duration;

use dnssd::{EndpointEvent, InstanceName, Service, ServiceDiscovery, ServiceType};

#[tokio::main]
async fn main() -> dnssd::Result<()> {
    let mut args = std::env::args().skip(1);
    let name = InstanceName::new(args.next().unwrap_or_else(|| "Anonymous".to_owned()))?;
    let stay = Duration::from_secs(args.next().and_then(|s| s.parse().ok()).unwrap_or(30));

    let sd = ServiceDiscovery::new().await?;
    let presence = ServiceType::new("_presence._tcp")?;
    // 5298: the port of link-local messaging (XEP-0174), which uses this service type.
    let me = sd
        .register(Service::new(presence.clone(), 5298).with_name(name))
        .await?;
    // The daemon may have renamed us ("Alice (2)") if the name was taken.
    println!("present as {}", me.name());

    let mut people = sd.browse(&presence)?.resolved();
    let leave = tokio::time::sleep(stay);
    tokio::pin!(leave);
    loop {
        tokio::select! {
            () = &mut leave => break,
            _ = tokio::signal::ctrl_c() => break,
            event = people.next_event() => match event.transpose()? {
                // Our own registration shows up in the browse too: is_own() tells.
                Some(EndpointEvent::Up(e)) if !e.is_own() => {
                    println!("+ {} on {}", e.instance.name, e.host_target);
                }
                Some(EndpointEvent::Down(e)) if !e.is_own() => println!("- {}", e.instance.name),
                Some(_) => {}
                None => break,
            },
        }
    }
    // Leaving: withdraw (goodbyes), then let the engine finish before the process exits.
    me.unregister().await;
    sd.shutdown().await;
    Ok(())
}
