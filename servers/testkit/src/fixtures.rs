//! Database fixtures: the test MariaDB database (schema loaded when its tables are missing),
//! uniquely named users and groups written the way the PHP admin and db_proxy write them, and
//! direct MySQL/Redis access for assertions.
//!
//! Isolation: test binaries of several crates share the database and Redis, and tests within a
//! binary run in parallel, so every name is unique (process id, a random part and a counter),
//! and a [`Fixtures`] deletes exactly the rows and keys it (and the servers, for its users)
//! created when it is dropped. Nothing is ever flushed or truncated.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use mysql::prelude::Queryable;
use mysql::{Opts, OptsBuilder, Pool, PooledConn};
use tt_client::crypto::salted_password;

/// `env TT_TEST_MYSQL_URL` when unset.
pub const DEFAULT_MYSQL_URL: &str = "mysql://root@127.0.0.1:3306/teamtalk_test";
/// `env TT_TEST_REDIS_URL` when unset.
pub const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379";
/// The schema the fixtures load into an empty test database.
const SCHEMA: &str = include_str!("../../../sql/schema.sql");

// Tests use Redis databases 11-15, not the 1-5 of conf/dbproxyserver.conf: the test MySQL
// database is separate from a local cluster's, and its user and group ids overlap with the
// demo organisation's, so sharing Redis databases would mix their counters and members.

/// Redis database of the `unread` pool (counters, message ids) in tests.
pub const REDIS_DB_UNREAD: u32 = 11;
/// Redis database of the `group_set` pool (group push shields) in tests.
pub const REDIS_DB_GROUP_SET: u32 = 12;
/// Redis database of the `sync` pool (configured, never used) in tests.
pub const REDIS_DB_SYNC: u32 = 13;
/// Redis database of the `token` pool (device tokens) in tests.
pub const REDIS_DB_TOKEN: u32 = 14;
/// Redis database of the `group_member` pool (group membership) in tests.
pub const REDIS_DB_GROUP_MEMBER: u32 = 15;

/// Where the test services are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestEnv {
    /// `mysql://user[:password]@host:port/database`.
    pub mysql_url: String,
    /// Redis host.
    pub redis_host: String,
    /// Redis port.
    pub redis_port: u16,
}

impl TestEnv {
    /// Reads `TT_TEST_MYSQL_URL` and `TT_TEST_REDIS_URL` (defaults above).
    pub fn from_env() -> Self {
        let mysql_url =
            std::env::var("TT_TEST_MYSQL_URL").unwrap_or_else(|_| DEFAULT_MYSQL_URL.to_owned());
        let redis_url =
            std::env::var("TT_TEST_REDIS_URL").unwrap_or_else(|_| DEFAULT_REDIS_URL.to_owned());
        let rest = redis_url.trim_start_matches("redis://");
        let host_port = rest.split('/').next().unwrap_or(rest);
        let host_port = host_port.rsplit('@').next().unwrap_or(host_port);
        let (redis_host, redis_port) = match host_port.rsplit_once(':') {
            Some((h, p)) => (h.to_owned(), p.parse().unwrap_or(6379)),
            None => (host_port.to_owned(), 6379),
        };
        Self {
            mysql_url,
            redis_host,
            redis_port,
        }
    }

    /// The MySQL options of the URL.
    pub fn mysql_opts(&self) -> Opts {
        Opts::from_url(&self.mysql_url).expect("TT_TEST_MYSQL_URL is not a valid mysql:// URL")
    }

    /// A Redis connection to database `db`.
    pub fn redis(&self, db: u32) -> redis::Connection {
        let url = format!("redis://{}:{}/{db}", self.redis_host, self.redis_port);
        redis::Client::open(url)
            .and_then(|c| c.get_connection())
            .expect("cannot connect to the test Redis (scripts/services.sh starts it)")
    }
}

/// Current Unix time in seconds.
pub fn unix_now() -> u32 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX))
}

/// A name no other test (in any process) uses: `<tag><pid><random><counter>`, at most 32
/// bytes as `IMUser.name` allows when `tag` has at most 12.
pub fn unique_name(tag: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let r: u16 = rand::random();
    let mut name = format!("{tag}{}{r:04x}{n}", std::process::id() % 100_000);
    name.truncate(32);
    name
}

/// Creates the test database and loads the schema if its tables are missing (once per
/// process).
/// The table `sql/schema.sql` creates last.
fn newest_table() -> &'static str {
    SCHEMA
        .rsplit("CREATE TABLE IF NOT EXISTS `")
        .next()
        .and_then(|rest| rest.split('`').next())
        .expect("sql/schema.sql creates tables")
}

fn ensure_schema(env: &TestEnv) {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        let opts = env.mysql_opts();
        let db = opts.get_db_name().unwrap_or("teamtalk_test").to_owned();
        let server_only = OptsBuilder::from_opts(opts).db_name(None::<String>);
        let mut conn = mysql::Conn::new(server_only)
            .expect("cannot connect to the test MariaDB (scripts/services.sh starts it)");
        conn.query_drop(format!(
            "CREATE DATABASE IF NOT EXISTS `{db}` CHARACTER SET utf8mb4"
        ))
        .expect("cannot create the test database");
        conn.query_drop(format!("USE `{db}`"))
            .expect("cannot use the test database");
        // The schema only grows and is safe to load again (CREATE TABLE IF NOT EXISTS), so a
        // database made before its newest table was added gets it too.
        let present: Option<String> = conn
            .query_first(format!("SHOW TABLES LIKE '{}'", newest_table()))
            .expect("cannot list tables");
        if present.is_some() {
            return;
        }
        let text: String = SCHEMA
            .lines()
            .filter(|l| !l.trim_start().starts_with("--"))
            .collect::<Vec<_>>()
            .join("\n");
        for stmt in text.split(';').map(str::trim).filter(|s| !s.is_empty()) {
            conn.query_drop(stmt)
                .unwrap_or_else(|e| panic!("schema statement failed: {e}"));
        }
    });
}

/// A user created for a test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestUser {
    /// `IMUser.id`.
    pub id: u32,
    /// Login name (`IMUser.name`).
    pub name: String,
    /// Plaintext password.
    pub password: String,
    /// Nick (`IMUser.nick`).
    pub nick: String,
}

/// Creates and removes test data.
#[derive(Debug)]
pub struct Fixtures {
    env: TestEnv,
    pool: Pool,
    users: Mutex<Vec<u32>>,
    groups: Mutex<Vec<u32>>,
}

impl Fixtures {
    /// Connects to the test database (creating it and its tables if needed).
    pub fn new(env: TestEnv) -> Self {
        ensure_schema(&env);
        let pool = Pool::new(env.mysql_opts()).expect("cannot open a pool to the test MariaDB");
        Self {
            env,
            pool,
            users: Mutex::new(Vec::new()),
            groups: Mutex::new(Vec::new()),
        }
    }

    /// Where the services are.
    pub fn env(&self) -> &TestEnv {
        &self.env
    }

    /// A MySQL connection to the test database.
    pub fn mysql(&self) -> PooledConn {
        self.pool
            .get_conn()
            .expect("cannot connect to the test MariaDB")
    }

    /// A Redis connection to database `db` (see the `REDIS_DB_*` constants).
    pub fn redis(&self, db: u32) -> redis::Connection {
        self.env.redis(db)
    }

    /// Creates a user named from `tag` (see [`unique_name`]) with a random password, stored
    /// as the PHP admin stores it: `md5(md5(plain) ‖ salt)` with a decimal salt (PROTOCOL
    /// §7.1).
    pub fn create_user(&self, tag: &str) -> TestUser {
        let name = unique_name(tag);
        let password = format!("pw{}", rand::random::<u32>());
        let salt = (rand::random::<u16>() % 10_000).to_string();
        let hash = salted_password(&password, &salt);
        let nick = format!("n-{name}");
        let now = unix_now();
        let mut db = self.mysql();
        db.exec_drop(
            "INSERT INTO IMUser (sex, name, domain, nick, password, salt, phone, email, avatar, \
             departId, status, created, updated, push_shield_status, sign_info) \
             VALUES (1, ?, ?, ?, ?, ?, '', '', '', 1, 0, ?, ?, 0, '')",
            (&name, &name, &nick, &hash, &salt, now, now),
        )
        .expect("cannot insert a test user");
        let id = u32::try_from(db.last_insert_id()).expect("user ids fit in u32");
        lock(&self.users).push(id);
        TestUser {
            id,
            name,
            password,
            nick,
        }
    }

    /// Creates a group of `group_type` (1 normal, 2 temporary) with `members` (joined now), as
    /// the admin interface does: IMGroup and IMGroupMember rows, the Redis member hash and
    /// message-id counter (STORAGE §3.2). Returns the group id.
    pub fn create_group(&self, name: &str, creator: u32, members: &[u32], group_type: u32) -> u32 {
        let now = unix_now();
        let mut db = self.mysql();
        db.exec_drop(
            "INSERT INTO IMGroup (name, avatar, creator, type, userCnt, status, version, \
             lastChated, updated, created) VALUES (?, '', ?, ?, ?, 0, 1, 0, ?, ?)",
            (name, creator, group_type, members.len(), now, now),
        )
        .expect("cannot insert a test group");
        let gid = u32::try_from(db.last_insert_id()).expect("group ids fit in u32");
        lock(&self.groups).push(gid);
        for &uid in members {
            db.exec_drop(
                "INSERT INTO IMGroupMember (groupId, userId, status, created, updated) \
                 VALUES (?, ?, 0, ?, ?)",
                (gid, uid, now, now),
            )
            .expect("cannot insert a group member");
        }
        let mut members_redis = self.redis(REDIS_DB_GROUP_MEMBER);
        for &uid in members {
            redis::cmd("HSET")
                .arg(format!("group_member_{gid}"))
                .arg(uid)
                .arg(now)
                .exec(&mut members_redis)
                .expect("cannot write the group member hash");
        }
        redis::cmd("SET")
            .arg(format!("group_msg_id_{gid}"))
            .arg(0)
            .exec(&mut self.redis(REDIS_DB_UNREAD))
            .expect("cannot write the group message id");
        gid
    }

    /// Remembers a user the servers created (e.g. by registration) so it is removed too.
    pub fn adopt_user(&self, user_id: u32) {
        lock(&self.users).push(user_id);
    }

    /// Remembers a group the servers created (e.g. through a client) so it is removed too.
    pub fn adopt_group(&self, gid: u32) {
        lock(&self.groups).push(gid);
    }

    /// Deletes every row and key of this fixture's users and groups.
    fn clean_up(&self) -> Result<(), Box<dyn std::error::Error>> {
        let users = std::mem::take(&mut *lock(&self.users));
        let groups = std::mem::take(&mut *lock(&self.groups));
        let mut db = self.pool.get_conn()?;
        let mut unread = self.redis(REDIS_DB_UNREAD);
        let mut tokens = self.redis(REDIS_DB_TOKEN);
        for &uid in &users {
            let relations: Vec<u32> = db.exec(
                "SELECT id FROM IMRelationShip WHERE smallId = ? OR bigId = ?",
                (uid, uid),
            )?;
            for rid in relations {
                db.exec_drop(
                    format!("DELETE FROM IMMessage_{} WHERE relateId = ?", rid % 8),
                    (rid,),
                )?;
                db.exec_drop("DELETE FROM IMRelationShip WHERE id = ?", (rid,))?;
                redis::cmd("DEL")
                    .arg(format!("msg_id_{rid}"))
                    .exec(&mut unread)?;
            }
            db.exec_drop("DELETE FROM IMRecentSession WHERE userId = ?", (uid,))?;
            db.exec_drop(
                "DELETE FROM IMTransmitFile WHERE fromId = ? OR toId = ?",
                (uid, uid),
            )?;
            db.exec_drop("DELETE FROM IMUser WHERE id = ?", (uid,))?;
            redis::cmd("DEL")
                .arg(format!("unread_{uid}"))
                .exec(&mut unread)?;
            redis::cmd("DEL")
                .arg(format!("device_{uid}"))
                .exec(&mut tokens)?;
        }
        let mut members = self.redis(REDIS_DB_GROUP_MEMBER);
        let mut shields = self.redis(REDIS_DB_GROUP_SET);
        for &gid in &groups {
            db.exec_drop(
                format!("DELETE FROM IMGroupMessage_{} WHERE groupId = ?", gid % 8),
                (gid,),
            )?;
            db.exec_drop("DELETE FROM IMGroupMember WHERE groupId = ?", (gid,))?;
            db.exec_drop("DELETE FROM IMGroup WHERE id = ?", (gid,))?;
            redis::cmd("DEL")
                .arg(format!("group_member_{gid}"))
                .exec(&mut members)?;
            redis::cmd("DEL")
                .arg(format!("group_set_{gid}"))
                .exec(&mut shields)?;
            redis::cmd("DEL")
                .arg(format!("group_msg_id_{gid}"))
                .arg(format!("{gid}_im_group_msg"))
                .exec(&mut unread)?;
            for &uid in &users {
                redis::cmd("DEL")
                    .arg(format!("{uid}_{gid}_im_user_group"))
                    .exec(&mut unread)?;
            }
        }
        Ok(())
    }
}

impl Drop for Fixtures {
    fn drop(&mut self) {
        if let Err(e) = self.clean_up() {
            log::warn!("test data clean-up failed: err={e}");
        }
    }
}

/// Locks a fixture list; a panic elsewhere while it was held does not matter here.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
