//! tokio-util framing around `ixsim_core::codec`: the shells read and write [`Message`]s.

use bytes::{Buf, BytesMut};
use ixsim_core::codec::{self, CodecError, HEADER_BYTES};
use ixsim_core::protocol::Message;
use thiserror::Error;
use tokio_util::codec::{Decoder, Encoder};

#[derive(Debug, Error)]
pub enum FrameError {
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Codec(#[from] CodecError),
}

/// Length-prefixed [`Message`] frames.
#[derive(Debug, Default, Clone, Copy)]
pub struct FrameCodec;

impl Decoder for FrameCodec {
    type Item = Message;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Message>, FrameError> {
        match codec::decode(src)? {
            Some((message, used)) => {
                src.advance(used);
                Ok(Some(message))
            }
            None => {
                if let Some(payload_bytes) = codec::frame_len(src)? {
                    src.reserve(
                        HEADER_BYTES + payload_bytes - src.len().min(HEADER_BYTES + payload_bytes),
                    );
                }
                Ok(None)
            }
        }
    }
}

impl Encoder<Message> for FrameCodec {
    type Error = FrameError;

    fn encode(&mut self, message: Message, dst: &mut BytesMut) -> Result<(), FrameError> {
        let mut bytes = Vec::new();
        codec::encode(&message, &mut bytes)?;
        dst.extend_from_slice(&bytes);
        Ok(())
    }
}
