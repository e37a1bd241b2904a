//! A msg_server (or http_msg_server) link and sending over all links.
//!
//! Every accepted connection is such a link; the loop's connection table is therefore the set
//! of links, and a broadcast walks it.

use netlib::{ConnHandle, Ctx};
use teamtalk_proto::Pdu;

/// Per-link state.
#[derive(Debug, Default)]
pub(crate) struct MsgServerLink {
    /// Set by IMRoleSet; recorded for the logs, route_server behaves the same either way.
    pub(crate) master: bool,
}

/// Sends `pdu` unchanged (received header kept) to every open link except `except`.
pub(crate) fn broadcast(ctx: &mut Ctx<MsgServerLink>, pdu: &Pdu, except: Option<ConnHandle>) {
    let mut bytes = Vec::with_capacity(pdu.len());
    pdu.encode_into(&mut bytes);
    let targets: Vec<ConnHandle> = ctx
        .conns()
        .iter()
        .filter(|(h, conn)| Some(*h) != except && conn.is_open())
        .map(|(h, _)| h)
        .collect();
    for h in targets {
        ctx.send(h, &bytes);
    }
}
