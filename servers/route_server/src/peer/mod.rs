//! The kinds of connection route_server serves. There is one: msg_server links (http_msg_server
//! connects the same way and is treated alike).

pub(crate) mod msg_server;
