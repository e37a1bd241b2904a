//! msg_server (in progress).
