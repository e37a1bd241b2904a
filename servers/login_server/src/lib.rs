//! login_server (in progress).
