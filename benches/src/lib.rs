//! Shared pieces of the benchmark binaries: latency recording and table output.

pub mod stats;
