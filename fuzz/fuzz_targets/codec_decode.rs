#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| ixsim_model::codec_decode(data));
