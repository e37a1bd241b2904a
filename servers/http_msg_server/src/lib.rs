//! http_msg_server (in progress).
