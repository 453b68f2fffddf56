//! Pulling and taking interactions [S-ORS-pull]: pulls from the associated queue/views in
//! turn, only with `mcr-pull-by-this-node` and within `mcr-pull-limit`; what the node gives this
//! server (pulled, forwarded by another instance, or listed again after a reconnect) goes to
//! the session that holds it, to the instance whose session holds it (a hand-over, tried again
//! until it settles), or to a new session [S-ORS-session].
//!
//! Must not: pull before the node has listed what this name still owns (it counts against the
//! limit), or start a session for an interaction another instance's session holds.

use super::node::Sent;
use super::{OrsBug, OrsServer, Owned};
use crate::buggify::Site;
use crate::ids::SimTime;
use crate::machine::Output;
use crate::ors::assoc::SessionId;
use crate::protocol::{Event, Field, IxnInfo, Request};
use crate::trace::TraceEvent;

impl OrsServer {
    /// How many more interactions this server may own.
    fn pull_room(&self) -> u32 {
        self.cfg.pull_limit.saturating_sub(self.owned.len() as u32)
    }

    /// Whether [`Self::maybe_pull`] pulls now. Pulls wait for the registration's answer: the
    /// node first lists what this name still owns, which counts against the limit.
    pub(super) fn may_pull(&self) -> bool {
        self.registered && self.cfg.pull_by_this_node && !self.pulling && self.pull_room() > 0
    }

    /// Asks the next queue for as many interactions as there is room for.
    pub(super) fn maybe_pull(&mut self, now: SimTime, out: &mut Vec<Output>) {
        if !self.may_pull() {
            return;
        }
        let room = self.pull_room();
        let count = if room > 1 && self.buggify.fires(Site::OrsPullOne, now, out) {
            1
        } else {
            room
        };
        let Some(queue) = self
            .cfg
            .queues
            .get(self.next_queue % self.cfg.queues.len().max(1))
        else {
            return;
        };
        let request = Request::Pull {
            tenant: Field::Value(self.cfg.tenant),
            queue: queue.queue.clone(),
            view: queue.view.clone(),
            count,
            hold_ms: None,
        };
        self.next_queue += 1;
        self.pulling = true;
        out.push(Output::Trace(TraceEvent::OrsPullAsked {
            count,
            holding: self.owned.len() as u32,
        }));
        let hold = self.cfg.pull_hold_timeout_ms;
        self.send(now, request, Sent::Pull, hold, out);
    }

    /// The node's answer to a pull.
    pub(super) fn on_pulled(&mut self, now: SimTime, event: Event, out: &mut Vec<Output>) {
        self.pulling = false;
        if let Event::TakenFromQueue { items } = event {
            self.on_taken(now, items, false, out);
        }
    }

    /// Interactions this server now owns at the node: pulled, forwarded to it by another
    /// instance, or listed again by the node after a reconnect (those it knew are skipped).
    pub(super) fn on_taken(
        &mut self,
        now: SimTime,
        items: Vec<IxnInfo>,
        forwarded: bool,
        out: &mut Vec<Output>,
    ) {
        let fresh: Vec<IxnInfo> = items
            .into_iter()
            .filter(|item| !self.owned.contains_key(&item.id))
            .collect();
        if fresh.is_empty() {
            return;
        }
        for item in &fresh {
            self.owned.insert(
                item.id,
                Owned {
                    queue: item.queue.clone(),
                    node: item.node,
                    tag: Self::tag_of(item),
                },
            );
        }
        out.push(Output::Trace(TraceEvent::OrsTook {
            ixns: fresh.iter().map(|item| item.id).collect(),
            holding: self.owned.len() as u32,
            pulled: !forwarded,
        }));
        for item in fresh {
            self.take(now, item, out);
        }
        self.drain_events(now, out);
    }

    /// One interaction newly owned: it is not parked any more, and goes on with its recovered
    /// session, its reloaded or remembered one, another instance, or a new session.
    fn take(&mut self, now: SimTime, item: IxnInfo, out: &mut Vec<Output>) {
        let ixn = item.id;
        self.parked.remove(&ixn);
        if self.recovering.remove(&ixn) {
            // Back with its recovered session, which resumes on its own.
            if let Some(session) = self.live_holder_or_detacher(ixn) {
                self.trace(session, ixn, "recovered-owned", out);
                return;
            }
        }
        if self.evicted.remove(&ixn).is_some() && self.assoc.session_of(ixn).is_none() {
            if self.cfg.planted_bug == Some(OrsBug::EvictionLosesInteraction) {
                return;
            }
            self.reload(&item, out);
        }
        let holder = self.holder_by_tag(&item, out);
        self.dispatch(now, item, holder, out);
    }

    /// [S-ORS-session] across the cluster: an interaction associated with a session of
    /// another instance goes to that instance (the node hands it over). One whose tag names
    /// this instance but no live session starts a new one here.
    fn dispatch(
        &mut self,
        now: SimTime,
        item: IxnInfo,
        holder: Option<SessionId>,
        out: &mut Vec<Output>,
    ) {
        let ixn = item.id;
        let elsewhere = if holder.is_none() {
            self.other_instance(&item)
        } else {
            None
        };
        match (holder, elsewhere) {
            (None, Some(instance)) if self.cfg.planted_bug != Some(OrsBug::NoForwarding) => {
                self.forward(now, item, instance, out);
            }
            (Some(session), _) => self.present_again(now, item.queue.as_str(), ixn, session, out),
            (None, _) => self.start_for(now, &item.queue, ixn, out),
        }
    }

    /// Asks the node to hand `info` over to `instance`, whose session it is associated with.
    fn forward(&mut self, now: SimTime, info: IxnInfo, instance: String, out: &mut Vec<Output>) {
        let request = Request::Transfer {
            ixn: Field::Value(info.id),
            to: instance,
        };
        self.send(now, request, Sent::Transfer(info), 0, out);
    }

    /// Hand-overs that did not get through are tried again (registered again).
    pub(super) fn retry_forwarding(&mut self, now: SimTime, out: &mut Vec<Output>) {
        for info in std::mem::take(&mut self.taken_back) {
            if self.owned.contains_key(&info.id) {
                if let Some(instance) = self.other_instance(&info) {
                    self.forward(now, info, instance, out);
                }
            }
        }
    }

    /// The node's answer to a hand-over.
    pub(super) fn on_transferred(
        &mut self,
        now: SimTime,
        info: IxnInfo,
        event: &Event,
        out: &mut Vec<Output>,
    ) {
        if let Event::Ack { .. } = event {
            // The owning instance has it now.
            self.owned.remove(&info.id);
            self.trace(0, info.id, "forwarded", out);
        } else if !self.owned.contains_key(&info.id) {
            // Not this server's after all (lost_control handled it).
        } else if let Event::Error {
            code: crate::protocol::ErrorCode::NotRegistered,
        } = event
        {
            // That instance is gone (its sessions with it): start over here.
            self.start_for(now, &info.queue, info.id, out);
        } else {
            // The proxy could not tell (2002, 2003): perhaps handed over, perhaps not.
            // Asking again settles it: NotOwner if it was.
            self.taken_back.push(info);
        }
    }
}
