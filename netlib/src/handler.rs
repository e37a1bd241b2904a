//! What a server plugs into the reactor: the [`Handler`] callbacks. The loop calls them for
//! accepts, completed or failed connects, whole PDUs (or raw bytes for HTTP), closes, timers,
//! wake-ups from other threads and once per loop turn; handlers act through [`Ctx`].

use teamtalk_proto::Pdu;

use crate::conn::{CloseReason, ConnHandle, ListenerTag};
use crate::ctx::Ctx;
use crate::metrics::Readiness;
use crate::timer::TimerId;

/// What a server does with the loop's events. Every method has a no-op default.
pub trait Handler: Send + 'static {
    /// Per-connection data stored with each connection.
    type ConnData: Default + Send + 'static;

    /// A connection was accepted on the listener tagged `listener`.
    fn on_accept(
        &mut self,
        ctx: &mut Ctx<Self::ConnData>,
        conn: ConnHandle,
        listener: ListenerTag,
    ) {
        let _ = (ctx, conn, listener);
    }

    /// An outbound connection completed.
    fn on_connect(&mut self, ctx: &mut Ctx<Self::ConnData>, conn: ConnHandle) {
        let _ = (ctx, conn);
    }

    /// A whole PDU arrived on a PDU-framed connection.
    fn on_pdu(&mut self, ctx: &mut Ctx<Self::ConnData>, conn: ConnHandle, pdu: Pdu) {
        let _ = (ctx, conn, pdu);
    }

    /// Bytes arrived on a raw connection; drain from `input` what was consumed.
    fn on_data(&mut self, ctx: &mut Ctx<Self::ConnData>, conn: ConnHandle, input: &mut Vec<u8>) {
        let _ = (ctx, conn);
        input.clear();
    }

    /// A connection ended (including failed connects); `data` is what it carried.
    fn on_close(
        &mut self,
        ctx: &mut Ctx<Self::ConnData>,
        conn: ConnHandle,
        data: Self::ConnData,
        reason: CloseReason,
    ) {
        let _ = (ctx, conn, data, reason);
    }

    /// A timer added with [`Ctx::add_timer`] fired.
    fn on_timer(&mut self, ctx: &mut Ctx<Self::ConnData>, timer: TimerId) {
        let _ = (ctx, timer);
    }

    /// Another thread woke the loop (see [`crate::worker::ResponseQueue`]).
    fn on_wake(&mut self, ctx: &mut Ctx<Self::ConnData>) {
        let _ = ctx;
    }

    /// Runs once per loop turn, after events and timers (the original's loop hooks).
    fn on_loop(&mut self, ctx: &mut Ctx<Self::ConnData>) {
        let _ = ctx;
    }

    /// A scrape of `/metrics` is about to be answered: set the gauges that are a view of the
    /// handler's state (table sizes, queue depths, link states).
    fn refresh_metrics(&mut self, ctx: &Ctx<Self::ConnData>) {
        let _ = ctx;
    }

    /// What `/readyz` answers: the required links that are down. Ready by default.
    fn readiness(&self, ctx: &Ctx<Self::ConnData>) -> Readiness {
        let _ = ctx;
        Readiness::ready()
    }

    /// A stop was requested; return `false` to finish work first and call [`Ctx::exit`] later.
    fn on_stop(&mut self, ctx: &mut Ctx<Self::ConnData>) -> bool {
        let _ = ctx;
        true
    }
}
