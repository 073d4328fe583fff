//! The harness itself: hosts are isolated, avahi-daemons run and see each other.

use std::time::{Duration, Instant};

use dnssd_netlab::{Lab, interfaces};

#[test]
fn a_host_thread_sees_only_lo_and_its_link() {
    let lab = Lab::new(1);
    let seen = lab.host(1).run(interfaces);
    assert_eq!(seen, vec!["lo".to_string(), "nl0".to_string()]);
}

#[test]
fn avahi_on_one_host_sees_a_service_published_on_another() {
    let lab = Lab::new(2);
    let _a1 = lab.host(1).start_avahi();
    let _a2 = lab.host(2).start_avahi();
    let mut publish = lab.host(1).command("avahi-publish");
    publish.args(["-s", "Lab Smoke", "_labsmoke._tcp", "4321", "k=v"]);
    let _publisher = lab.host(1).spawn(publish);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = lab
            .host(2)
            .command("avahi-browse")
            .args(["-rpt", "_labsmoke._tcp"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        if let Some(line) = text
            .lines()
            .find(|l| l.starts_with("=;nl0;IPv4;Lab\\032Smoke;"))
        {
            assert!(line.contains(";10.77.0.1;4321;\"k=v\""), "{line}");
            return;
        }
        assert!(
            Instant::now() < deadline,
            "avahi-browse never saw it: {text}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
