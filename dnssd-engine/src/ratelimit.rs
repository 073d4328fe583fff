//! Rate limits: the once-per-second multicast rule (RFC 6762 §6), the 15-conflicts-in-10-s
//! probe limit (§8.1), the 10-updates-per-minute rule (§8.4) and datagram pacing.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use crate::LinkId;
use crate::time::Instant;
use crate::wire::{Name, RData};

/// When each of our records was last multicast on each link. Holds only our own records
/// (the network cannot add entries); capped by `Limits::max_multicast_history` anyway.
#[derive(Debug, Default)]
pub(crate) struct MulticastHistory {
    last: HashMap<(LinkId, Name, RData), Instant>,
    cap: usize,
}

impl MulticastHistory {
    pub fn new(cap: usize) -> MulticastHistory {
        MulticastHistory {
            last: HashMap::new(),
            cap,
        }
    }

    pub fn last(&self, link: LinkId, name: &Name, rdata: &RData) -> Option<Instant> {
        self.last.get(&(link, name.clone(), rdata.clone())).copied()
    }

    pub fn note(&mut self, link: LinkId, name: &Name, rdata: &RData, now: Instant) {
        if self.last.len() >= self.cap.max(1) {
            // Anything older than 1/4 of the longest TTL (4500 s) no longer matters; if the
            // map is still full, drop the oldest.
            let horizon = now - Duration::from_secs(1125);
            self.last.retain(|_, t| *t > horizon);
            if self.last.len() >= self.cap.max(1) {
                if let Some(k) = self
                    .last
                    .iter()
                    .min_by_key(|(_, t)| **t)
                    .map(|(k, _)| k.clone())
                {
                    self.last.remove(&k);
                }
            }
        }
        self.last.insert((link, name.clone(), rdata.clone()), now);
    }

    pub fn forget_link(&mut self, link: LinkId) {
        self.last.retain(|(l, _, _), _| *l != link);
    }
}

/// Sliding-window counter: "at most `max` events in `window`".
#[derive(Debug, Clone)]
pub(crate) struct WindowLimiter {
    times: VecDeque<Instant>,
    max: usize,
    window: Duration,
}

impl WindowLimiter {
    pub fn new(max: usize, window: Duration) -> WindowLimiter {
        WindowLimiter {
            times: VecDeque::with_capacity(max),
            max,
            window,
        }
    }

    /// Records an event.
    pub fn record(&mut self, now: Instant) {
        if self.times.len() >= self.max {
            self.times.pop_front();
        }
        self.times.push_back(now);
    }

    /// True when `max` events happened within the window ending at `now`.
    pub fn saturated(&self, now: Instant) -> bool {
        self.times.len() >= self.max && self.times.front().is_some_and(|t| *t + self.window > now)
    }

    /// Earliest time a new event keeps within the limit.
    pub fn next_allowed(&self, now: Instant) -> Instant {
        if self.times.len() >= self.max {
            if let Some(first) = self.times.front() {
                return now.max(*first + self.window);
            }
        }
        now
    }
}

/// Generic cell rate pacer: `burst` datagrams back to back, then one per `interval`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pacer {
    tat: Instant,
}

impl Pacer {
    pub fn new() -> Pacer {
        Pacer { tat: Instant::ZERO }
    }

    /// Time when the next datagram may leave.
    pub fn next_send(&self, burst: u32, interval: Duration) -> Instant {
        self.tat - interval * burst.saturating_sub(1)
    }

    /// Takes a slot at `now` (call only when `now >= next_send`).
    pub fn take(&mut self, now: Instant, interval: Duration) {
        self.tat = self.tat.max(now) + interval;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_limiter_fifteen_in_ten_seconds() {
        let mut l = WindowLimiter::new(15, Duration::from_secs(10));
        for i in 0..14 {
            l.record(Instant::from_millis(i * 100));
        }
        assert!(!l.saturated(Instant::from_millis(1500)));
        l.record(Instant::from_millis(1500));
        assert!(l.saturated(Instant::from_millis(1500)));
        assert!(!l.saturated(Instant::from_millis(10_001)));
    }

    #[test]
    fn pacer_bursts_then_spaces() {
        let mut p = Pacer::new();
        let iv = Duration::from_millis(5);
        let now = Instant::from_millis(1000);
        for _ in 0..4 {
            assert!(p.next_send(4, iv) <= now);
            p.take(now, iv);
        }
        assert!(p.next_send(4, iv) > now);
        assert_eq!(p.next_send(4, iv), now + iv);
    }
}
