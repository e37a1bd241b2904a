//! db_proxy_server (in progress).
