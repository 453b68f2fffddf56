//! The `codec_decode` fuzz target.

use ixsim_core::codec;

/// `codec_decode`: arbitrary bytes never panic the decoder, and anything that decodes
/// re-encodes to exactly the bytes it came from.
pub fn codec_decode(bytes: &[u8]) {
    let Ok(Some((message, used))) = codec::decode(bytes) else {
        return;
    };
    let mut encoded = Vec::new();
    codec::encode(&message, &mut encoded).expect("a decoded message must encode");
    assert_eq!(
        encoded,
        bytes[..used],
        "decoded frame re-encodes to different bytes"
    );
}
