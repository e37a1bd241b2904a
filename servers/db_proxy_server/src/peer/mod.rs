//! Link kinds of db_proxy_server. It only accepts one kind: server links from msg_server and
//! http_msg_server ([`server_link`]).

pub mod server_link;
