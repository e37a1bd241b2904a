//! Test infrastructure for cross-server integration tests: [`TestCluster`] boots route_server,
//! login_server, db_proxy_server, file_server, push_server (pushes captured, or delivered to
//! test doubles) and two msg_servers in-process against the test MariaDB and Redis, and
//! [`Fixtures`] creates (and afterwards removes) uniquely named users and groups.
//!
//! The services are found through `TT_TEST_MYSQL_URL` (default
//! `mysql://root@127.0.0.1:3306/teamtalk_test`) and `TT_TEST_REDIS_URL` (default
//! `redis://127.0.0.1:6379`); `scripts/services.sh` prepares them. Logging is initialised once
//! per process with `netlib::logging::init_for_tests`.
//!
//! With the `browser` feature, the `webdriver` module drives a headless Chromium for browser tests.
//!
//! Everything here runs inside tests, so set-up failures panic with the reason instead of
//! returning errors: a broken environment should fail the test that needed it, loudly.

pub mod binaries;
pub mod cluster;
pub mod fixtures;
#[cfg(feature = "browser")]
pub mod webdriver;
pub mod wire;

pub use binaries::workspace_binary;
pub use cluster::{AES_KEY, MSG_SERVERS, READY_TIMEOUT, TestCluster, client_config};
pub use fixtures::{
    DEFAULT_MYSQL_URL, DEFAULT_REDIS_URL, Fixtures, REDIS_DB_GROUP_MEMBER, REDIS_DB_GROUP_SET,
    REDIS_DB_SYNC, REDIS_DB_TOKEN, REDIS_DB_UNREAD, TestEnv, TestUser, unique_name, unix_now,
};
pub use wire::closed_by_peer;
