//! Coverage marks: "sometimes" assertions, after TigerBeetle's marks and Antithesis's
//! `sometimes`. A [`Mark`] names an interesting place in a machine: a rare path that a bug
//! likes to hide in (a detach racing the association's user-data update, a pull held until it
//! expires, work resubmitted after a URS died). A machine reaching one pushes
//! [`Output::Mark`](crate::machine::Output::Mark); the host shell counts it for the run
//! (outside the trace, so marks change no trace hash). A sweep reports which marks its seeds
//! reached, and a scenario lists the marks its sweeps must reach: an oracle that never sees
//! the path it judges proves nothing, and a mark that no seed reaches says so.
//!
//! Adding one: a variant in [`marks!`] below with its name, the SPEC tag of the rule it
//! exercises and what reaching it means; then `mark(Mark::X, out)` at the place.

use crate::machine::Output;

macro_rules! marks {
    ($($(#[doc = $doc:literal])* $variant:ident = $name:literal, $tag:literal;)*) => {
        /// A place in a machine worth reaching (see the module doc).
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
        pub enum Mark {
            $($(#[doc = $doc])* $variant,)*
        }

        impl Mark {
            /// Every mark, in declaration order.
            pub const ALL: &'static [Mark] = &[$(Mark::$variant,)*];

            /// The stable name scenarios and sweep reports use.
            pub fn name(self) -> &'static str {
                match self {
                    $(Mark::$variant => $name,)*
                }
            }

            /// The SPEC tag of the rule whose path this is.
            pub fn tag(self) -> &'static str {
                match self {
                    $(Mark::$variant => $tag,)*
                }
            }

            /// What reaching it means (its doc comment).
            pub fn doc(self) -> &'static str {
                match self {
                    $(Mark::$variant => concat!($($doc),*),)*
                }
            }
        }
    };
}

marks! {
    /// A pull that found nothing to return was held [S-IS-hold].
    IsPullHeld = "is-pull-held", "S-IS-hold";
    /// A held pull ran out its hold and was answered empty [S-IS-hold].
    IsPullHoldExpired = "is-pull-hold-expired", "S-IS-hold";
    /// A held pull was answered with an interaction that became pullable during the hold.
    IsHeldPullServed = "is-held-pull-served", "S-IS-hold";
    /// A client that went away owning interactions stayed away for the grace period; they
    /// returned to their queues [S-IS-owner].
    IsOwnerGraceReleased = "is-owner-grace-released", "S-IS-owner";
    /// A client came back under its name within its grace period and kept what it owned.
    IsOwnerBackInGrace = "is-owner-back-in-grace", "S-IS-owner";
    /// A URS went away holding interactions; they go back for another URS at once [S-URS-rr].
    IsUrsWorkResubmitted = "is-urs-work-resubmitted", "S-URS-rr";
    /// An agent let an invite run out [S-IS-deliver].
    IsInviteTimedOut = "is-invite-timed-out", "S-IS-deliver";
    /// A delivery was refused: the agent was at capacity or its room reserved for another
    /// interaction [S-URS-select].
    IsDeliverAgentFull = "is-deliver-agent-full", "S-URS-select";
    /// A reservation was refused: the agent had no room left [S-URS-select].
    IsReserveRefused = "is-reserve-refused", "S-URS-select";
    /// A login was refused for want of a seat [S-LIC-checkout].
    IsLoginNoSeat = "is-login-no-seat", "S-LIC-checkout";
    /// Lowered seats logged agents out [S-LIC-shrink].
    IsSeatsShrunk = "is-seats-shrunk", "S-LIC-shrink";
    /// A snapshot answer was cut at `max-interactions-per-snapshot` [S-IS-snapshot].
    IsSnapshotCapped = "is-snapshot-capped", "S-IS-snapshot";
    /// A find's answer was cut at the `max` the client asked for: the node held more matches
    /// [S-PX-merge].
    IsFindCapped = "is-find-capped", "S-PX-merge";
    /// A (re)started or promoted node loaded interactions still owned by a client
    /// [S-IS-durable].
    IsLoadedOwned = "is-loaded-owned", "S-IS-durable";
    /// A pair member's write was refused by the fence: a newer primary holds the database
    /// [S-OPS-switchover].
    HaWriteFenced = "ha-write-fenced", "S-OPS-switchover";
    /// The supervisor declared a primary lost (silent past the heartbeat timeout, or its
    /// connection closed) and promotes the backup if it is alive [S-OPS-switchover].
    SupervisorFailover = "supervisor-failover", "S-OPS-switchover";
    /// A primary stepped down on the supervisor's order (a manual switchover, or a
    /// `rolling-upgrade` step) and the backup is promoted [S-OPS-switchover].
    SupervisorSwitchover = "supervisor-switchover", "S-OPS-switchover";
    /// A request about an interaction whose node the proxy's cache did not name was looked up
    /// on every node, as everything is by a restarted proxy [S-PX-cache].
    ProxyCacheMissLookup = "proxy-cache-miss-lookup", "S-PX-cache";
    /// A broadcast lookup found the interaction nowhere while some node did not answer: 2003
    /// [S-PX-2003].
    ProxyLookupUnanswered = "proxy-lookup-unanswered", "S-PX-2003";
    /// A request went to its cached owner node while another node was down [S-PX-2003].
    ProxyCachedOwnerNodeDown = "proxy-cached-owner-node-down", "S-PX-2003";
    /// Two nodes answered a lookup for one interaction id: 2005 [S-PX-2005].
    ProxyDuplicateAcrossNodes = "proxy-duplicate-across-nodes", "S-PX-2005";
    /// A request was answered 2002: a node it went to was lost [S-PX-2002].
    ProxyConnectionLost = "proxy-connection-lost", "S-PX-2002";
    /// A node answered a pull after the proxy had given up on it; the proxy put the items back.
    ProxyLatePullReturned = "proxy-late-pull-returned", "S-PX-pull";
    /// A node listed a re-registered client's interactions that the proxy was putting back in
    /// their queues; the proxy kept them from the client.
    ProxyRelistReturned = "proxy-relist-returned", "S-PX-pull";
    /// A submit of a disabled media type was refused [S-PX-disabled].
    ProxyDisabledMedia = "proxy-disabled-media", "S-PX-disabled";
    /// A submit had fewer nodes to go to than its tenant has: a node's `media-types` left
    /// some out [S-PX-route].
    ProxySubmitNarrowed = "proxy-submit-narrowed", "S-PX-route";
    /// An agent request through the proxy was acknowledged by more than one node [S-PX-agent].
    ProxyAgentFannedOut = "proxy-agent-fanned-out", "S-PX-agent";
    /// A login one node refused was revoked on a node that had taken it [S-LIC-revoke].
    ProxyLoginRevoked = "proxy-login-revoked", "S-LIC-revoke";
    /// A find through the proxy was answered with the items of more than one node
    /// [S-PX-merge].
    ProxyFindMerged = "proxy-find-merged", "S-PX-merge";
    /// A node (re)connected to a proxy with agents logged in; the proxy logged them in there
    /// again [S-PX-agent].
    ProxyAgentsReplayed = "proxy-agents-replayed", "S-PX-agent";
    /// `<detach>` came before the association's user-data update was confirmed and failed
    /// [S-ORS-detach].
    OrsDetachRefused = "ors-detach-refused", "S-ORS-detach";
    /// A session attached an interaction again [S-ORS-detach].
    OrsReattached = "ors-reattached", "S-ORS-detach";
    /// A promoted ORS recovered a persisted session [S-ORS-ha].
    OrsSessionRecovered = "ors-session-recovered", "S-ORS-ha";
    /// A pulled interaction already associated with a live session went to that session
    /// [S-ORS-session].
    OrsToExistingSession = "ors-to-existing-session", "S-ORS-session";
    /// A session could not be created; the interaction went to `mcr-queue-on-fails`
    /// [S-ORS-fail].
    OrsQueuedOnFail = "ors-queued-on-fail", "S-ORS-fail";
    /// A session left with no interaction ended after `ixnfm-idle-session-ttl` [S-ORS-fail].
    OrsIdleSessionEnded = "ors-idle-session-ended", "S-ORS-fail";
    /// A URS found no available agent within a submit's timeout [S-URS-select].
    UrsNoTarget = "urs-no-target", "S-URS-select";
    /// The license server granted fewer seats than asked: the pool ran short [S-LIC-checkout].
    LicenseShortGrant = "license-short-grant", "S-LIC-checkout";
    /// The media server submitted an interaction again after an unanswered try [S-IS-durable].
    MediaSubmitRetried = "media-submit-retried", "S-IS-durable";
    /// An agent desktop lost its connection while handling interactions: they stay its own
    /// for the grace period and return to their queues after it [S-IS-owner].
    AgentDisconnectedHandling = "agent-disconnected-handling", "S-IS-owner";
}

impl Mark {
    /// The mark named `name`.
    pub fn from_name(name: &str) -> Option<Mark> {
        Mark::ALL.iter().copied().find(|mark| mark.name() == name)
    }
}

/// Records that the machine reached `mark`.
pub fn mark(mark: Mark, out: &mut Vec<Output>) {
    out.push(Output::Mark(mark));
}

/// How often a run reached each mark.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MarkCounts {
    counts: Vec<u64>,
}

impl Default for MarkCounts {
    fn default() -> Self {
        MarkCounts {
            counts: vec![0; Mark::ALL.len()],
        }
    }
}

impl MarkCounts {
    pub fn hit(&mut self, mark: Mark) {
        let slot = &mut self.counts[mark as usize];
        *slot = slot.saturating_add(1);
    }

    pub fn get(&self, mark: Mark) -> u64 {
        self.counts[mark as usize]
    }

    /// The marks reached at least once, with their counts, in declaration order.
    pub fn reached(&self) -> impl Iterator<Item = (Mark, u64)> + '_ {
        Mark::ALL
            .iter()
            .map(|mark| (*mark, self.get(*mark)))
            .filter(|(_, count)| *count > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_round_trip() {
        for (index, mark) in Mark::ALL.iter().enumerate() {
            assert_eq!(*mark as usize, index, "ALL is in declaration order");
            assert_eq!(Mark::from_name(mark.name()), Some(*mark));
            assert!(mark.tag().starts_with("S-"), "{mark:?} names a SPEC tag");
        }
        assert_eq!(Mark::from_name("no-such-mark"), None);
    }

    #[test]
    fn counts_what_was_hit() {
        let mut counts = MarkCounts::default();
        counts.hit(Mark::IsPullHeld);
        counts.hit(Mark::IsPullHeld);
        counts.hit(Mark::UrsNoTarget);
        let reached: Vec<_> = counts.reached().collect();
        assert_eq!(reached, vec![(Mark::IsPullHeld, 2), (Mark::UrsNoTarget, 1)]);
    }
}
