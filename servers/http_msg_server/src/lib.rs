//! http_msg_server: the admin HTTP API used by the PHP console to create groups and change
//! their members (PROTOCOL §9, BEHAVIOUR §9).
//!
//! `POST /query/CreateGroup` and `POST /query/ChangeMembers` take a JSON body, are executed on
//! db_proxy as user 0 and answered with a jsoncpp-styled JSON body; a successful membership
//! change is then announced to every msg_server through the master route_server.
//!
//! Authentication (KNOWN_DEFECTS D-AUTH-7): the original let anybody who could reach the port
//! call the API (`app_key` was read but not checked). Two optional conf keys enforce it:
//! `AppKey=<secret>` makes requests whose `app_key` differs fail with
//! `{"error_code" : 2, "error_msg" : "appKey不存在"}` (compared in constant time), and
//! `AllowIP=<ip or CIDR>;…` makes requests from other addresses fail with
//! `{"error_code" : 6, "error_msg" : "未授权的IP"}`. With neither key only loopback callers are
//! answered; the others get error 6. Every refusal is logged with the caller's address.
//!
//! Other differences from the original, none visible to a well-behaved caller: requests over
//! 64 KiB are refused by closing the connection (D-NET-4); the error-5 answer carries normal
//! HTTP headers (D-HMS-1); answers are fully written before the close (D-HMS-2); a request
//! db_proxy ignores is answered as failed after 10 s instead of hanging for 60 s (D-HMS-3).

pub mod config;
mod handler;
mod http;
pub mod json;
mod peer;
pub mod query;
pub mod server;

pub use config::Config;
pub use server::{Server, ServerError, ServerHandle};
