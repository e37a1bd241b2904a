//! tt_client (in progress).
