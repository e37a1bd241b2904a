//! tt_bench (in progress).
