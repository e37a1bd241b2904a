//! push_server (in progress).
