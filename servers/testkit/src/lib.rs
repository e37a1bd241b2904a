//! testkit (in progress).
