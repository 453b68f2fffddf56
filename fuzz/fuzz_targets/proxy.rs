#![no_main]
//! `proxy`: see `ixsim_model::proxy`. `IXSIM_PLANTED_BUG=unreachable-lookup-not-found`
//! fuzzes a proxy with that error-path bug planted.

use ixsim_model::proxy::{proxy_bug_named, proxy_planted, ProxyBug};
use std::sync::OnceLock;

static BUG: OnceLock<Option<ProxyBug>> = OnceLock::new();

fn planted() -> Option<ProxyBug> {
    *BUG.get_or_init(|| {
        std::env::var("IXSIM_PLANTED_BUG").ok().map(|name| {
            proxy_bug_named(&name).unwrap_or_else(|problem| panic!("IXSIM_PLANTED_BUG: {problem}"))
        })
    })
}

libfuzzer_sys::fuzz_target!(init: { planted(); }, |data: &[u8]| proxy_planted(data, planted()));
