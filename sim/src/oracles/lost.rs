//! [S-INV-lost]: every acknowledged interaction is completed (its owner stopped it) or still in
//! a database at the end.

use super::completion::Completion;
use super::{OracleInput, Violation};

pub const LOST: &str = "S-INV-lost";

pub fn lost(input: &OracleInput<'_>) -> Vec<Violation> {
    let Completion {
        acked, completed, ..
    } = Completion::of(input);
    acked
        .keys()
        .filter(|ixn| !completed.contains(ixn))
        .filter(|ixn| {
            !input
                .databases
                .iter()
                .any(|(_, db)| db.interactions.contains_key(ixn))
        })
        .map(|ixn| Violation {
            oracle: LOST,
            at_ms: input.end_ms,
            detail: format!("{ixn} was acknowledged but is neither completed nor in any database"),
        })
        .collect()
}
