//! A proxy's node connections, as its shell traced them: `connected srvN` and `disconnected
//! srvN`, and the proxy's own crash (a restarted proxy starts with no connections). Shared by
//! the proxy oracles that judge a proxy against the connections it really had, not against its
//! own idea of them: [S-PX-2000]/[S-PX-2002]/[S-PX-2003]/[S-PX-2006] (`refusals.rs`),
//! [S-PX-route] (`routing.rs`), [S-PX-pull] (`rotation.rs`), [S-PX-agent] (`agents.rs`) and
//! [S-LIC-revoke] (`revoke.rs`) and [S-PX-2003]'s lookups (`lookups.rs`, which asks whether a
//! link was down at an earlier moment: [`Link::surely_down_at`]). It judges nothing itself.

use super::refusals::ProxyRules;
use ixsim_core::ids::SimTime;
use ixsim_core::trace::TraceEvent;
use std::collections::BTreeMap;

/// Finished down stretches kept per link: a lookup asks about at most a request timeout and a
/// tick ago, so older ones can no longer matter; this bounds the memory of a long run anyway.
const DOWN_STRETCHES_MAX: usize = 64;

/// One proxy's connection to one node.
#[derive(Clone)]
pub(super) struct Link {
    pub(super) up: bool,
    /// When it was last seen down (lost or never made; a connect ends a down stretch, so it
    /// counts as its last moment).
    pub(super) last_down: SimTime,
    /// When it last connected: the connection's start while it is up.
    pub(super) connected_at: SimTime,
    /// Changes on every connect and disconnect, and on a crash of the proxy: the link is up
    /// with the same generation at two moments only if one connection lasted between them.
    pub(super) generation: u64,
    /// Down since this moment, while down (a proxy starts with no connections).
    down_since: Option<SimTime>,
    /// Finished down stretches `(from, until)`, oldest first.
    downs: Vec<(SimTime, SimTime)>,
}

impl Link {
    fn go_down(&mut self, at: SimTime) {
        self.up = false;
        self.last_down = at;
        self.generation += 1;
        if self.down_since.is_none() {
            self.down_since = Some(at);
        }
    }

    fn go_up(&mut self, at: SimTime) {
        // Down until this moment, when it connects (`ors` seed 149: a request the proxy took
        // while a node it had never reached since its restart was down, refused 10 ms after
        // the node connected).
        if !self.up {
            self.last_down = at;
        }
        self.up = true;
        self.connected_at = at;
        self.generation += 1;
        if let Some(from) = self.down_since.take() {
            if self.downs.len() == DOWN_STRETCHES_MAX {
                self.downs.remove(0);
            }
            self.downs.push((from, at));
        }
    }

    /// Was the link down over a stretch strictly around `at`? (A connect or disconnect in that
    /// very millisecond may have come on either side of what happened then.)
    pub(super) fn surely_down_at(&self, at: SimTime) -> bool {
        self.down_since.is_some_and(|from| from < at)
            || self
                .downs
                .iter()
                .any(|(from, until)| *from < at && at < *until)
    }
}

/// One proxy's view of its node connections, by node index (srvN).
pub(super) struct Links {
    pub(super) nodes: Vec<Link>,
}

impl Links {
    /// `nodes` links, none ever up.
    pub(super) fn new(nodes: usize) -> Self {
        let link = Link {
            up: false,
            last_down: 0,
            connected_at: 0,
            generation: 0,
            down_since: Some(0),
            downs: Vec::new(),
        };
        Links {
            nodes: vec![link; nodes],
        }
    }

    /// Every proxy's links (by its trace host), none up yet.
    pub(super) fn of_proxies(rules: &ProxyRules) -> BTreeMap<u16, Links> {
        let nodes = usize::from(rules.nodes);
        rules
            .hosts
            .iter()
            .map(|host| (*host, Links::new(nodes)))
            .collect()
    }

    /// Follows one trace event of the proxy: its shell's `connected srvN` and `disconnected
    /// srvN`, and its process end. Says whether the links changed.
    pub(super) fn observe(&mut self, event: &TraceEvent, at: SimTime) -> bool {
        match event {
            TraceEvent::Connected { peer } | TraceEvent::Disconnected { peer } => {
                let Some(link) = node_index(peer).and_then(|node| self.nodes.get_mut(node)) else {
                    return false;
                };
                if matches!(event, TraceEvent::Connected { .. }) {
                    link.go_up(at);
                } else {
                    link.go_down(at);
                }
                true
            }
            TraceEvent::ProcessKilled => {
                for link in &mut self.nodes {
                    link.go_down(at);
                }
                true
            }
            _ => false,
        }
    }

    /// Is node `node`'s link up? (`false` for a node the proxy does not know.)
    pub(super) fn up(&self, node: usize) -> bool {
        self.nodes.get(node).is_some_and(|link| link.up)
    }

    /// Was any node down at some moment of `[now - window, now]`?
    pub(super) fn any_down_since(&self, now: SimTime, window: SimTime) -> bool {
        let since = now.saturating_sub(window);
        self.nodes
            .iter()
            .any(|link| !link.up || link.last_down >= since)
    }
}

/// The node index of a proxy's peer name `srvN` (and `srvN (corrupt frame)`).
pub(super) fn node_index(peer: &str) -> Option<usize> {
    // The node is the first word: a connection closed on a frame that did not decode is
    // traced `disconnected srv1 (corrupt frame)`, and that link is down like any other.
    peer.split(' ').next()?.strip_prefix("srv")?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [S-PX-2003] and the other proxy oracles: a node connection closed on a corrupt frame is
    /// down, as any other closed one (it was read as no node at all, so the link stayed up).
    #[test]
    fn a_corrupt_frame_disconnect_takes_the_link_down() {
        assert_eq!(node_index("srv1"), Some(1));
        assert_eq!(node_index("srv1 (corrupt frame)"), Some(1));
        assert_eq!(node_index("c3"), None);
        let mut links = Links::new(2);
        let up = TraceEvent::Connected {
            peer: "srv1".into(),
        };
        let corrupt = TraceEvent::Disconnected {
            peer: "srv1 (corrupt frame)".into(),
        };
        assert!(links.observe(&up, 10));
        assert!(links.nodes[1].up);
        assert!(links.observe(&corrupt, 20), "the disconnect is a link fact");
        assert!(!links.nodes[1].up, "srv1 is down after a corrupt frame");
        assert_eq!(links.nodes[1].last_down, 20);
    }
}
