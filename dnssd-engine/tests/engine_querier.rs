//! Querier behaviour on the simulated link: browse, resolve, lookup, continuous queries,
//! known answers, goodbyes, refresh (RFC 6762 §5, §7, §10).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "tests"
)]
mod net;

use std::time::Duration;

use dnssd_engine::wire::RecordType;
use dnssd_engine::{Event, Instant};
use net::*;

#[test]
fn browse_resolve_lookup_end_to_end_and_goodbye_removes() {
    let mut net = Net::new(21, 2);
    net.loss_permille = 0;
    let id = net
        .engine(0)
        .register(Instant::ZERO, spec("My Web", "_http._tcp", 8080))
        .unwrap();
    net.run_for(Duration::from_secs(5));
    let now = net.now;
    let b = net.engine(1).browse(now, "_http._tcp", None).unwrap();
    net.run_for(Duration::from_secs(1));
    let inst = net
        .events_of(1)
        .iter()
        .find_map(|e| match e {
            Event::BrowseAdded {
                query,
                instance,
                interface,
            } if *query == b && *interface == IFACE => Some(instance.clone()),
            _ => None,
        })
        .expect("browse found the service");
    assert_eq!(inst, name("My Web._http._tcp.local"));
    let now = net.now;
    let r = net.engine(1).resolve(now, &inst, None).unwrap();
    let h = net.engine(1).lookup_host(now, "host0", None).unwrap();
    net.run_for(Duration::from_secs(1));
    let ev = net.events_of(1);
    assert!(ev.iter().any(|e| matches!(e, Event::Resolved { query, port: 8080, target, txt, .. } if *query == r && *target == name("host0.local") && txt == &vec![3, b'a', b'=', b'1'])), "{ev:?}");
    assert!(ev.iter().any(|e| matches!(e, Event::AddressAdded { query, addr, .. } if *query == h && *addr == node_addr(0))));
    // Goodbye: removed about one second later.
    let t0 = net.now;
    net.engine(0).deregister(t0, id).unwrap();
    net.run_for(Duration::from_secs(3));
    let removed_at = net
        .events
        .iter()
        .find_map(|(n, at, e)| {
            matches!(e, Event::BrowseRemoved { query, .. } if *query == b && *n == 1).then_some(*at)
        })
        .expect("removed");
    let d = removed_at - t0;
    assert!(
        d >= Duration::from_secs(1) && d < Duration::from_millis(1100),
        "{d:?}"
    );
}

#[test]
fn continuous_query_first_20_120ms_qu_then_doubling_to_an_hour() {
    // rows 2, 11 (fresh browse asks QU first)
    let mut net = Net::new(22, 1);
    net.run_for(Duration::from_secs(5));
    let t0 = net.now;
    net.engine(0).browse(t0, "_ipp._tcp", None).unwrap();
    net.run_for(Duration::from_secs(5 * 3600));
    let qs: Vec<_> = net
        .sent_by(0)
        .into_iter()
        .filter(|s| {
            !s.is_response()
                && s.msg
                    .questions
                    .iter()
                    .any(|q| q.name == name("_ipp._tcp.local"))
        })
        .cloned()
        .collect();
    let first = qs[0].at - t0;
    assert!(
        first >= Duration::from_millis(20) && first <= Duration::from_millis(120),
        "{first:?}"
    );
    assert!(qs[0].msg.questions[0].unicast_response, "first query QU");
    assert!(qs[1..].iter().all(|q| !q.msg.questions[0].unicast_response));
    let gaps: Vec<Duration> = qs.windows(2).map(|w| w[1].at - w[0].at).collect();
    assert!(gaps[0] >= Duration::from_secs(1));
    for w in gaps.windows(2) {
        assert!(
            w[1] >= w[0] * 2 - Duration::from_millis(1) || w[1] >= Duration::from_secs(3600),
            "{gaps:?}"
        );
    }
    assert!(
        gaps.iter()
            .all(|g| *g <= Duration::from_secs(3600) + Duration::from_millis(1))
    );
    assert!(
        *gaps.last().unwrap() >= Duration::from_secs(3599),
        "cap reached: {gaps:?}"
    );
}

#[test]
fn known_answers_listed_and_answer_suppressed() {
    // rows 21 (querier side), 23
    let mut net = Net::new(23, 2);
    net.engine(0)
        .register(Instant::ZERO, spec("Web", "_http._tcp", 80))
        .unwrap();
    net.run_for(Duration::from_secs(5));
    let now = net.now;
    net.engine(1).browse(now, "_http._tcp", None).unwrap();
    net.run_for(Duration::from_secs(20));
    let later: Vec<_> = net
        .sent_by(1)
        .into_iter()
        .filter(|s| !s.is_response() && s.at > now + Duration::from_secs(2))
        .cloned()
        .collect();
    assert!(!later.is_empty());
    for q in &later {
        assert!(
            q.msg
                .answers
                .iter()
                .any(|r| r.rtype() == RecordType::PTR && !r.cache_flush),
            "known answer listed"
        );
    }
    // Node 0 does not answer queries that list its answer.
    let answers_after = net
        .sent_by(0)
        .into_iter()
        .filter(|s| s.is_response() && s.at > now + Duration::from_secs(3))
        .count();
    assert_eq!(answers_after, 0);
}

#[test]
fn refresh_only_while_interested_idle_cache_sends_nothing() {
    // row 3
    let mut net = Net::new(24, 2);
    net.engine(0)
        .register(Instant::ZERO, spec("Web", "_http._tcp", 80))
        .unwrap();
    net.run_for(Duration::from_secs(5));
    let now = net.now;
    let q = net
        .engine(1)
        .resolve(now, &name("Web._http._tcp.local"), None)
        .unwrap();
    net.run_for(Duration::from_secs(5));
    // SRV TTL 120: refresh queries at 80-82 % (96-98.4 s after receipt).
    net.run_for(Duration::from_secs(300));
    let srv = name("Web._http._tcp.local");
    let responses: Vec<Instant> = net
        .sent_by(0)
        .into_iter()
        .filter(|s| s.is_response() && has_record(s, &srv, RecordType::SRV))
        .map(|s| s.at)
        .collect();
    let queries: Vec<Instant> = net
        .sent_by(1)
        .into_iter()
        .filter(|s| !s.is_response() && s.msg.questions.iter().any(|q| q.qtype == RecordType::SRV))
        .map(|s| s.at)
        .collect();
    let refresh = queries.iter().any(|q| {
        let last_resp = responses.iter().filter(|r| *r < q).max().unwrap();
        let d = *q - *last_resp;
        d >= Duration::from_secs(96) && d <= Duration::from_millis(98_400)
    });
    assert!(
        refresh,
        "refresh at 80-82 % of 120 s: responses {responses:?} queries {queries:?}"
    );
    let now = net.now;
    net.engine(1).stop_query(now, q).unwrap();
    let n = net.sent_by(1).len();
    net.run_for(Duration::from_secs(600));
    assert_eq!(
        net.sent_by(1).len(),
        n,
        "no queries without an interested client"
    );
}

#[test]
fn service_type_enumeration_browse() {
    // row 48
    let mut net = Net::new(25, 2);
    net.engine(0)
        .register(Instant::ZERO, spec("A", "_ipp._tcp", 631))
        .unwrap();
    net.run_for(Duration::from_secs(5));
    let now = net.now;
    let b = net
        .engine(1)
        .browse(now, "_services._dns-sd._udp", None)
        .unwrap();
    net.run_for(Duration::from_secs(2));
    assert!(net.events_of(1).iter().any(|e| matches!(e, Event::BrowseAdded { query, instance, .. } if *query == b && *instance == name("_ipp._tcp.local"))));
}

#[test]
fn reconfirm_flushes_after_ten_seconds_of_silence() {
    // row 35
    let mut net = Net::new(26, 2);
    net.engine(0)
        .register(Instant::ZERO, spec("Web", "_http._tcp", 80))
        .unwrap();
    net.run_for(Duration::from_secs(5));
    let now = net.now;
    let b = net.engine(1).browse(now, "_http._tcp", None).unwrap();
    net.run_for(Duration::from_secs(2));
    // Node 0 vanishes without goodbyes.
    net.nodes[0].engine = dnssd_engine::Engine::new(dnssd_engine::Config::default());
    let rec = dnssd_engine::wire::Record {
        name: name("_http._tcp.local"),
        class: dnssd_engine::wire::CLASS_IN,
        cache_flush: false,
        ttl: 4500,
        rdata: dnssd_engine::wire::RData::Ptr(name("Web._http._tcp.local")),
    };
    let t0 = net.now;
    net.engine(1).reconfirm(t0, &rec);
    net.run_for(Duration::from_secs(12));
    let qs = net
        .sent_by(1)
        .into_iter()
        .filter(|s| {
            !s.is_response() && s.at >= t0 && s.msg.questions.iter().any(|q| q.name == rec.name)
        })
        .count();
    assert!(qs >= 2, "{qs} reconfirm queries");
    let at = net
        .events
        .iter()
        .find_map(|(n, at, e)| {
            matches!(e, Event::BrowseRemoved { query, .. } if *query == b && *n == 1).then_some(*at)
        })
        .expect("flushed");
    assert!(at - t0 >= Duration::from_secs(10) && at - t0 < Duration::from_secs(11));
}

#[test]
fn local_browse_resolve_lookup_see_own_registrations_without_wire_traffic() {
    // Config::local_delivery: one engine both registers and browses.
    let mut net = Net::new(27, 1);
    let now = net.now;
    let id = net
        .engine(0)
        .register(now, spec("Local", "_http._tcp", 7000))
        .unwrap();
    let b = net.engine(0).browse(now, "_http._tcp", None).unwrap();
    net.run_for(Duration::from_secs(5));
    let inst = name("Local._http._tcp.local");
    assert!(net.events_of(0).iter().any(|e| matches!(e, Event::BrowseAdded { query, instance, .. } if *query == b && *instance == inst)));
    let now = net.now;
    let r = net.engine(0).resolve(now, &inst, None).unwrap();
    let h = net.engine(0).lookup_host(now, "host0.local", None).unwrap();
    net.run_for(Duration::from_secs(1));
    let ev = net.events_of(0);
    assert!(
        ev.iter()
            .any(|e| matches!(e, Event::Resolved { query, port: 7000, .. } if *query == r))
    );
    assert!(ev.iter().any(|e| matches!(e, Event::AddressAdded { query, addr, .. } if *query == h && *addr == node_addr(0))));
    // Our own queries list our own records as known answers: no responses on the wire.
    let t0 = net.now;
    net.run_for(Duration::from_secs(60));
    assert!(
        !net.sent_by(0)
            .into_iter()
            .any(|s| s.at >= t0 && s.is_response()),
        "own queries answered silently"
    );
    let t1 = net.now;
    net.engine(0).deregister(t1, id).unwrap();
    net.run_for(Duration::from_secs(2));
    assert!(
        net.events_of(0)
            .iter()
            .any(|e| matches!(e, Event::BrowseRemoved { query, .. } if *query == b))
    );
}

#[test]
fn resolve_of_a_cached_service_sends_no_query_until_the_answer_goes() {
    // A browse brings the SRV/TXT/A records in its answers' additionals; resolving then asks
    // nothing (1000 resolves would be thousands of known-answer queries). Once the service's
    // records go away (goodbye), the resolve asks again.
    let mut net = Net::new(24, 2);
    net.loss_permille = 0;
    let id = net
        .engine(0)
        .register(Instant::ZERO, spec("Cached", "_http._tcp", 80))
        .unwrap();
    net.run_for(Duration::from_secs(5));
    let now = net.now;
    net.engine(1).browse(now, "_http._tcp", None).unwrap();
    net.run_for(Duration::from_secs(2));
    let inst = name("Cached._http._tcp.local");
    let t0 = net.now;
    let r = net.engine(1).resolve(t0, &inst, None).unwrap();
    net.run_for(Duration::from_secs(10));
    assert!(
        net.events_of(1)
            .iter()
            .any(|e| matches!(e, Event::Resolved { query, port: 80, .. } if *query == r)),
        "resolved from the cache"
    );
    let asks_srv = |net: &Net, after: Instant| {
        net.sent_by(1)
            .into_iter()
            .filter(|s| !s.is_response() && s.at >= after)
            .filter(|s| {
                s.msg
                    .questions
                    .iter()
                    .any(|q| q.name == inst && q.qtype == RecordType::SRV)
            })
            .count()
    };
    assert_eq!(asks_srv(&net, t0), 0, "no query for a fresh cached answer");
    let t1 = net.now;
    net.engine(0).deregister(t1, id).unwrap();
    net.run_for(Duration::from_secs(5));
    assert!(
        asks_srv(&net, t1) >= 1,
        "asks again once the answer is gone"
    );
}
