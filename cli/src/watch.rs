//! `dnssd watch`: a full-screen table of every service on the network (or of one type), grouped
//! by type, with host, port, addresses and TXT, updated as services come and go. Ends on `q`,
//! `Esc`, Ctrl-C, SIGINT or SIGTERM (or `--timeout`), restoring the terminal.

use std::collections::{BTreeMap, BTreeSet};
use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use dnssd::{Endpoint, EndpointEvent, Error, Instance};
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Row, Table};
use ratatui::{DefaultTerminal, Frame};
use tokio::sync::mpsc;

use crate::all::{Everything, Scope, Seen};
use crate::{Ctx, StopFuture, next};

/// The quickest the screen is redrawn while events pour in.
const REDRAW_EVERY: Duration = Duration::from_millis(100);

/// How often the key reader checks whether it should stop.
const KEY_POLL: Duration = Duration::from_millis(100);

/// Instances grouped by type: `(type, instance name, domain, interface)`, all but the interface
/// folded to lower case, sorts the table.
type RowKey = (String, String, String, u32);

fn row_key(i: &Instance) -> RowKey {
    (
        i.service_type.to_string().to_ascii_lowercase(),
        i.name.as_str().to_lowercase(),
        i.domain.as_str().to_ascii_lowercase(),
        i.interface.index(),
    )
}

/// What the screen shows.
#[derive(Debug, Default)]
pub struct Board {
    /// Types the network advertises (enumeration), by lower-case name, with their spelling.
    types: BTreeMap<String, String>,
    /// Ready-to-connect endpoints.
    rows: BTreeMap<RowKey, Endpoint>,
    /// The backend in use.
    backend: &'static str,
    /// A problem the command survives (the daemon went away).
    warning: Option<String>,
    /// First row shown (scrolling).
    offset: usize,
}

impl Board {
    fn new(backend: &'static str) -> Self {
        Board {
            backend,
            ..Board::default()
        }
    }

    fn apply(&mut self, seen: Seen) {
        self.warning = None;
        match seen {
            Seen::Type(t, true) => {
                self.types
                    .insert(t.to_string().to_ascii_lowercase(), t.to_string());
            }
            Seen::Type(t, false) => {
                self.types.remove(&t.to_string().to_ascii_lowercase());
            }
            Seen::Endpoint(EndpointEvent::Up(e) | EndpointEvent::Changed(e)) => {
                self.rows.insert(row_key(&e.instance), e);
            }
            Seen::Endpoint(EndpointEvent::Down(e)) => {
                self.rows.remove(&row_key(&e.instance));
            }
            // An event kind this program does not know yet.
            Seen::Endpoint(_) => {}
        }
    }

    /// The table's lines: a heading per type (also for a type whose instances are not resolved
    /// yet), then its instances.
    fn lines(&self) -> Vec<Row<'static>> {
        let mut headings = self.types.clone();
        for e in self.rows.values() {
            let t = e.instance.service_type.to_string();
            headings.entry(t.to_ascii_lowercase()).or_insert(t);
        }
        let mut out = Vec::new();
        for (key, spelled) in &headings {
            let instances: Vec<&Endpoint> = self
                .rows
                .iter()
                .filter(|((t, ..), _)| t == key)
                .map(|(_, e)| e)
                .collect();
            let count = match instances.len() {
                0 => "resolving...".to_owned(),
                1 => "1 instance".to_owned(),
                n => format!("{n} instances"),
            };
            out.push(
                Row::new(vec![spelled.clone(), count])
                    .style(Style::default().add_modifier(Modifier::BOLD)),
            );
            for e in instances {
                let addresses: Vec<String> =
                    e.addresses.iter().map(|a| a.ip().to_string()).collect();
                out.push(Row::new(vec![
                    format!("  {}", e.instance.name),
                    format!("{}:{}", e.host_target, e.port),
                    addresses.join(", "),
                    e.txt.to_string(),
                ]));
            }
        }
        out
    }

    fn draw(&self, frame: &mut Frame<'_>) {
        let [title, body, status] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Min(1),
            Constraint::Length(1),
        ])
        .areas(frame.area());
        let services = self.rows.len();
        let types = self.type_count();
        frame.render_widget(
            Paragraph::new(Line::from(format!(
                "dnssd watch: {services} service{} of {} type{} ({} backend)",
                if services == 1 { "" } else { "s" },
                types,
                if types == 1 { "" } else { "s" },
                self.backend
            )))
            .style(Style::default().add_modifier(Modifier::REVERSED)),
            title,
        );
        let lines = self.lines();
        if lines.is_empty() {
            frame.render_widget(Paragraph::new("Waiting for services..."), body);
        } else {
            let shown: Vec<Row<'static>> = lines.into_iter().skip(self.offset).collect();
            let table = Table::new(
                shown,
                [
                    Constraint::Percentage(25),
                    Constraint::Percentage(25),
                    Constraint::Percentage(25),
                    Constraint::Percentage(25),
                ],
            )
            .header(
                Row::new(vec!["Type / Instance", "Host:Port", "Addresses", "TXT"])
                    .style(Style::default().add_modifier(Modifier::UNDERLINED)),
            );
            frame.render_widget(table, body);
        }
        let help = "q: quit  Up/Down/PgUp/PgDn: scroll";
        let status_text = match &self.warning {
            Some(w) => format!("{w}   {help}"),
            None => help.to_owned(),
        };
        frame.render_widget(Paragraph::new(status_text), status);
    }

    /// Types advertised or with an instance shown.
    fn type_count(&self) -> usize {
        let mut all: BTreeSet<&str> = self.types.keys().map(String::as_str).collect();
        all.extend(self.rows.keys().map(|(t, ..)| t.as_str()));
        all.len()
    }

    fn scroll(&mut self, by: isize) {
        let last = self.lines().len().saturating_sub(1);
        self.offset = self.offset.saturating_add_signed(by).min(last);
    }
}

/// What a key press asks for.
enum Key {
    Quit,
    Scroll(isize),
    Redraw,
}

/// Reads the terminal's keys on a thread (crossterm's reader blocks) until `stop` is set.
fn read_keys(tx: mpsc::UnboundedSender<Key>, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::Relaxed) {
        match event::poll(KEY_POLL) {
            Ok(false) => continue,
            Ok(true) => {}
            Err(_) => return,
        }
        let key = match event::read() {
            Ok(Event::Key(k)) if k.kind != KeyEventKind::Release => match k.code {
                KeyCode::Char('q' | 'Q') | KeyCode::Esc => Key::Quit,
                KeyCode::Char('c') if k.modifiers.contains(KeyModifiers::CONTROL) => Key::Quit,
                KeyCode::Up | KeyCode::Char('k') => Key::Scroll(-1),
                KeyCode::Down | KeyCode::Char('j') => Key::Scroll(1),
                KeyCode::PageUp => Key::Scroll(-20),
                KeyCode::PageDown => Key::Scroll(20),
                _ => continue,
            },
            Ok(Event::Resize(..)) => Key::Redraw,
            Ok(_) => continue,
            Err(_) => return,
        };
        if tx.send(key).is_err() {
            return;
        }
    }
}

/// The terminal in full-screen raw mode; restored when dropped, whichever way `watch` ends.
struct Screen(DefaultTerminal);

impl Drop for Screen {
    fn drop(&mut self) {
        ratatui::restore();
    }
}

/// Runs the live table until a quit key, a signal, the timeout or a fatal error.
pub async fn watch(cx: &Ctx, scope: Scope, stop: StopFuture) -> Result<(), Error> {
    if cx.out.json {
        return Err(crate::usage_error(
            "watch draws a table; for JSON lines use `browse --all --json`",
        ));
    }
    if !std::io::stdout().is_terminal() {
        return Err(crate::usage_error(
            "watch needs a terminal; `browse --all` prints the same as lines",
        ));
    }
    let mut stream = Everything::start(&cx.sd, scope, cx.interface)?;
    let mut board = Board::new(crate::backend_name(cx.sd.backend()));
    let mut screen = Screen(ratatui::try_init().map_err(Error::Io)?);
    let (key_tx, mut keys) = mpsc::unbounded_channel();
    let key_stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let key_stop = Arc::clone(&key_stop);
        std::thread::spawn(move || read_keys(key_tx, key_stop))
    };
    let mut stop = stop;
    let mut got_item = false;
    let mut dirty = true;
    let mut next_draw = tokio::time::Instant::now();
    let result = loop {
        if dirty && tokio::time::Instant::now() >= next_draw {
            if let Err(e) = screen.0.draw(|frame| board.draw(frame)) {
                break Err(Error::Io(e));
            }
            dirty = false;
            next_draw = tokio::time::Instant::now() + REDRAW_EVERY;
        }
        tokio::select! {
            _ = &mut stop => break Ok(()),
            key = keys.recv() => match key {
                Some(Key::Quit) | None => break Ok(()),
                Some(Key::Scroll(by)) => {
                    board.scroll(by);
                    dirty = true;
                }
                Some(Key::Redraw) => {
                    // The next draw repaints everything at the new size.
                    let _ = screen.0.autoresize();
                    dirty = true;
                }
            },
            item = next(&mut stream) => match item {
                Some(Ok(seen)) => {
                    got_item = true;
                    board.apply(seen);
                    dirty = true;
                }
                Some(Err(e @ Error::DaemonNotRunning)) if got_item => {
                    board.warning = Some(format!("{e}; waiting for it to come back"));
                    dirty = true;
                }
                Some(Err(e @ Error::Lagged { .. })) => {
                    board.warning = Some(e.to_string());
                    dirty = true;
                }
                Some(Err(e)) => break Err(e),
                None => break Ok(()),
            },
            () = tokio::time::sleep_until(next_draw), if dirty => {}
        }
    };
    key_stop.store(true, Ordering::Relaxed);
    drop(screen);
    let _ = reader.join();
    result
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;
    use dnssd::ServiceType;
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    /// An endpoint as the library would report it (its fields are not all public: built
    /// from its serde form).
    fn endpoint(name: &str, t: &str, port: u16) -> Endpoint {
        serde_json::from_value(serde_json::json!({
            "instance": {"name": name, "service_type": t, "domain": "local.", "interface": 2},
            "host_target": "h2.local.",
            "addresses": [format!("10.77.0.2:{port}")],
            "port": port,
            "txt": {"path": "/x"},
            "interface": 2,
            "own": false,
        }))
        .unwrap()
    }

    fn screen(board: &Board) -> String {
        let mut terminal = Terminal::new(TestBackend::new(120, 12)).unwrap();
        terminal.draw(|f| board.draw(f)).unwrap();
        let buffer = terminal.backend().buffer().clone();
        let mut text = String::new();
        for y in 0..buffer.area.height {
            for x in 0..buffer.area.width {
                text.push_str(buffer[(x, y)].symbol());
            }
            text.push('\n');
        }
        text
    }

    #[test]
    fn groups_by_type_and_drops_what_went_down() {
        let mut board = Board::new("embedded");
        assert!(screen(&board).contains("Waiting for services"));
        board.apply(Seen::Endpoint(EndpointEvent::Up(endpoint(
            "Web B",
            "_http._tcp",
            80,
        ))));
        board.apply(Seen::Endpoint(EndpointEvent::Up(endpoint(
            "Printer",
            "_ipp._tcp",
            631,
        ))));
        board.apply(Seen::Endpoint(EndpointEvent::Up(endpoint(
            "Web A",
            "_http._tcp",
            8080,
        ))));
        let text = screen(&board);
        assert!(
            text.contains("3 services of 2 types (embedded backend)"),
            "{text}"
        );
        let pos = |s: &str| {
            text.find(s)
                .unwrap_or_else(|| panic!("{s} missing:\n{text}"))
        };
        assert!(pos("_http._tcp") < pos("Web A"));
        assert!(pos("Web A") < pos("Web B"));
        assert!(pos("Web B") < pos("_ipp._tcp"));
        assert!(pos("_ipp._tcp") < pos("Printer"));
        assert!(text.contains("h2.local.:631"), "{text}");
        assert!(text.contains("10.77.0.2"), "{text}");
        assert!(text.contains("path=/x"), "{text}");

        let gone = endpoint("Web B", "_http._tcp", 80);
        board.apply(Seen::Endpoint(EndpointEvent::Down(gone)));
        let text = screen(&board);
        assert!(!text.contains("Web B"), "{text}");
        assert!(text.contains("Web A"), "{text}");

        // A type that is no longer advertised still shows while an instance of it is up.
        board.apply(Seen::Type(ServiceType::new("_ipp._tcp").unwrap(), false));
        assert!(screen(&board).contains("Printer"));
        let printer = endpoint("Printer", "_ipp._tcp", 631);
        board.apply(Seen::Endpoint(EndpointEvent::Down(printer)));
        board.apply(Seen::Type(ServiceType::new("_ssh._tcp").unwrap(), true));
        let text = screen(&board);
        assert!(!text.contains("_ipp._tcp"), "{text}");
        assert!(text.contains("_ssh._tcp"), "{text}");
        assert!(text.contains("resolving..."), "{text}");
    }
}
