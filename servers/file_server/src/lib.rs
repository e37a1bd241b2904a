//! file_server (in progress).
