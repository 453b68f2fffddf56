//! Frames on the wire: a 4-byte big-endian length, then a postcard-encoded [`Message`].
//!
//! Decoding bytes a peer controls never panics and never allocates more than
//! [`FRAME_BYTES_MAX`]: an oversized length is rejected before any payload is read, malformed
//! payloads are errors, and so are non-canonical encodings (anything that decodes re-encodes to
//! exactly the same bytes, so a frame has one meaning and one spelling).
//!
//! Must not: know about sockets. The sim wraps these functions in a tokio-util codec.

use crate::protocol::Message;
use thiserror::Error;

/// Largest payload accepted or produced.
pub const FRAME_BYTES_MAX: usize = 64 * 1024;
/// Bytes of the length prefix.
pub const HEADER_BYTES: usize = 4;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum CodecError {
    #[error("frame of {0} bytes exceeds the {FRAME_BYTES_MAX}-byte limit")]
    TooLarge(usize),
    #[error("malformed frame payload: {0}")]
    Malformed(String),
    #[error("frame payload has {0} trailing bytes")]
    Trailing(usize),
    #[error("frame payload is not in canonical encoding")]
    NonCanonical,
}

/// Appends one frame holding `message` to `out`.
pub fn encode(message: &Message, out: &mut Vec<u8>) -> Result<(), CodecError> {
    let start = out.len();
    out.extend_from_slice(&[0; HEADER_BYTES]);
    let encoded = postcard::to_extend(message, std::mem::take(out))
        .map_err(|error| CodecError::Malformed(error.to_string()))?;
    *out = encoded;
    let payload_bytes = out.len() - start - HEADER_BYTES;
    if payload_bytes > FRAME_BYTES_MAX {
        out.truncate(start);
        return Err(CodecError::TooLarge(payload_bytes));
    }
    let header = u32::try_from(payload_bytes).map_err(|_| CodecError::TooLarge(payload_bytes))?;
    out[start..start + HEADER_BYTES].copy_from_slice(&header.to_be_bytes());
    Ok(())
}

/// Whether `message` can be sent as one frame: what [`encode`] would refuse, found by
/// counting its encoding's bytes without writing them (the direct runner hands receivers the
/// message itself and checks only this).
pub fn check_frame(message: &Message) -> Result<(), CodecError> {
    let payload_bytes = postcard::experimental::serialized_size(message)
        .map_err(|error| CodecError::Malformed(error.to_string()))?;
    if payload_bytes > FRAME_BYTES_MAX {
        return Err(CodecError::TooLarge(payload_bytes));
    }
    Ok(())
}

/// The payload length a frame header announces, if the header is complete and within bounds.
pub fn frame_len(bytes: &[u8]) -> Result<Option<usize>, CodecError> {
    let Some(header) = bytes.get(..HEADER_BYTES) else {
        return Ok(None);
    };
    let mut raw = [0u8; HEADER_BYTES];
    raw.copy_from_slice(header);
    let payload_bytes = u32::from_be_bytes(raw) as usize;
    if payload_bytes > FRAME_BYTES_MAX {
        return Err(CodecError::TooLarge(payload_bytes));
    }
    Ok(Some(payload_bytes))
}

/// Decodes the first frame of `bytes`: `Ok(None)` if more bytes are needed, otherwise the message
/// and the number of bytes it used.
pub fn decode(bytes: &[u8]) -> Result<Option<(Message, usize)>, CodecError> {
    let Some(payload_bytes) = frame_len(bytes)? else {
        return Ok(None);
    };
    let Some(payload) = bytes.get(HEADER_BYTES..HEADER_BYTES + payload_bytes) else {
        return Ok(None);
    };
    let message = decode_payload(payload)?;
    Ok(Some((message, HEADER_BYTES + payload_bytes)))
}

/// Decodes one frame payload (without its header).
pub fn decode_payload(payload: &[u8]) -> Result<Message, CodecError> {
    if payload.len() > FRAME_BYTES_MAX {
        return Err(CodecError::TooLarge(payload.len()));
    }
    let (message, rest) = postcard::take_from_bytes::<Message>(payload)
        .map_err(|error| CodecError::Malformed(error.to_string()))?;
    if !rest.is_empty() {
        return Err(CodecError::Trailing(rest.len()));
    }
    let canonical = postcard::to_allocvec(&message).map_err(|_| CodecError::NonCanonical)?;
    if canonical != payload {
        return Err(CodecError::NonCanonical);
    }
    Ok(message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::RefId;
    use crate::protocol::Request;

    #[test]
    fn round_trip_ping() {
        let message = Message::Request {
            ref_id: RefId(7),
            request: Request::Ping,
        };
        let mut bytes = Vec::new();
        encode(&message, &mut bytes).unwrap();
        let (decoded, used) = decode(&bytes).unwrap().unwrap();
        assert_eq!(decoded, message);
        assert_eq!(used, bytes.len());
        assert_eq!(decode(&bytes[..bytes.len() - 1]), Ok(None));
    }

    /// `check_frame` refuses exactly what `encode` refuses: a message whose payload is one
    /// byte over the limit, and passes one at the limit.
    #[test]
    fn check_frame_agrees_with_encode_at_the_limit() {
        let with_name = |len: usize| Message::Request {
            ref_id: RefId(1),
            request: Request::RegisterClient {
                name: "x".repeat(len),
                kind: crate::protocol::ClientKind::Router,
            },
        };
        let size = |message: &Message| postcard::to_allocvec(message).unwrap().len();
        let overhead = size(&with_name(100_000)) - 100_000;
        for len in [
            0,
            5,
            FRAME_BYTES_MAX - overhead,
            FRAME_BYTES_MAX - overhead + 1,
        ] {
            let message = with_name(len);
            let encoded = encode(&message, &mut Vec::new());
            assert_eq!(check_frame(&message), encoded, "name of {len} bytes");
        }
        assert!(check_frame(&with_name(FRAME_BYTES_MAX)).is_err());
    }

    #[test]
    fn oversized_header_is_rejected_before_payload() {
        let bytes = u32::MAX.to_be_bytes();
        assert!(matches!(decode(&bytes), Err(CodecError::TooLarge(_))));
    }

    /// A payload handed over without its header (the stream codec's path) is held to the same
    /// limit: one byte over is refused as too large, before any decoding.
    #[test]
    fn oversized_payload_is_rejected_before_decoding() {
        let payload = vec![0u8; FRAME_BYTES_MAX + 1];
        assert_eq!(
            decode_payload(&payload),
            Err(CodecError::TooLarge(FRAME_BYTES_MAX + 1))
        );
    }

    #[test]
    fn deeply_nested_user_data_is_an_error_not_a_stack_overflow() {
        // Message::Request, ref 0, Request::UpdateUserData, Field::Value(ixn 0), then a KvList
        // nesting itself far beyond KV_DEPTH_MAX.
        let mut payload = vec![0u8, 0, 5, 0, 0];
        for _ in 0..20_000 {
            payload.extend_from_slice(&[1, 1, b'k', 2]);
        }
        assert!(decode_payload(&payload).is_err());
    }

    /// The nesting limit is exact: user data nested `KV_DEPTH_MAX` lists deep decodes, one
    /// deeper is refused (the frame is whole, so only its depth can be wrong).
    #[test]
    fn user_data_nesting_limit_is_exact() {
        use crate::ids::IxnId;
        use crate::kv::{KvList, KvValue, KV_DEPTH_MAX};
        use crate::protocol::Field;
        let nested = |depth: u32| {
            let mut list = KvList::new().with("leaf", KvValue::Int(1));
            for _ in 1..depth {
                list = KvList::new().with("k", KvValue::List(list));
            }
            Message::Request {
                ref_id: RefId(1),
                request: Request::UpdateUserData {
                    ixn: Field::Value(IxnId(1)),
                    changes: list,
                },
            }
        };
        let deepest = nested(KV_DEPTH_MAX);
        let mut bytes = Vec::new();
        encode(&deepest, &mut bytes).unwrap();
        assert_eq!(decode(&bytes).unwrap().map(|(m, _)| m), Some(deepest));
        bytes.clear();
        encode(&nested(KV_DEPTH_MAX + 1), &mut bytes).unwrap();
        assert!(matches!(decode(&bytes), Err(CodecError::Malformed(_))));
    }
}
