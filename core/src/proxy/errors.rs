//! The proxy's error codes [S-PX-2000]..[S-PX-2006], exactly where SPEC.md names them, and
//! [`Proxy::fail`], the one way a refusal reaches a client (traced, and marked when it is a
//! lost connection). Each code is decided where its situation is:
//! - 2000 [S-PX-2000]: RequestPing and the HA/licensing requests, which the proxy does not
//!   support, and the URS's target selection (`clients`).
//! - 2001 [S-PX-2001]: no node is configured for the tenant and media type, or the media type
//!   is disabled [S-PX-disabled] (the proxy accepts no submission of it) (`submit`; also a
//!   pull, find or snapshot for a tenant with no node).
//! - 2002 [S-PX-2002]: a node the request was forwarded to (or would have to go to, including
//!   every node of the tenant for a find) is not connected, or its connection closed or it did
//!   not answer before the proxy's request timeout (`nodes`, and each operation's reading of a
//!   missing answer).
//! - 2003 [S-PX-2003]: a routing attribute (tenant, media type, interaction id) is missing, of
//!   the wrong type or of an unknown value (`config`, `submit`, `lookup`); or a lookup where
//!   some node did not answer and the others said "not found"; or the cached node is not
//!   reachable (`lookup`).
//! - 2004 [S-PX-2004]: an agent operation while another operation for the same agent is still
//!   in progress (`agents`).
//! - 2005 [S-PX-2005]: more than one node holds the interaction id (`lookup`).
//! - 2006 [S-PX-2006]: a snapshot where some node of the tenant is not connected or did not
//!   answer (`merge`).
//!
//! Must not: panic on a bad request. Whatever a peer sends is answered with a code.

use super::Proxy;
use crate::ids::RefId;
use crate::machine::{Output, Peer};
use crate::marks::{mark, Mark};
use crate::protocol::{ErrorCode, Event, Request};
use crate::trace::TraceEvent;

impl Proxy {
    pub(super) fn fail(
        &self,
        client: Peer,
        ref_id: RefId,
        request: &Request,
        code: ErrorCode,
        out: &mut Vec<Output>,
    ) {
        if code == ErrorCode::ConnectionLost {
            mark(Mark::ProxyConnectionLost, out);
        }
        out.push(Output::Trace(TraceEvent::request_failed(request, code)));
        self.reply(client, ref_id, Event::Error { code }, out);
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{proxy, pull_message};
    use crate::ids::RefId;
    use crate::machine::{Input, Machine, Output, Peer};
    use crate::marks::Mark;
    use crate::protocol::{ErrorCode, Event, Message, Request};

    /// The mark `proxy-connection-lost` comes with a 2002 refusal and no other.
    #[test]
    fn only_a_lost_connection_is_marked_as_one() {
        let lost = Output::Mark(Mark::ProxyConnectionLost);
        let refused = |out: &[Output], code: ErrorCode| {
            out.iter().any(|o| {
                matches!(o, Output::Send(_, Message::Event { event: Event::Error { code: c }, .. }) if *c == code)
            })
        };
        let mut proxy = proxy();
        let mut out = Vec::new();
        let ping = Message::Request {
            ref_id: RefId(6),
            request: Request::Ping,
        };
        proxy.handle(10, Input::Frame(Peer::Client(0), ping), &mut out);
        assert!(refused(&out, ErrorCode::UnsupportedOperation), "{out:?}");
        assert!(!out.contains(&lost), "{out:?}");

        proxy.handle(20, Input::Disconnected(Peer::Server(0)), &mut Vec::new());
        proxy.handle(20, Input::Disconnected(Peer::Server(1)), &mut Vec::new());
        let mut out = Vec::new();
        proxy.handle(30, Input::Frame(Peer::Client(0), pull_message(1)), &mut out);
        assert!(refused(&out, ErrorCode::ConnectionLost), "{out:?}");
        assert!(out.contains(&lost), "{out:?}");
    }
}
