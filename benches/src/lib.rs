//! The load generator `tt-load` and the micro benchmarks, as a library so that their logic is
//! unit-tested and the smoke tests can drive a run in-process.
//!
//! - [`audit`]: a run's stored rows read back from MySQL (each acked message once).
//! - [`cli`]: the command line (subcommands, flags, help).
//! - [`seed`]: benchmark users and groups in MySQL and Redis, and their removal.
//! - [`driver`]: the netlib handler that plays many clients on one event loop.
//! - [`run`]: one load run: planning, phases, progress, result.
//! - [`tracker`]: self-describing payloads and loss/duplicate/reorder detection.
//! - [`result`]: the JSON result of a run and its text table.
//! - [`report`]: markdown tables and SVG charts from results.
//! - [`stats`]: latency samples and percentiles.
//! - [`transport`]: plain TCP, TLS, WebSocket or WebSocket over TLS under the clients' PDUs.

pub mod audit;
pub mod cli;
pub mod driver;
pub mod report;
pub mod result;
pub mod run;
pub mod seed;
pub mod stats;
pub mod tracker;
pub mod transport;
