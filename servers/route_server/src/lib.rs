//! route_server (in progress).
