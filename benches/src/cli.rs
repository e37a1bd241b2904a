//! The `tt-load` command line: subcommands, their flags, defaults and help texts.
//!
//! Parsing is strict: an unknown flag, a missing value or a value that does not parse is an
//! error naming the flag, so a typo never silently runs a different benchmark. Flags take
//! their value as the next argument or after `=` (`--pairs 10`, `--pairs=10`); list flags may
//! be repeated or comma-separated.

use std::collections::BTreeMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;

use anyhow::{Context, Result, bail};

/// Default login_server discovery URL of the sample configuration.
pub const DEFAULT_LOGIN_URL: &str = "http://127.0.0.1:8080/msg_server";
/// Default MySQL URL: the database of the local cluster.
pub const DEFAULT_MYSQL_URL: &str = "mysql://root@127.0.0.1:3306/teamtalk";
/// Default Redis URL.
pub const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379";
/// Redis db of the `group_member` pool in the sample `dbproxyserver.conf`.
pub const DEFAULT_GROUP_MEMBER_DB: i64 = 5;
/// Redis db of the `unread` pool in the sample `dbproxyserver.conf`.
pub const DEFAULT_UNREAD_DB: i64 = 1;
/// Default user-name prefix of seeded users (`load_0`, `load_1`, …).
pub const DEFAULT_PREFIX: &str = "load";
/// Default password of seeded users.
pub const DEFAULT_PASSWORD: &str = "tt-load";
/// Default number of logins in flight.
pub const DEFAULT_CONCURRENCY: usize = 50;
/// Default per-sender rate: under msg_server's limit of 20 messages per connection per second.
pub const DEFAULT_RATE: f64 = 15.0;
/// Default ack timeout in seconds: a message not acked within it is sent again.
pub const DEFAULT_ACK_TIMEOUT: f64 = 5.0;
/// Default number of copies sent again after ack timeouts.
pub const DEFAULT_RESENDS: u32 = 3;
/// Largest window accepted: header seq numbers are 16 bits and must stay unambiguous.
pub const MAX_WINDOW: u32 = 10_000;
/// Longest prefix accepted: `IMUser.name` is varchar(32) and the index suffix needs room.
const MAX_PREFIX_LEN: usize = 20;

const TOP_HELP: &str = "\
tt-load: load generator for TeamTalk clusters (teamtalk-rs or the C++ original)

Usage: tt-load <command> [flags]

Commands:
  seed     create benchmark users (and groups) directly in MySQL and Redis
  clean    delete the users and groups of a prefix and everything the servers stored for them
  login    N logins at concurrency C: logins/s and latency
  msg      P sender->receiver pairs for S seconds: acked/delivered msgs/s, latency, loss
  group    K senders in one group of G online members: fan-out deliveries/s and latency
  idle     N logged-in connections heartbeating for S seconds: server RSS per connection
  report   turn JSON results into a markdown table and SVG charts

Run `tt-load <command> --help` for the flags of a command.
";

const SEED_HELP: &str = "\
Usage: tt-load seed [flags]

Creates users <prefix>_0 .. <prefix>_<N-1> with one password (stored salted as the original
does: md5hex(md5hex(password) || salt)); users that already exist are kept. With --groups K,
creates groups <prefix>_g0 .. (normal groups; group j holds users j*G .. j*G+G-1) in IMGroup,
IMGroupMember and the Redis group_member hash.

  --users N             users to create (default 100)
  --groups K            groups to create (default 0)
  --group-size G        members per group (default 50)
  --prefix NAME         user-name prefix, letters and digits (default load)
  --password TEXT       password of every user (default tt-load)
  --mysql-url URL       (default mysql://root@127.0.0.1:3306/teamtalk)
  --redis-url URL       (default redis://127.0.0.1:6379)
  --group-member-db N   Redis db of db_proxy's group_member pool (default 5)
  --unread-db N         Redis db of db_proxy's unread pool (default 1)
  --json                print the result as JSON
";

const CLEAN_HELP: &str = "\
Usage: tt-load clean [flags]

Deletes the users and groups of a prefix, with their messages, sessions, relations and the
Redis keys db_proxy keeps for them.

  --prefix NAME --mysql-url URL --redis-url URL --group-member-db N --unread-db N --json
";

const COMMON_HELP: &str = "\
Target and users:
  --login-url URL       login_server discovery URL, asked once (default
                        http://127.0.0.1:8080/msg_server)
  --msg-server ADDR     msg_server address(es) host:port, repeatable or comma-separated;
                        overrides --login-url; users are spread over them round-robin
  --prefix NAME         seeded user-name prefix (default load)
  --password TEXT       password of the seeded users (default tt-load)
  --first N             index of the first seeded user to use (default 0)
  --client-type pc|mobile
  --concurrency C       logins in flight (default 50)
  --login-timeout SECS  a login not answered within this fails (default 30)
  --aes-key KEY         32-character message key (default the sample key)
Measurement and output:
  --pid PID             a server process whose RSS is read before and after (repeatable)
  --loops N             driver event loops (threads), default 1
  --label TEXT          name of this run in reports
  --json                print the result as JSON on stdout
  --out FILE            also write the JSON result to FILE
  --quiet               no progress line
";

const LOGIN_HELP: &str = "\
Usage: tt-load login [flags]

N users log in (TCP connect + IMLoginReq until IMLoginRes), C at a time; every connection
stays logged in until all are done, as real clients would.

  --count N             logins (default 1000)
  --client-type         default pc
";

const MSG_HELP: &str = "\
Usage: tt-load msg [flags]

Pairs of users (<prefix>_<first+2i> sends to <prefix>_<first+2i+1>) exchange encrypted text
messages; receivers acknowledge each delivery as real clients do. Each message carries its
stream and sequence number: loss, duplicates and reordering are counted and make the run
exit non-zero.

  --pairs P             sender->receiver pairs (default 10)
  --window W            messages in flight per sender (default 1)
  --rate R              messages per second per sender, 0 = as fast as the window allows
                        (default 15: msg_server drops more than 20 per connection per second)
  --seconds S           sending time (default 10)
  --drain S             time allowed after sending stops for acks and deliveries (default 10)
  --client-type         default pc
Client behaviour and checks (msg and group):
  --ack-timeout SECS    a message not acked within this is sent again, with the same
                        create_time and text (default 5)
  --resends N           copies sent again after ack timeouts, per message; 0 = never
                        (default 3); the message counts as acked once whatever answers
  --reconnect           a client whose connection drops asks --login-url for a msg_server
                        again (back-off 0.2 s doubling to 3 s), logs in, sends its unacked
                        messages again and reads the history of its conversations for what
                        it missed; dropped connections then do not fail the run
  --check-mysql URL     after the run, read the stored rows of the run's messages from this
                        database: every acked message must have exactly one row, none two,
                        and no msg id may repeat within a conversation
";

const GROUP_HELP: &str = "\
Usage: tt-load group [flags]

G members of one group (<prefix>_<first> .. <prefix>_<first+G-1>, as `seed --groups` makes
them) log in; the first K send group text messages; every member acknowledges each delivery.

  --group-id ID         the group (required)
  --members G           members to log in (default 50)
  --senders K           members that send (default 5)
  --window W --rate R --seconds S --drain S   as for msg
  --ack-timeout SECS --resends N --reconnect --check-mysql URL   as for msg
  --client-type         default pc
";

const IDLE_HELP: &str = "\
Usage: tt-load idle [flags]

N users log in and stay connected, sending a heartbeat every 30 s as clients do, for S
seconds. With --pid, each server's RSS is read before the logins and at the end of the hold:
the difference divided by N is the memory one logged-in connection costs.

  --conns N             connections (default 1000)
  --seconds S           hold time (default 60)
  --client-type         default mobile (PC logins broadcast presence to every PC connection)
";

const REPORT_HELP: &str = "\
Usage: tt-load report [flags] RESULT.json...

Writes <out>/report.md (one table per scenario) and SVG charts: latency percentiles of every
run, and acked msgs/s against pairs for the msg runs (one curve per label series).

  --out DIR             output directory (default .)
  --title TEXT          heading of the report
";

/// Which kind of client logs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientKind {
    /// Windows client type (0x01): gets presence notifications, 120-s server timeout.
    Pc,
    /// Android client type (0x12): no presence, 300-s server timeout.
    Mobile,
}

impl ClientKind {
    /// The name used on the command line and in results.
    pub fn name(self) -> &'static str {
        match self {
            Self::Pc => "pc",
            Self::Mobile => "mobile",
        }
    }
}

/// Where the load goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Ask login_server's HTTP API once for a msg_server.
    LoginUrl(String),
    /// These msg_servers, users spread over them round-robin.
    MsgServers(Vec<SocketAddr>),
}

/// Which seeded users a run logs in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Users {
    /// User-name prefix.
    pub prefix: String,
    /// Plaintext password.
    pub password: String,
    /// Index of the first user.
    pub first: u32,
}

impl Users {
    /// Login name of user `index` relative to `first`.
    pub fn name(&self, index: u32) -> String {
        user_name(&self.prefix, self.first + index)
    }
}

/// Login name of seeded user `index`.
pub fn user_name(prefix: &str, index: u32) -> String {
    format!("{prefix}_{index}")
}

/// Message traffic of the msg and group scenarios.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Traffic {
    /// Messages in flight per sender.
    pub window: u32,
    /// Messages per second per sender; 0 = window-limited only.
    pub rate: f64,
    /// Sending time in seconds.
    pub seconds: f64,
    /// Time allowed for outstanding acks and deliveries after sending stops.
    pub drain: f64,
    /// Seconds without an ack after which a message is sent again.
    pub ack_timeout: f64,
    /// Copies sent again after ack timeouts, per message.
    pub resends: u32,
}

/// The scenario of a load run with its own parameters.
#[derive(Debug, Clone, PartialEq)]
pub enum Scenario {
    /// `count` logins.
    Login {
        /// Number of logins.
        count: u32,
    },
    /// 1:1 pairs.
    Msg {
        /// Number of sender→receiver pairs.
        pairs: u32,
        /// Sending pattern.
        traffic: Traffic,
    },
    /// One group.
    Group {
        /// Group id.
        group_id: u32,
        /// Members logged in.
        members: u32,
        /// Members that send.
        senders: u32,
        /// Sending pattern.
        traffic: Traffic,
    },
    /// Idle connections.
    Idle {
        /// Number of connections.
        conns: u32,
        /// Hold time in seconds.
        seconds: f64,
    },
}

impl Scenario {
    /// The scenario's name as on the command line.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Login { .. } => "login",
            Self::Msg { .. } => "msg",
            Self::Group { .. } => "group",
            Self::Idle { .. } => "idle",
        }
    }

    /// How many users log in.
    pub fn user_count(&self) -> u32 {
        match *self {
            Self::Login { count } => count,
            Self::Msg { pairs, .. } => pairs * 2,
            Self::Group { members, .. } => members,
            Self::Idle { conns, .. } => conns,
        }
    }
}

/// Everything a load run needs.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOptions {
    /// Scenario and its parameters.
    pub scenario: Scenario,
    /// Where to connect.
    pub target: Target,
    /// Which users.
    pub users: Users,
    /// Client type of every connection.
    pub client: ClientKind,
    /// Logins in flight.
    pub concurrency: usize,
    /// Seconds a login may take.
    pub login_timeout: f64,
    /// AES key of message texts.
    pub aes_key: [u8; 32],
    /// Server processes whose RSS is sampled.
    pub pids: Vec<u32>,
    /// Driver event loops.
    pub loops: usize,
    /// Run label for reports.
    pub label: String,
    /// Print JSON instead of the table.
    pub json: bool,
    /// Also write the JSON result here.
    pub out: Option<PathBuf>,
    /// No progress line.
    pub quiet: bool,
    /// login_server discovery URL a dropped client reconnects through (`--reconnect`).
    pub reconnect: Option<String>,
    /// Database whose stored rows are checked after the run (`--check-mysql`).
    pub check_mysql: Option<String>,
}

/// Where seeded data lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Storage {
    /// MySQL URL including the database.
    pub mysql_url: String,
    /// Redis URL (the db is chosen per key kind).
    pub redis_url: String,
    /// Redis db of the `group_member` pool.
    pub group_member_db: i64,
    /// Redis db of the `unread` pool.
    pub unread_db: i64,
}

/// `seed` options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedOptions {
    /// Databases.
    pub storage: Storage,
    /// User-name prefix.
    pub prefix: String,
    /// Password of every user.
    pub password: String,
    /// Users to create.
    pub users: u32,
    /// Groups to create.
    pub groups: u32,
    /// Members per group.
    pub group_size: u32,
    /// Print JSON.
    pub json: bool,
}

/// `clean` options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CleanOptions {
    /// Databases.
    pub storage: Storage,
    /// User-name prefix.
    pub prefix: String,
    /// Print JSON.
    pub json: bool,
}

/// `report` options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportOptions {
    /// Result files.
    pub inputs: Vec<PathBuf>,
    /// Output directory.
    pub out: PathBuf,
    /// Report heading.
    pub title: String,
}

/// A parsed command line.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Print this help text and exit successfully.
    Help(String),
    /// Create users and groups.
    Seed(SeedOptions),
    /// Delete users and groups.
    Clean(CleanOptions),
    /// Run a load scenario.
    Run(Box<RunOptions>),
    /// Build a report.
    Report(ReportOptions),
}

const SWITCHES: &[&str] = &["json", "quiet", "help", "reconnect"];
const STORAGE_FLAGS: &[&str] = &[
    "prefix",
    "mysql-url",
    "redis-url",
    "group-member-db",
    "unread-db",
];
const RUN_FLAGS: &[&str] = &[
    "login-url",
    "msg-server",
    "prefix",
    "password",
    "first",
    "client-type",
    "concurrency",
    "login-timeout",
    "aes-key",
    "pid",
    "loops",
    "label",
    "out",
];
const TRAFFIC_FLAGS: &[&str] = &[
    "window",
    "rate",
    "seconds",
    "drain",
    "ack-timeout",
    "resends",
    "check-mysql",
];

/// Flags and positional arguments of one command line, consumed by typed getters.
#[derive(Debug, Default)]
struct Flags {
    values: BTreeMap<String, Vec<String>>,
    switches: Vec<String>,
    positional: Vec<String>,
}

impl Flags {
    fn parse(args: &[String], value_flags: &[&str]) -> Result<Self> {
        let mut flags = Self::default();
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            let Some(name) = arg.strip_prefix("--") else {
                flags.positional.push(arg.clone());
                continue;
            };
            let (name, inline) = match name.split_once('=') {
                Some((n, v)) => (n, Some(v.to_owned())),
                None => (name, None),
            };
            if SWITCHES.contains(&name) {
                if inline.is_some() {
                    bail!("--{name} takes no value");
                }
                flags.switches.push(name.to_owned());
            } else if value_flags.contains(&name) {
                let value = match inline {
                    Some(v) => v,
                    None => it
                        .next()
                        .with_context(|| format!("--{name} needs a value"))?
                        .clone(),
                };
                flags.values.entry(name.to_owned()).or_default().push(value);
            } else {
                bail!("unknown flag --{name}");
            }
        }
        Ok(flags)
    }

    fn switch(&self, name: &str) -> bool {
        self.switches.iter().any(|s| s == name)
    }

    fn text(&self, name: &str) -> Option<&str> {
        self.values
            .get(name)
            .and_then(|v| v.last())
            .map(String::as_str)
    }

    fn text_or(&self, name: &str, default: &str) -> String {
        self.text(name).unwrap_or(default).to_owned()
    }

    /// Every value of a repeatable, comma-separated flag.
    fn list(&self, name: &str) -> Vec<String> {
        self.values
            .get(name)
            .into_iter()
            .flatten()
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
            .collect()
    }

    fn num<T: std::str::FromStr>(&self, name: &str, default: T) -> Result<T> {
        match self.text(name) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|_| anyhow::anyhow!("--{name}: {v:?} is not a valid number")),
        }
    }

    fn positive<T: std::str::FromStr + PartialOrd + Default + Copy>(
        &self,
        name: &str,
        default: T,
    ) -> Result<T> {
        let v = self.num(name, default)?;
        if v <= T::default() {
            bail!("--{name} must be greater than 0");
        }
        Ok(v)
    }

    fn non_negative(&self, name: &str, default: f64) -> Result<f64> {
        let v: f64 = self.num(name, default)?;
        if !v.is_finite() || v < 0.0 {
            bail!("--{name} must be 0 or more");
        }
        Ok(v)
    }
}

/// Parses the arguments after the program name.
pub fn parse(args: &[String]) -> Result<Command> {
    let Some((command, rest)) = args.split_first() else {
        return Ok(Command::Help(TOP_HELP.to_owned()));
    };
    let help_text = match command.as_str() {
        "-h" | "--help" | "help" => return Ok(Command::Help(TOP_HELP.to_owned())),
        "seed" => SEED_HELP.to_owned(),
        "clean" => CLEAN_HELP.to_owned(),
        "report" => REPORT_HELP.to_owned(),
        "login" => run_help(LOGIN_HELP),
        "msg" => run_help(MSG_HELP),
        "group" => run_help(GROUP_HELP),
        "idle" => run_help(IDLE_HELP),
        other => bail!("unknown command {other:?} (try tt-load --help)"),
    };
    if rest.iter().any(|a| a == "--help" || a == "-h") {
        return Ok(Command::Help(help_text));
    }
    match command.as_str() {
        "seed" => parse_seed(rest),
        "clean" => parse_clean(rest),
        "report" => parse_report(rest),
        scenario => parse_run(scenario, rest).map(|o| Command::Run(Box::new(o))),
    }
}

/// The help text of a load command, with the flags all load commands share.
fn run_help(scenario_help: &str) -> String {
    format!("{scenario_help}\n{COMMON_HELP}")
}

fn no_positional(flags: &Flags) -> Result<()> {
    match flags.positional.first() {
        Some(p) => bail!("unexpected argument {p:?}"),
        None => Ok(()),
    }
}

fn prefix(flags: &Flags) -> Result<String> {
    let prefix = flags.text_or("prefix", DEFAULT_PREFIX);
    if prefix.is_empty()
        || prefix.len() > MAX_PREFIX_LEN
        || !prefix.chars().all(|c| c.is_ascii_alphanumeric())
    {
        bail!("--prefix must be 1 to {MAX_PREFIX_LEN} ASCII letters and digits, got {prefix:?}");
    }
    Ok(prefix)
}

fn storage(flags: &Flags) -> Result<Storage> {
    Ok(Storage {
        mysql_url: flags.text_or("mysql-url", DEFAULT_MYSQL_URL),
        redis_url: flags.text_or("redis-url", DEFAULT_REDIS_URL),
        group_member_db: flags.num("group-member-db", DEFAULT_GROUP_MEMBER_DB)?,
        unread_db: flags.num("unread-db", DEFAULT_UNREAD_DB)?,
    })
}

fn parse_seed(args: &[String]) -> Result<Command> {
    let value_flags: Vec<&str> = STORAGE_FLAGS
        .iter()
        .copied()
        .chain(["password", "users", "groups", "group-size"])
        .collect();
    let flags = Flags::parse(args, &value_flags)?;
    no_positional(&flags)?;
    let users: u32 = flags.num("users", 100)?;
    let groups: u32 = flags.num("groups", 0)?;
    let group_size: u32 = flags.positive("group-size", 50)?;
    if u64::from(groups) * u64::from(group_size) > u64::from(users) {
        bail!("--groups {groups} of --group-size {group_size} need at least that many --users");
    }
    Ok(Command::Seed(SeedOptions {
        storage: storage(&flags)?,
        prefix: prefix(&flags)?,
        password: flags.text_or("password", DEFAULT_PASSWORD),
        users,
        groups,
        group_size,
        json: flags.switch("json"),
    }))
}

fn parse_clean(args: &[String]) -> Result<Command> {
    let flags = Flags::parse(args, STORAGE_FLAGS)?;
    no_positional(&flags)?;
    Ok(Command::Clean(CleanOptions {
        storage: storage(&flags)?,
        prefix: prefix(&flags)?,
        json: flags.switch("json"),
    }))
}

fn parse_report(args: &[String]) -> Result<Command> {
    let flags = Flags::parse(args, &["out", "title"])?;
    if flags.positional.is_empty() {
        bail!("report needs at least one result file");
    }
    Ok(Command::Report(ReportOptions {
        inputs: flags.positional.iter().map(PathBuf::from).collect(),
        out: PathBuf::from(flags.text_or("out", ".")),
        title: flags.text_or("title", "tt-load results"),
    }))
}

fn traffic(flags: &Flags) -> Result<Traffic> {
    let window: u32 = flags.positive("window", 1)?;
    if window > MAX_WINDOW {
        bail!("--window must be at most {MAX_WINDOW}");
    }
    Ok(Traffic {
        window,
        rate: flags.non_negative("rate", DEFAULT_RATE)?,
        seconds: flags.positive("seconds", 10.0)?,
        drain: flags.non_negative("drain", 10.0)?,
        ack_timeout: flags.positive("ack-timeout", DEFAULT_ACK_TIMEOUT)?,
        resends: flags.num("resends", DEFAULT_RESENDS)?,
    })
}

fn parse_run(scenario: &str, args: &[String]) -> Result<RunOptions> {
    let extra: &[&str] = match scenario {
        "login" => &["count"],
        "msg" => &["pairs"],
        "group" => &["group-id", "members", "senders"],
        _ => &["conns", "seconds"],
    };
    let mut value_flags: Vec<&str> = RUN_FLAGS.iter().chain(extra).copied().collect();
    if matches!(scenario, "msg" | "group") {
        value_flags.extend(TRAFFIC_FLAGS);
    }
    let flags = Flags::parse(args, &value_flags)?;
    no_positional(&flags)?;

    let (scenario, default_client) = match scenario {
        "login" => (
            Scenario::Login {
                count: flags.positive("count", 1000)?,
            },
            ClientKind::Pc,
        ),
        "msg" => (
            Scenario::Msg {
                pairs: flags.positive("pairs", 10)?,
                traffic: traffic(&flags)?,
            },
            ClientKind::Pc,
        ),
        "group" => {
            let group_id = flags
                .text("group-id")
                .context("--group-id is required (see `tt-load seed --groups`)")?;
            let members: u32 = flags.positive("members", 50)?;
            let senders: u32 = flags.positive("senders", 5)?;
            if senders > members {
                bail!("--senders {senders} is more than --members {members}");
            }
            (
                Scenario::Group {
                    group_id: group_id
                        .parse()
                        .map_err(|_| anyhow::anyhow!("--group-id: {group_id:?} is not a number"))?,
                    members,
                    senders,
                    traffic: traffic(&flags)?,
                },
                ClientKind::Pc,
            )
        }
        _ => (
            Scenario::Idle {
                conns: flags.positive("conns", 1000)?,
                seconds: flags.positive("seconds", 60.0)?,
            },
            ClientKind::Mobile,
        ),
    };

    if flags.switch("reconnect")
        && !matches!(scenario, Scenario::Msg { .. } | Scenario::Group { .. })
    {
        bail!("--reconnect applies to msg and group runs");
    }
    let reconnect = flags
        .switch("reconnect")
        .then(|| flags.text_or("login-url", DEFAULT_LOGIN_URL));
    let servers = flags.list("msg-server");
    let target = if servers.is_empty() {
        Target::LoginUrl(flags.text_or("login-url", DEFAULT_LOGIN_URL))
    } else {
        Target::MsgServers(
            servers
                .iter()
                .map(|s| {
                    // Host names (localhost:8000) are resolved once, here.
                    s.to_socket_addrs()
                        .ok()
                        .and_then(|mut a| a.next())
                        .with_context(|| format!("--msg-server: {s:?} is not host:port"))
                })
                .collect::<Result<_>>()?,
        )
    };
    let client = match flags.text("client-type") {
        None => default_client,
        Some("pc") => ClientKind::Pc,
        Some("mobile") => ClientKind::Mobile,
        Some(other) => bail!("--client-type must be pc or mobile, got {other:?}"),
    };
    let key = flags.text_or("aes-key", "12345678901234567890123456789012");
    let aes_key: [u8; 32] = key
        .as_bytes()
        .try_into()
        .map_err(|_| anyhow::anyhow!("--aes-key must be exactly 32 bytes"))?;
    let pids = flags
        .list("pid")
        .iter()
        .map(|p| {
            p.parse()
                .map_err(|_| anyhow::anyhow!("--pid: {p:?} is not a process id"))
        })
        .collect::<Result<_>>()?;
    let label = match flags.text("label") {
        Some(l) => l.to_owned(),
        None => default_label(&scenario, client),
    };
    Ok(RunOptions {
        target,
        users: Users {
            prefix: prefix(&flags)?,
            password: flags.text_or("password", DEFAULT_PASSWORD),
            first: flags.num("first", 0)?,
        },
        client,
        concurrency: flags.positive("concurrency", DEFAULT_CONCURRENCY)?,
        login_timeout: flags.positive("login-timeout", 30.0)?,
        aes_key,
        pids,
        loops: flags.positive("loops", 1)?,
        label,
        json: flags.switch("json"),
        out: flags.text("out").map(PathBuf::from),
        quiet: flags.switch("quiet"),
        reconnect,
        check_mysql: flags.text("check-mysql").map(str::to_owned),
        scenario,
    })
}

/// The label a run gets without `--label`: its scenario and the parameters that name a series.
pub fn default_label(scenario: &Scenario, client: ClientKind) -> String {
    match scenario {
        Scenario::Login { .. } => format!("login {}", client.name()),
        Scenario::Msg { traffic, .. } => format!("msg w={} r={}", traffic.window, traffic.rate),
        Scenario::Group {
            members, senders, ..
        } => format!("group G={members} K={senders}"),
        Scenario::Idle { .. } => format!("idle {}", client.name()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_owned).collect()
    }

    fn run(line: &str) -> RunOptions {
        match parse(&args(line)).unwrap() {
            Command::Run(o) => *o,
            other => panic!("not a run: {other:?}"),
        }
    }

    fn error(line: &str) -> String {
        parse(&args(line)).unwrap_err().to_string()
    }

    #[test]
    fn msg_defaults_follow_the_documented_values() {
        let o = run("msg");
        assert_eq!(
            o.scenario,
            Scenario::Msg {
                pairs: 10,
                traffic: Traffic {
                    window: 1,
                    rate: 15.0,
                    seconds: 10.0,
                    drain: 10.0,
                    ack_timeout: 5.0,
                    resends: 3,
                }
            }
        );
        assert_eq!(o.target, Target::LoginUrl(DEFAULT_LOGIN_URL.into()));
        assert_eq!(o.client, ClientKind::Pc);
        assert_eq!(o.users.name(3), "load_3");
        assert_eq!(o.concurrency, 50);
        assert_eq!(o.loops, 1);
        assert_eq!(o.label, "msg w=1 r=15");
        assert!(!o.json && !o.quiet);
    }

    #[test]
    fn values_may_follow_an_equals_sign_or_the_next_argument() {
        let o = run("msg --pairs=100 --window 16 --rate=0 --seconds 30 --json --label x");
        assert_eq!(
            o.scenario,
            Scenario::Msg {
                pairs: 100,
                traffic: Traffic {
                    window: 16,
                    rate: 0.0,
                    seconds: 30.0,
                    drain: 10.0,
                    ack_timeout: 5.0,
                    resends: 3,
                }
            }
        );
        assert!(o.json);
        assert_eq!(o.label, "x");
    }

    #[test]
    fn msg_servers_may_be_repeated_or_comma_separated() {
        let o = run("msg --msg-server 127.0.0.1:8000,127.0.0.1:8001 --msg-server 127.0.0.1:8002");
        let Target::MsgServers(list) = o.target else {
            panic!("expected msg servers");
        };
        assert_eq!(list.len(), 3);
        assert_eq!(list[2].port(), 8002);
        let o = run("msg --msg-server localhost:8003");
        let Target::MsgServers(list) = o.target else {
            panic!("expected msg servers");
        };
        assert_eq!(list[0].port(), 8003);
        assert!(list[0].ip().is_loopback());
    }

    #[test]
    fn pids_are_collected_from_every_occurrence() {
        let o = run("idle --pid 10,11 --pid 12");
        assert_eq!(o.pids, vec![10, 11, 12]);
        assert_eq!(o.client, ClientKind::Mobile);
    }

    #[test]
    fn group_requires_its_id_and_no_more_senders_than_members() {
        assert!(error("group").contains("--group-id"));
        assert!(error("group --group-id 3 --members 5 --senders 6").contains("--senders"));
        let o = run("group --group-id 3 --members 500 --senders 15 --client-type mobile");
        assert_eq!(o.client, ClientKind::Mobile);
        assert!(matches!(
            o.scenario,
            Scenario::Group {
                group_id: 3,
                members: 500,
                senders: 15,
                ..
            }
        ));
        assert_eq!(o.scenario.user_count(), 500);
    }

    #[test]
    fn mistakes_name_the_flag() {
        assert!(error("msg --pairs").contains("--pairs needs a value"));
        assert!(error("msg --pairs ten").contains("--pairs"));
        assert!(error("msg --pairs 0").contains("--pairs must be greater than 0"));
        assert!(error("msg --window 20000").contains("--window"));
        assert!(error("msg --rate -1").contains("--rate"));
        assert!(error("msg --conns 5").contains("unknown flag --conns"));
        assert!(error("login --client-type tablet").contains("--client-type"));
        assert!(error("login --aes-key short").contains("--aes-key"));
        assert!(error("login --msg-server nowhere").contains("--msg-server"));
        assert!(error("login --prefix a_b").contains("--prefix"));
        assert!(error("login --json=1").contains("--json takes no value"));
        assert!(error("login extra").contains("unexpected argument"));
        assert!(error("explode").contains("unknown command"));
    }

    #[test]
    fn help_is_available_for_every_command() {
        assert_eq!(parse(&[]).unwrap(), Command::Help(TOP_HELP.to_owned()));
        assert_eq!(
            parse(&args("--help")).unwrap(),
            Command::Help(TOP_HELP.to_owned())
        );
        for cmd in ["seed", "clean", "login", "msg", "group", "idle", "report"] {
            let Command::Help(text) = parse(&args(&format!("{cmd} --pairs x --help"))).unwrap()
            else {
                panic!("no help for {cmd}");
            };
            assert!(text.contains(&format!("tt-load {cmd}")), "{cmd}");
        }
        let Command::Help(text) = parse(&args("msg --help")).unwrap() else {
            panic!("no help");
        };
        assert!(text.contains("--msg-server"), "common flags missing");
    }

    #[test]
    fn seed_checks_that_groups_fit_in_the_users() {
        let Command::Seed(o) = parse(&args(
            "seed --users 1000 --groups 2 --group-size 500 --prefix b1",
        ))
        .unwrap() else {
            panic!("not seed");
        };
        assert_eq!((o.users, o.groups, o.group_size), (1000, 2, 500));
        assert_eq!(o.prefix, "b1");
        assert_eq!(o.storage.group_member_db, 5);
        assert_eq!(o.storage.unread_db, 1);
        assert!(error("seed --users 10 --groups 1 --group-size 11").contains("--users"));
    }

    #[test]
    fn report_takes_files_and_an_output_directory() {
        let Command::Report(o) = parse(&args("report a.json b.json --out charts")).unwrap() else {
            panic!("not report");
        };
        assert_eq!(
            o.inputs,
            vec![PathBuf::from("a.json"), PathBuf::from("b.json")]
        );
        assert_eq!(o.out, PathBuf::from("charts"));
        assert!(error("report").contains("at least one"));
    }

    #[test]
    fn resend_and_reconnect_flags_are_parsed() {
        let o = run(
            "msg --msg-server 127.0.0.1:1 --login-url http://127.0.0.1:2/msg_server \
             --reconnect --ack-timeout 1.5 --resends 0 --check-mysql mysql://x/y",
        );
        let Scenario::Msg { traffic, .. } = o.scenario else {
            panic!("not msg");
        };
        assert_eq!((traffic.ack_timeout, traffic.resends), (1.5, 0));
        assert_eq!(
            o.reconnect.as_deref(),
            Some("http://127.0.0.1:2/msg_server")
        );
        assert_eq!(o.check_mysql.as_deref(), Some("mysql://x/y"));
        assert_eq!(run("group --group-id 3").reconnect, None);
        assert!(error("idle --reconnect").contains("--reconnect"));
        assert!(error("msg --ack-timeout 0").contains("--ack-timeout"));
        assert!(error("login --resends 2").contains("--resends"));
    }

    #[test]
    fn first_offsets_user_names() {
        let o = run("login --first 100 --prefix x --count 5");
        assert_eq!(o.users.name(0), "x_100");
        assert_eq!(o.scenario.user_count(), 5);
    }
}
