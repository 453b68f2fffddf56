#![no_main]
//! `ors_session`: see `ixsim_model::ors_session`. `IXSIM_PLANTED_BUG=route-without-detach`
//! (or another planted ORS bug's name) fuzzes a server with that bug planted.

use ixsim_model::ors_session::{ors_session_planted, planted_bug_named, OrsBug};
use std::sync::OnceLock;

static BUG: OnceLock<Option<OrsBug>> = OnceLock::new();

fn planted() -> Option<OrsBug> {
    *BUG.get_or_init(|| {
        std::env::var("IXSIM_PLANTED_BUG").ok().map(|name| {
            planted_bug_named(&name)
                .unwrap_or_else(|problem| panic!("IXSIM_PLANTED_BUG: {problem}"))
        })
    })
}

libfuzzer_sys::fuzz_target!(init: { planted(); }, |data: &[u8]| ors_session_planted(data, planted()));
