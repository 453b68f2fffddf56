#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| ixsim_sim::fuzz::scenario_toml(data));
