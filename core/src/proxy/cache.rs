//! The proxy's cache of which node holds an interaction [S-PX-route]: filled by what the nodes
//! answer (pulls, acks, lookups), emptied by a stop or a "not found". It is not persisted: a
//! restarted proxy starts with it empty.
//!
//! It grows with the interactions the proxy has seen, so its invariant (every entry names a
//! configured node) is checked as entries go in, not by a walk after every input: the first
//! entry that breaks it is kept for [`Proxy::invariants`](super::Proxy) to report.

use crate::ids::IxnId;
use std::collections::BTreeMap;

#[derive(Clone, Debug)]
pub(super) struct OwnerCache {
    nodes: usize,
    owners: BTreeMap<IxnId, usize>,
    /// The first entry that named a node the proxy does not have [S-INV-machine].
    misplaced: Option<(IxnId, usize)>,
}

impl OwnerCache {
    pub(super) fn new(nodes: usize) -> Self {
        OwnerCache {
            nodes,
            owners: BTreeMap::new(),
            misplaced: None,
        }
    }

    pub(super) fn insert(&mut self, ixn: IxnId, node: usize) {
        if node >= self.nodes && self.misplaced.is_none() {
            self.misplaced = Some((ixn, node));
        }
        self.owners.insert(ixn, node);
    }

    pub(super) fn remove(&mut self, ixn: &IxnId) {
        self.owners.remove(ixn);
    }

    pub(super) fn get(&self, ixn: &IxnId) -> Option<&usize> {
        self.owners.get(ixn)
    }

    pub(super) fn contains_key(&self, ixn: &IxnId) -> bool {
        self.owners.contains_key(ixn)
    }

    /// The first entry ever put in that named a node not configured.
    pub(super) fn misplaced(&self) -> Option<(IxnId, usize)> {
        self.misplaced
    }
}
