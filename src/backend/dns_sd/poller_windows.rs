//! Windows stand-in for tokio's `AsyncFd` (which exists only on Unix) for the refs' sockets.
//!
//! One dedicated thread per process waits with `WSAPoll` on every socket a task is waiting
//! for, plus a loopback UDP socket used to interrupt it; when a socket becomes readable it
//! wakes the tasks waiting on it and forgets them (one-shot, like an edge: a task that still
//! has nothing to read registers again). [`AsyncFd::poll_read_ready`] first asks a
//! zero-timeout `WSAPoll` whether the socket is readable now, so readiness never depends on
//! the thread's timing.
//!
//! Drop semantics match `AsyncFd`'s: [`AsyncFd::into_inner`] and drop first deregister the
//! socket and wait until the thread has rebuilt its poll set without it (a short handshake
//! through the interrupt socket), so the library can close the socket afterwards while the
//! thread is never left waiting on a closed (or reused) handle. The inner value is dropped (or
//! returned) only after that.
//!
//! The sockets stay in the library's blocking mode: nothing here reads them.

use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, UdpSocket};
use std::os::windows::io::AsRawSocket;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use windows_sys::Win32::Networking::WinSock as ws;

/// Longest single wait of the thread (it is interrupted for every change anyway).
const MAX_WAIT: Duration = Duration::from_secs(1);
/// Longest wait of a deregistration for the thread's acknowledgement.
const HANDSHAKE_LIMIT: Duration = Duration::from_secs(2);
/// Bits of `revents` that mean "a read would not block" (data, end, or an error to report).
const READY_BITS: i16 = ws::POLLRDNORM | ws::POLLHUP | ws::POLLERR | ws::POLLNVAL;

/// A value that names one socket to wait on.
pub(crate) trait PollSocket {
    /// The socket (valid as long as the value lives).
    fn poll_socket(&self) -> ws::SOCKET;
}

impl<T: PollSocket> PollSocket for std::sync::Arc<T> {
    fn poll_socket(&self) -> ws::SOCKET {
        T::poll_socket(self)
    }
}

/// Whether a read on `socket` would not block now (zero-timeout `WSAPoll`).
pub(crate) fn readable_now(socket: ws::SOCKET) -> bool {
    let mut fd = ws::WSAPOLLFD {
        fd: socket,
        events: ws::POLLRDNORM,
        revents: 0,
    };
    // SAFETY: `fd` is one valid WSAPOLLFD for the duration of the call.
    let n = unsafe { ws::WSAPoll(&mut fd, 1, 0) };
    n > 0 && fd.revents & READY_BITS != 0
}

/// A value whose socket the poller thread watches on demand; the `AsyncFd` API subset the
/// system backend uses.
pub(crate) struct AsyncFd<T: PollSocket> {
    /// `Some` until `into_inner` or drop takes it (after deregistering).
    inner: Option<T>,
    socket: ws::SOCKET,
    id: u64,
    poller: Arc<Poller>,
}

impl<T: PollSocket> std::fmt::Debug for AsyncFd<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncFd")
            .field("socket", &self.socket)
            .finish_non_exhaustive()
    }
}

/// Readiness proof from [`AsyncFd::poll_read_ready`].
#[derive(Debug)]
pub(crate) struct ReadyGuard(());

impl ReadyGuard {
    /// Nothing to clear: readiness is asked afresh on every poll.
    pub(crate) fn clear_ready(&mut self) {}
}

impl<T: PollSocket> AsyncFd<T> {
    /// Starts the poller thread if needed. On failure the value comes back with the error.
    pub(crate) fn new(inner: T) -> Result<Self, (T, io::Error)> {
        let poller = match Poller::get() {
            Ok(p) => p,
            Err(e) => return Err((inner, e)),
        };
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        Ok(AsyncFd {
            socket: inner.poll_socket(),
            inner: Some(inner),
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            poller,
        })
    }

    /// The value.
    pub(crate) fn get_ref(&self) -> &T {
        match &self.inner {
            Some(inner) => inner,
            // `inner` is only taken by `into_inner` (which consumes self) and `drop`.
            None => unreachable!("AsyncFd used after its value was taken"),
        }
    }

    /// Stops watching and hands the value back (the poller no longer waits on its socket).
    pub(crate) fn into_inner(mut self) -> T {
        self.poller.deregister(self.id);
        match self.inner.take() {
            Some(inner) => inner,
            None => unreachable!("AsyncFd value taken twice"),
        }
    }

    /// Waits until a read would not block (tokio's `AsyncFd::readable`).
    pub(crate) async fn readable(&self) -> io::Result<ReadyGuard> {
        std::future::poll_fn(|cx| self.poll_read_ready(cx)).await
    }

    /// `Ready` when a read would not block now; otherwise the task is woken when it would.
    pub(crate) fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<ReadyGuard>> {
        if readable_now(self.socket) {
            return Poll::Ready(Ok(ReadyGuard(())));
        }
        self.poller
            .register(self.id, self.socket, cx.waker().clone());
        Poll::Pending
    }
}

impl<T: PollSocket> Drop for AsyncFd<T> {
    fn drop(&mut self) {
        if self.inner.is_some() {
            self.poller.deregister(self.id);
        }
    }
}

#[derive(Default)]
struct State {
    /// Waiting tasks by registration id.
    waiting: HashMap<u64, (ws::SOCKET, Waker)>,
    /// Bumped by every deregistration.
    generation: u64,
    /// The generation the thread's current poll set reflects.
    acknowledged: u64,
}

struct Poller {
    state: Mutex<State>,
    acknowledged: Condvar,
    /// The thread's interrupt socket (bound to 127.0.0.1, sends to itself).
    interrupt: UdpSocket,
}

impl Poller {
    fn get() -> io::Result<Arc<Poller>> {
        static POLLER: OnceLock<Arc<Poller>> = OnceLock::new();
        static STARTING: Mutex<()> = Mutex::new(());
        if let Some(p) = POLLER.get() {
            return Ok(Arc::clone(p));
        }
        let _starting = STARTING.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(p) = POLLER.get() {
            return Ok(Arc::clone(p));
        }
        let interrupt = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))?;
        interrupt.connect(interrupt.local_addr()?)?;
        interrupt.set_nonblocking(true)?;
        let poller = Arc::new(Poller {
            state: Mutex::new(State::default()),
            acknowledged: Condvar::new(),
            interrupt,
        });
        let thread_poller = Arc::clone(&poller);
        std::thread::Builder::new()
            .name("dnssd-poller".into())
            .spawn(move || thread_poller.run())?;
        Ok(Arc::clone(POLLER.get_or_init(|| poller)))
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn interrupt(&self) {
        // A full buffer already holds an interruption; nothing else can fail on loopback.
        drop(self.interrupt.send(&[0]));
    }

    fn register(&self, id: u64, socket: ws::SOCKET, waker: Waker) {
        self.lock().waiting.insert(id, (socket, waker));
        self.interrupt();
    }

    /// Forget `id` and wait until the thread polls a set built without it.
    fn deregister(&self, id: u64) {
        let mut state = self.lock();
        state.waiting.remove(&id);
        state.generation += 1;
        let wanted = state.generation;
        self.interrupt();
        let (state, _timeout) = self
            .acknowledged
            .wait_timeout_while(state, HANDSHAKE_LIMIT, |s| s.acknowledged < wanted)
            .unwrap_or_else(PoisonError::into_inner);
        drop(state);
    }

    fn run(&self) {
        let interrupt = self.interrupt.as_raw_socket() as ws::SOCKET;
        let wait_ms = i32::try_from(MAX_WAIT.as_millis()).unwrap_or(1000);
        let mut fds: Vec<ws::WSAPOLLFD> = Vec::new();
        loop {
            {
                let mut state = self.lock();
                fds.clear();
                fds.push(ws::WSAPOLLFD {
                    fd: interrupt,
                    events: ws::POLLRDNORM,
                    revents: 0,
                });
                for (socket, _) in state.waiting.values() {
                    if !fds.iter().any(|f| f.fd == *socket) {
                        fds.push(ws::WSAPOLLFD {
                            fd: *socket,
                            events: ws::POLLRDNORM,
                            revents: 0,
                        });
                    }
                }
                state.acknowledged = state.generation;
            }
            self.acknowledged.notify_all();
            let count = u32::try_from(fds.len()).unwrap_or(u32::MAX);
            // SAFETY: `fds` is a valid array of `count` WSAPOLLFDs for the call's duration.
            let n = unsafe { ws::WSAPoll(fds.as_mut_ptr(), count, wait_ms) };
            let mut buf = [0u8; 16];
            while self.interrupt.recv(&mut buf).is_ok() {}
            let ready: Vec<ws::SOCKET> = if n < 0 {
                // The set is bad (a socket went away despite the handshake): wake everyone
                // so each task asks its own socket, and do not spin.
                std::thread::sleep(Duration::from_millis(10));
                fds.iter().skip(1).map(|f| f.fd).collect()
            } else {
                fds.iter()
                    .skip(1)
                    .filter(|f| f.revents & READY_BITS != 0)
                    .map(|f| f.fd)
                    .collect()
            };
            if ready.is_empty() {
                continue;
            }
            let mut wake = Vec::new();
            {
                let mut state = self.lock();
                state.waiting.retain(|_, (socket, waker)| {
                    if ready.contains(socket) {
                        wake.push(waker.clone());
                        false
                    } else {
                        true
                    }
                });
            }
            for waker in wake {
                waker.wake();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Udp(UdpSocket);

    impl PollSocket for Udp {
        fn poll_socket(&self) -> ws::SOCKET {
            self.0.as_raw_socket() as ws::SOCKET
        }
    }

    #[tokio::test]
    async fn wakes_when_a_datagram_arrives_and_deregisters_on_drop() {
        let receiver = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let address = receiver.local_addr().unwrap();
        let fd = AsyncFd::new(Udp(receiver)).map_err(|(_, e)| e).unwrap();
        let waiting = std::future::poll_fn(|cx| fd.poll_read_ready(cx).map(|r| r.map(|_| ())));
        let sender = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let send = async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            sender.send_to(b"x", address).unwrap();
        };
        let (ready, ()) = tokio::time::timeout(Duration::from_secs(5), async {
            tokio::join!(waiting, send)
        })
        .await
        .expect("woken within 5 s");
        ready.unwrap();
        let Udp(receiver) = fd.into_inner();
        let mut buf = [0u8; 4];
        assert_eq!(receiver.recv(&mut buf).unwrap(), 1);
        assert!(!readable_now(receiver.as_raw_socket() as ws::SOCKET));
    }
}
