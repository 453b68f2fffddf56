//! The one ordered trace of a run: every machine's [`TraceEvent`] stamped with time and host.
//!
//! Recording is a push of a small enum; rendering to text (for `--trace`, insta snapshots and
//! the hash) happens once, after the run. The trace is bounded: past [`TRACE_EVENTS_MAX`] events
//! recording stops and the trace says it was truncated (an oracle fails the run: a bug report
//! must be replayable in full).

use ixsim_core::ids::SimTime;
use ixsim_core::marks::MarkCounts;
use ixsim_core::trace::{TraceEvent, TraceTime};
use sha2::{Digest, Sha256};
use std::fmt::Write as _;

pub const TRACE_EVENTS_MAX: usize = 4_000_000;

#[derive(Clone, PartialEq, Eq, Debug)]
pub struct TraceEntry {
    pub at: SimTime,
    pub host: u16,
    pub event: TraceEvent,
}

#[derive(Clone, Debug, Default)]
pub struct Trace {
    pub hosts: Vec<String>,
    pub entries: Vec<TraceEntry>,
    pub truncated: bool,
    /// The coverage marks the run's machines reached ([`ixsim_core::marks`]), counted beside
    /// the entries: never rendered nor hashed, so marks change no trace hash.
    pub marks: MarkCounts,
}

impl Trace {
    pub fn new(hosts: Vec<String>) -> Self {
        Trace {
            hosts,
            entries: Vec::new(),
            truncated: false,
            marks: MarkCounts::default(),
        }
    }

    pub fn push(&mut self, at: SimTime, host: u16, event: TraceEvent) {
        if self.entries.len() >= TRACE_EVENTS_MAX {
            self.truncated = true;
            return;
        }
        self.entries.push(TraceEntry { at, host, event });
    }

    pub fn host_name(&self, host: u16) -> &str {
        self.hosts
            .get(host as usize)
            .map(String::as_str)
            .unwrap_or("?")
    }

    fn render_entry(&self, entry: &TraceEntry, line: &mut String) {
        line.clear();
        let _ = write!(
            line,
            "{} {:<8} {}",
            TraceTime(entry.at),
            self.host_name(entry.host),
            entry.event
        );
    }

    /// The whole trace as text, one event per line.
    pub fn render(&self) -> String {
        let mut text = String::new();
        let mut line = String::new();
        for entry in &self.entries {
            self.render_entry(entry, &mut line);
            text.push_str(&line);
            text.push('\n');
        }
        if self.truncated {
            text.push_str("(trace truncated)\n");
        }
        text
    }

    /// The trace as JSON (`ixsim run --trace --json`): one object per event,
    /// `{"t_ms": 1200, "host": "is1", "event": "submitted", ...its fields}`, in trace order,
    /// and a last `{"event": "truncated"}` when recording stopped at [`TRACE_EVENTS_MAX`].
    pub fn to_json(&self) -> serde_json::Value {
        #[derive(serde::Serialize)]
        struct Entry<'a> {
            t_ms: SimTime,
            host: &'a str,
            #[serde(flatten)]
            event: &'a TraceEvent,
        }
        let mut events: Vec<serde_json::Value> = self
            .entries
            .iter()
            .map(|entry| {
                let shown = Entry {
                    t_ms: entry.at,
                    host: self.host_name(entry.host),
                    event: &entry.event,
                };
                serde_json::to_value(shown)
                    .unwrap_or_else(|error| serde_json::json!({ "error": error.to_string() }))
            })
            .collect();
        if self.truncated {
            events.push(serde_json::json!({ "event": "truncated" }));
        }
        serde_json::Value::Array(events)
    }

    /// SHA-256 of the rendered text, first 16 hex digits.
    pub fn hash(&self) -> String {
        let mut hasher = Sha256::new();
        let mut line = String::new();
        for entry in &self.entries {
            self.render_entry(entry, &mut line);
            line.push('\n');
            hasher.update(line.as_bytes());
        }
        if self.truncated {
            hasher.update(b"(trace truncated)\n");
        }
        let digest = hasher.finalize();
        let mut hex = String::with_capacity(16);
        for byte in digest.iter().take(8) {
            let _ = write!(hex, "{byte:02x}");
        }
        hex
    }
}
