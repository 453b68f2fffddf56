//! The frame codec on arbitrary input: structured messages round-trip, and garbage (random or
//! a valid frame with bytes flipped) is an error, never a panic, and anything that decodes
//! re-encodes to exactly the same bytes.

use arbitrary::{Arbitrary, Unstructured};
use ixsim::core::codec::{self, CodecError, FRAME_BYTES_MAX};
use ixsim::core::protocol::Message;
use ixsim_model::codec_decode;
use proptest::prelude::*;

fn message_from(seed_bytes: &[u8]) -> Option<Message> {
    Message::arbitrary(&mut Unstructured::new(seed_bytes)).ok()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn codec_round_trips_every_message(seed_bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let Some(message) = message_from(&seed_bytes) else { return Ok(()) };
        let mut bytes = Vec::new();
        match codec::encode(&message, &mut bytes) {
            Ok(()) => {
                let (decoded, used) = codec::decode(&bytes)
                    .expect("an encoded frame decodes")
                    .expect("an encoded frame is complete");
                prop_assert_eq!(used, bytes.len());
                prop_assert_eq!(decoded, message);
            }
            Err(CodecError::TooLarge(size)) => prop_assert!(size > FRAME_BYTES_MAX),
            Err(other) => prop_assert!(false, "encoding failed: {other}"),
        }
    }

    #[test]
    fn codec_never_panics_on_garbage(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        codec_decode(&bytes);
    }

    #[test]
    fn codec_rejects_or_reencodes_corrupted_frames(
        seed_bytes in proptest::collection::vec(any::<u8>(), 0..300),
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4),
    ) {
        let Some(message) = message_from(&seed_bytes) else { return Ok(()) };
        let mut bytes = Vec::new();
        if codec::encode(&message, &mut bytes).is_err() {
            return Ok(());
        }
        for (position, value) in flips {
            let index = position % bytes.len();
            bytes[index] ^= value | 1;
        }
        codec_decode(&bytes);
    }
}

#[test]
fn truncated_frame_asks_for_more_bytes() {
    let message = Message::Request {
        ref_id: ixsim::core::ids::RefId(1),
        request: ixsim::core::protocol::Request::Ping,
    };
    let mut bytes = Vec::new();
    codec::encode(&message, &mut bytes).unwrap();
    for cut in 0..bytes.len() {
        assert_eq!(codec::decode(&bytes[..cut]), Ok(None), "cut at {cut}");
    }
}

#[test]
fn non_canonical_varint_is_rejected() {
    // Message::Request (0), ref id 1 as an over-long varint (0x81 0x00), Request::Ping (1).
    let payload = [0u8, 0x81, 0x00, 1];
    assert_eq!(
        codec::decode_payload(&payload),
        Err(CodecError::NonCanonical)
    );
    assert!(codec::decode_payload(&[0u8, 1, 1]).is_ok());
}

/// Guards the properties above against being vacuous: the generator must produce messages, and
/// of many kinds.
#[test]
fn generator_produces_varied_messages() {
    let mut kinds = std::collections::BTreeSet::new();
    let mut produced = 0;
    for index in 0..500u32 {
        let bytes: Vec<u8> = (0..200u32)
            .map(|i| (i.wrapping_mul(31) ^ index.wrapping_mul(2654435761)) as u8)
            .collect();
        if let Some(message) = message_from(&bytes) {
            produced += 1;
            kinds.insert(match message {
                Message::Request { request, .. } | Message::ProxiedRequest { request, .. } => {
                    request.name()
                }
                Message::Event { event, .. } | Message::ProxiedEvent { event, .. } => event.name(),
            });
        }
    }
    assert!(
        produced > 400,
        "only {produced}/500 inputs produced a message"
    );
    assert!(
        kinds.len() >= 15,
        "only {} message kinds: {kinds:?}",
        kinds.len()
    );
}
