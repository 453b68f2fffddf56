//! Identifiers shared by every participant.
//!
//! Interaction ids are cluster-wide unique: an IS node generates them from its node index and a
//! durable sequence ([S-IS-submit]); a client may also supply its own (which is how two nodes can
//! end up holding the same id, [S-PX-2005]). Ids are plain integers so that they are cheap to
//! copy, hash-free to order, and render as the fixed-width hex that Genesys uses.

use serde::{Deserialize, Serialize};
use std::fmt;

/// An interaction id. Generated ids put the node index in the top 16 bits.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct IxnId(pub u64);

impl IxnId {
    /// The id a node generates for its `seq`-th interaction.
    pub fn generated(node: u16, seq: u64) -> Self {
        debug_assert!(seq < (1 << 48), "interaction sequence overflow");
        IxnId((u64::from(node) << 48) | (seq & ((1 << 48) - 1)))
    }
}

impl fmt::Display for IxnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016X}", self.0)
    }
}

/// A client-chosen reference id, echoed in the response so it can be matched to its request.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct RefId(pub u32);

/// An agent (employee id in the product; a number here).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct AgentId(pub u32);

impl fmt::Display for AgentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "agent{}", self.0)
    }
}

/// A tenant (configuration DBID in the product).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct TenantId(pub u32);

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "t{}", self.0)
    }
}

/// Simulated time in milliseconds since the start of the run (the sim's fixed epoch).
pub type SimTime = u64;
