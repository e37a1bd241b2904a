//! The `tt-load` command line (clap derive): subcommands, their flags, defaults and help
//! texts, turned into the typed options the runs take.
//!
//! Parsing is strict: an unknown flag, a missing value or a value that does not parse is an
//! error naming the flag, so a typo never silently runs a different benchmark. Flags take
//! their value as the next argument or after `=` (`--pairs 10`, `--pairs=10`); list flags may
//! be repeated or comma-separated.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};

use crate::transport::{TransportKind, TransportOptions};

/// Default login_server discovery URL of the sample configuration.
pub const DEFAULT_LOGIN_URL: &str = "http://127.0.0.1:8080/msg_server";
/// Default MySQL URL: a database of its own, never the demo organisation's `teamtalk`
/// (seeding and `clean` write to it; the scripts pass `--mysql-url` explicitly).
pub const DEFAULT_MYSQL_URL: &str = "mysql://root@127.0.0.1:3306/teamtalk_load";
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

/// Which kind of client logs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
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
    /// What the client connections carry their PDUs over.
    pub transport: TransportOptions,
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
    /// Print the completion script of this shell.
    Completions(clap_complete::Shell),
    /// Create users and groups.
    Seed(SeedOptions),
    /// Delete users and groups.
    Clean(CleanOptions),
    /// Run a load scenario.
    Run(Box<RunOptions>),
    /// Build a report.
    Report(ReportOptions),
}

const ABOUT: &str =
    "tt-load: load generator for TeamTalk clusters (teamtalk-rs or the C++ original)";

const SEED_ABOUT: &str = "\
Creates users <prefix>_0 .. <prefix>_<N-1> with one password (stored salted as the original
does: md5hex(md5hex(password) || salt)); users that already exist are kept. With --groups K,
creates groups <prefix>_g0 .. (normal groups; group j holds users j*G .. j*G+G-1) in IMGroup,
IMGroupMember and the Redis group_member hash.";

const CLEAN_ABOUT: &str = "\
Deletes the users and groups of a prefix, with their messages, sessions, relations and the
Redis keys db_proxy keeps for them.";

const LOGIN_ABOUT: &str = "\
N users log in (TCP connect + IMLoginReq until IMLoginRes), C at a time; every connection
stays logged in until all are done, as real clients would.";

const MSG_ABOUT: &str = "\
Pairs of users (<prefix>_<first+2i> sends to <prefix>_<first+2i+1>) exchange encrypted text
messages; receivers acknowledge each delivery as real clients do. Each message carries its
stream and sequence number: loss, duplicates and reordering are counted and make the run
exit non-zero.";

const GROUP_ABOUT: &str = "\
G members of one group (<prefix>_<first> .. <prefix>_<first+G-1>, as `seed --groups` makes
them) log in; the first K send group text messages; every member acknowledges each delivery.";

const IDLE_ABOUT: &str = "\
N users log in and stay connected, sending a heartbeat every 30 s as clients do, for S
seconds. With --pid, each server's RSS is read before the logins and at the end of the hold:
the difference divided by N is the memory one logged-in connection costs.";

const REPORT_ABOUT: &str = "\
Writes <out>/report.md (one table per scenario) and SVG charts: latency percentiles of every
run, and acked msgs/s against pairs for the msg runs (one curve per label series).";

/// The whole command line.
#[derive(Debug, Parser)]
#[command(name = "tt-load", version, about = ABOUT, arg_required_else_help = true)]
struct Cli {
    #[command(subcommand)]
    command: Sub,
}

#[derive(Debug, Subcommand)]
enum Sub {
    /// create benchmark users (and groups) directly in MySQL and Redis
    #[command(long_about = SEED_ABOUT)]
    Seed(SeedArgs),
    /// delete the users and groups of a prefix and everything the servers stored for them
    #[command(long_about = CLEAN_ABOUT)]
    Clean(CleanArgs),
    /// N logins at concurrency C: logins/s and latency
    #[command(long_about = LOGIN_ABOUT)]
    Login(LoginArgs),
    /// P sender->receiver pairs for S seconds: acked/delivered msgs/s, latency, loss
    #[command(long_about = MSG_ABOUT)]
    Msg(MsgArgs),
    /// K senders in one group of G online members: fan-out deliveries/s and latency
    #[command(long_about = GROUP_ABOUT)]
    Group(GroupArgs),
    /// N logged-in connections heartbeating for S seconds: server RSS per connection
    #[command(long_about = IDLE_ABOUT)]
    Idle(IdleArgs),
    /// turn JSON results into a markdown table and SVG charts
    #[command(long_about = REPORT_ABOUT)]
    Report(ReportArgs),
    /// print a shell completion script (bash, zsh, fish, elvish, powershell)
    Completions {
        /// the shell
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Args)]
struct StorageArgs {
    /// user-name prefix, letters and digits
    #[arg(long, value_name = "NAME", default_value = DEFAULT_PREFIX, value_parser = parse_prefix)]
    prefix: String,
    /// MySQL URL, with the database
    #[arg(long, value_name = "URL", default_value = DEFAULT_MYSQL_URL)]
    mysql_url: String,
    /// Redis URL
    #[arg(long, value_name = "URL", default_value = DEFAULT_REDIS_URL)]
    redis_url: String,
    /// Redis db of db_proxy's group_member pool
    #[arg(long, value_name = "N", default_value_t = DEFAULT_GROUP_MEMBER_DB)]
    group_member_db: i64,
    /// Redis db of db_proxy's unread pool
    #[arg(long, value_name = "N", default_value_t = DEFAULT_UNREAD_DB)]
    unread_db: i64,
    /// print the result as JSON
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct SeedArgs {
    #[command(flatten)]
    storage: StorageArgs,
    /// password of every user
    #[arg(long, value_name = "TEXT", default_value = DEFAULT_PASSWORD)]
    password: String,
    /// users to create
    #[arg(long, value_name = "N", default_value_t = 100)]
    users: u32,
    /// groups to create
    #[arg(long, value_name = "K", default_value_t = 0)]
    groups: u32,
    /// members per group
    #[arg(long, value_name = "G", default_value_t = 50, value_parser = positive_u32())]
    group_size: u32,
}

#[derive(Debug, Args)]
struct CleanArgs {
    #[command(flatten)]
    storage: StorageArgs,
}

/// Target, users, measurement and output: the flags every load command shares.
#[derive(Debug, Args)]
#[command(next_help_heading = "Target, users and output")]
struct CommonArgs {
    /// login_server discovery URL, asked once
    #[arg(long, value_name = "URL", default_value = DEFAULT_LOGIN_URL)]
    login_url: String,
    /// msg_server address(es) host:port, repeatable or comma-separated; overrides
    /// --login-url; users are spread over them round-robin
    #[arg(long, value_name = "ADDR", value_delimiter = ',', value_parser = parse_addr)]
    msg_server: Vec<SocketAddr>,
    /// seeded user-name prefix
    #[arg(long, value_name = "NAME", default_value = DEFAULT_PREFIX, value_parser = parse_prefix)]
    prefix: String,
    /// password of the seeded users
    #[arg(long, value_name = "TEXT", default_value = DEFAULT_PASSWORD)]
    password: String,
    /// index of the first seeded user to use
    #[arg(long, value_name = "N", default_value_t = 0)]
    first: u32,
    /// client type [default: pc; idle: mobile, as PC logins broadcast presence to every PC]
    #[arg(long, value_enum, value_name = "TYPE")]
    client_type: Option<ClientKind>,
    /// what the clients reach msg_server over; with --login-url the advertised port of that
    /// transport is used, a --msg-server address is used as given
    #[arg(long, value_enum, value_name = "KIND", default_value_t = TransportKind::Plain)]
    transport: TransportKind,
    /// PEM file of the CA to trust for tls and wss [default: the public web roots]
    #[arg(long, value_name = "PATH")]
    ca: Option<PathBuf>,
    /// name msg_server's certificate must carry [default: the IP address connected to]
    #[arg(long, value_name = "NAME")]
    tls_name: Option<String>,
    /// WebSocket request path for ws and wss [default: login_server's wsPath, else /ws]
    #[arg(long, value_name = "PATH")]
    ws_path: Option<String>,
    /// logins in flight
    #[arg(long, value_name = "C", default_value_t = DEFAULT_CONCURRENCY,
          value_parser = positive_usize())]
    concurrency: usize,
    /// a login not answered within this many seconds fails
    #[arg(long, value_name = "SECS", default_value_t = 30.0, value_parser = positive_f64)]
    login_timeout: f64,
    /// 32-character message key [default: the sample key]
    #[arg(long, value_name = "KEY", value_parser = parse_aes_key)]
    aes_key: Option<[u8; 32]>,
    /// a server process whose RSS is read before and after (repeatable, comma-separated)
    #[arg(long, value_name = "PID", value_delimiter = ',')]
    pid: Vec<u32>,
    /// driver event loops (threads)
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = positive_usize())]
    loops: usize,
    /// name of this run in reports
    #[arg(long, value_name = "TEXT")]
    label: Option<String>,
    /// print the result as JSON on stdout
    #[arg(long)]
    json: bool,
    /// also write the JSON result to FILE
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// no progress line
    #[arg(long)]
    quiet: bool,
}

/// The sending pattern and client behaviour of msg and group runs.
#[derive(Debug, Args)]
#[command(next_help_heading = "Traffic, client behaviour and checks")]
struct TrafficArgs {
    /// messages in flight per sender
    #[arg(long, value_name = "W", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_WINDOW)))]
    window: u32,
    /// messages per second per sender, 0 = as fast as the window allows (the default stays
    /// under msg_server's limit of 20 per connection per second)
    #[arg(long, value_name = "R", default_value_t = DEFAULT_RATE, value_parser = non_negative_f64,
          allow_negative_numbers = true)]
    rate: f64,
    /// sending time, seconds
    #[arg(long, value_name = "S", default_value_t = 10.0, value_parser = positive_f64)]
    seconds: f64,
    /// time allowed after sending stops for acks and deliveries, seconds
    #[arg(long, value_name = "S", default_value_t = 10.0, value_parser = non_negative_f64,
          allow_negative_numbers = true)]
    drain: f64,
    /// a message not acked within this is sent again, with the same create_time and text
    #[arg(long, value_name = "SECS", default_value_t = DEFAULT_ACK_TIMEOUT,
          value_parser = positive_f64)]
    ack_timeout: f64,
    /// copies sent again after ack timeouts, per message; 0 = never (the message counts as
    /// acked once whatever answers)
    #[arg(long, value_name = "N", default_value_t = DEFAULT_RESENDS)]
    resends: u32,
    /// a client whose connection drops asks --login-url for a msg_server again (back-off
    /// 0.2 s doubling to 3 s), logs in, sends its unacked messages again and reads the history
    /// of its conversations for what it missed; dropped connections then do not fail the run
    #[arg(long)]
    reconnect: bool,
    /// after the run, read the stored rows of the run's messages from this database: every
    /// acked message must have exactly one row, none two, and no msg id may repeat within a
    /// conversation
    #[arg(long, value_name = "URL")]
    check_mysql: Option<String>,
}

#[derive(Debug, Args)]
struct LoginArgs {
    /// logins
    #[arg(long, value_name = "N", default_value_t = 1000, value_parser = positive_u32())]
    count: u32,
    #[command(flatten)]
    common: CommonArgs,
}

#[derive(Debug, Args)]
struct MsgArgs {
    /// sender->receiver pairs
    #[arg(long, value_name = "P", default_value_t = 10, value_parser = positive_u32())]
    pairs: u32,
    #[command(flatten)]
    traffic: TrafficArgs,
    #[command(flatten)]
    common: CommonArgs,
}

#[derive(Debug, Args)]
struct GroupArgs {
    /// the group (see `tt-load seed --groups`)
    #[arg(long, value_name = "ID")]
    group_id: u32,
    /// members to log in
    #[arg(long, value_name = "G", default_value_t = 50, value_parser = positive_u32())]
    members: u32,
    /// members that send
    #[arg(long, value_name = "K", default_value_t = 5, value_parser = positive_u32())]
    senders: u32,
    #[command(flatten)]
    traffic: TrafficArgs,
    #[command(flatten)]
    common: CommonArgs,
}

#[derive(Debug, Args)]
struct IdleArgs {
    /// connections
    #[arg(long, value_name = "N", default_value_t = 1000, value_parser = positive_u32())]
    conns: u32,
    /// hold time, seconds
    #[arg(long, value_name = "S", default_value_t = 60.0, value_parser = positive_f64)]
    seconds: f64,
    #[command(flatten)]
    common: CommonArgs,
}

#[derive(Debug, Args)]
struct ReportArgs {
    /// result files
    #[arg(required = true, value_name = "RESULT.json")]
    inputs: Vec<PathBuf>,
    /// output directory
    #[arg(long, value_name = "DIR", default_value = ".")]
    out: PathBuf,
    /// heading of the report
    #[arg(long, value_name = "TEXT", default_value = "tt-load results")]
    title: String,
}

/// The clap definition of the command line (for completions).
pub fn command() -> clap::Command {
    Cli::command()
}

/// Parses the arguments after the program name.
pub fn parse(args: &[String]) -> Result<Command> {
    let argv = std::iter::once("tt-load").chain(args.iter().map(String::as_str));
    let cli = match Cli::try_parse_from(argv) {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            let text = e.render().to_string();
            return match e.kind() {
                ErrorKind::DisplayHelp
                | ErrorKind::DisplayVersion
                | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => Ok(Command::Help(text)),
                _ => bail!(
                    "{}",
                    text.strip_prefix("error: ").unwrap_or(&text).trim_end()
                ),
            };
        }
    };
    Ok(match cli.command {
        Sub::Seed(a) => seed(a)?,
        Sub::Clean(a) => Command::Clean(CleanOptions {
            json: a.storage.json,
            prefix: a.storage.prefix.clone(),
            storage: storage(a.storage),
        }),
        Sub::Report(a) => Command::Report(ReportOptions {
            inputs: a.inputs,
            out: a.out,
            title: a.title,
        }),
        Sub::Completions { shell } => Command::Completions(shell),
        Sub::Login(a) => run(Scenario::Login { count: a.count }, a.common, None)?,
        Sub::Msg(a) => {
            let (traffic, extra) = traffic(a.traffic);
            run(
                Scenario::Msg {
                    pairs: a.pairs,
                    traffic,
                },
                a.common,
                Some(extra),
            )?
        }
        Sub::Group(a) => {
            if a.senders > a.members {
                bail!(
                    "--senders {} is more than --members {}",
                    a.senders,
                    a.members
                );
            }
            let (traffic, extra) = traffic(a.traffic);
            let scenario = Scenario::Group {
                group_id: a.group_id,
                members: a.members,
                senders: a.senders,
                traffic,
            };
            run(scenario, a.common, Some(extra))?
        }
        Sub::Idle(a) => run(
            Scenario::Idle {
                conns: a.conns,
                seconds: a.seconds,
            },
            a.common,
            None,
        )?,
    })
}

fn storage(a: StorageArgs) -> Storage {
    Storage {
        mysql_url: a.mysql_url,
        redis_url: a.redis_url,
        group_member_db: a.group_member_db,
        unread_db: a.unread_db,
    }
}

fn seed(a: SeedArgs) -> Result<Command> {
    if u64::from(a.groups) * u64::from(a.group_size) > u64::from(a.users) {
        bail!(
            "--groups {} of --group-size {} need at least that many --users",
            a.groups,
            a.group_size
        );
    }
    Ok(Command::Seed(SeedOptions {
        json: a.storage.json,
        prefix: a.storage.prefix.clone(),
        storage: storage(a.storage),
        password: a.password,
        users: a.users,
        groups: a.groups,
        group_size: a.group_size,
    }))
}

/// What msg and group runs add beyond the traffic: `--reconnect` and `--check-mysql`.
struct TrafficExtra {
    reconnect: bool,
    check_mysql: Option<String>,
}

fn traffic(a: TrafficArgs) -> (Traffic, TrafficExtra) {
    let traffic = Traffic {
        window: a.window,
        rate: a.rate,
        seconds: a.seconds,
        drain: a.drain,
        ack_timeout: a.ack_timeout,
        resends: a.resends,
    };
    let extra = TrafficExtra {
        reconnect: a.reconnect,
        check_mysql: a.check_mysql,
    };
    (traffic, extra)
}

fn run(scenario: Scenario, c: CommonArgs, extra: Option<TrafficExtra>) -> Result<Command> {
    let default_client = match scenario {
        Scenario::Idle { .. } => ClientKind::Mobile,
        _ => ClientKind::Pc,
    };
    let client = c.client_type.unwrap_or(default_client);
    let (reconnect, check_mysql) = match extra {
        Some(e) => (e.reconnect.then(|| c.login_url.clone()), e.check_mysql),
        None => (None, None),
    };
    let target = if c.msg_server.is_empty() {
        Target::LoginUrl(c.login_url)
    } else {
        Target::MsgServers(c.msg_server)
    };
    let transport = TransportOptions {
        kind: c.transport,
        ca: c.ca,
        tls_name: c.tls_name,
        ws_path: c.ws_path,
    };
    let label = c.label.unwrap_or_else(|| match c.transport {
        TransportKind::Plain => default_label(&scenario, client),
        // Runs over different transports must not share a series in reports.
        other => format!("{} {}", default_label(&scenario, client), other.name()),
    });
    Ok(Command::Run(Box::new(RunOptions {
        target,
        transport,
        users: Users {
            prefix: c.prefix,
            password: c.password,
            first: c.first,
        },
        client,
        concurrency: c.concurrency,
        login_timeout: c.login_timeout,
        aes_key: c.aes_key.unwrap_or(*b"12345678901234567890123456789012"),
        pids: c.pid,
        loops: c.loops,
        label,
        json: c.json,
        out: c.out,
        quiet: c.quiet,
        reconnect,
        check_mysql,
        scenario,
    })))
}

fn parse_prefix(s: &str) -> Result<String, String> {
    if s.is_empty() || s.len() > MAX_PREFIX_LEN || !s.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(format!(
            "must be 1 to {MAX_PREFIX_LEN} ASCII letters and digits"
        ));
    }
    Ok(s.to_owned())
}

/// Host names (localhost:8000) are resolved once, here.
fn parse_addr(s: &str) -> Result<SocketAddr, String> {
    s.to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| "not host:port".to_owned())
}

fn parse_aes_key(s: &str) -> Result<[u8; 32], String> {
    s.as_bytes()
        .try_into()
        .map_err(|_| "must be exactly 32 bytes".to_owned())
}

fn positive_u32() -> clap::builder::RangedU64ValueParser<u32> {
    clap::builder::RangedU64ValueParser::new().range(1..=u64::from(u32::MAX))
}

fn positive_usize() -> clap::builder::RangedU64ValueParser<usize> {
    clap::builder::RangedU64ValueParser::new().range(1..=u64::from(u32::MAX))
}

fn positive_f64(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err("must be a number greater than 0".to_owned()),
    }
}

fn non_negative_f64(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err("must be a number, 0 or more".to_owned()),
    }
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
        assert_eq!(o.transport, TransportOptions::default());
    }

    #[test]
    fn transport_flags_are_parsed_and_name_the_default_label() {
        let o = run("login --transport wss --ca /tmp/ca.pem --tls-name localhost --ws-path /im");
        assert_eq!(
            o.transport,
            TransportOptions {
                kind: TransportKind::Wss,
                ca: Some("/tmp/ca.pem".into()),
                tls_name: Some("localhost".into()),
                ws_path: Some("/im".into()),
            }
        );
        assert_eq!(o.label, "login pc wss");
        assert_eq!(
            run("idle --transport=tcp").transport.kind,
            TransportKind::Plain
        );
        assert_eq!(run("msg --transport tls --label x").label, "x");
        assert!(error("msg --transport quic").contains("--transport"));
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
        assert!(error("msg --pairs").contains("--pairs"));
        assert!(error("msg --pairs ten").contains("--pairs"));
        assert!(error("msg --pairs 0").contains("--pairs"));
        assert!(error("msg --window 20000").contains("--window"));
        assert!(error("msg --rate -1").contains("--rate"));
        assert!(error("msg --conns 5").contains("--conns"));
        assert!(error("login --client-type tablet").contains("--client-type"));
        assert!(error("login --aes-key short").contains("--aes-key"));
        assert!(error("login --msg-server nowhere").contains("--msg-server"));
        assert!(error("login --prefix a_b").contains("--prefix"));
        assert!(error("login --json=1").contains("--json"));
        assert!(error("login extra").contains("unexpected argument"));
        assert!(error("explode").contains("explode"));
        assert!(error("seed --pairs 3").contains("--pairs"));
    }

    #[test]
    fn help_is_available_for_every_command() {
        for line in ["", "--help", "help"] {
            let Command::Help(text) = parse(&args(line)).unwrap() else {
                panic!("no help for {line:?}");
            };
            assert!(text.contains("Usage: tt-load"), "{line:?}: {text}");
            assert!(text.contains("completions"), "{line:?}: {text}");
        }
        for cmd in ["seed", "clean", "login", "msg", "group", "idle", "report"] {
            let Command::Help(text) = parse(&args(&format!("{cmd} --help"))).unwrap() else {
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
        assert!(error("report").contains("RESULT.json"));
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

    /// The command lines of benches/faults.sh, soak.sh and measure.sh, with sample values.
    #[test]
    fn the_scripts_command_lines_parse() {
        let common = "--prefix f1 --password tt-load --client-type pc --rate 5 --seconds 40 \
                      --drain 30 --ack-timeout 3 --resends 12 --reconnect \
                      --login-url http://127.0.0.1:9080/msg_server \
                      --msg-server 127.0.0.1:9000,127.0.0.1:9001 \
                      --check-mysql mysql://root@127.0.0.1:3306/tt_faults --quiet --json";
        for line in [
            format!("msg --first 8 --pairs 6 --label kill-db {common} --out /tmp/m.json"),
            format!("group --group-id 7 --members 8 --senders 3 --label g {common} --out g.json"),
            "login --count 2 --concurrency 2 --first 18 --prefix f1 --password tt-load \
             --msg-server 127.0.0.1:9000,127.0.0.1:9001 --login-timeout 5 --quiet --json"
                .to_owned(),
            "idle --conns 10 --seconds 5 --msg-server 127.0.0.1:9000 --pid 1,2 --quiet \
             --out o.json"
                .to_owned(),
        ] {
            assert!(matches!(parse(&args(&line)), Ok(Command::Run(_))), "{line}");
        }
        let seed = "seed --users 20 --groups 1 --group-size 8 --prefix f1 \
                    --mysql-url mysql://root@127.0.0.1:3306/x --redis-url redis://127.0.0.1:1 \
                    --group-member-db 5 --unread-db 1 --json";
        assert!(matches!(parse(&args(seed)), Ok(Command::Seed(_))));
        let report = "report a.json b.json --out out --title results";
        assert!(matches!(parse(&args(report)), Ok(Command::Report(_))));
    }

    #[test]
    fn the_command_definition_is_consistent() {
        command().debug_assert();
        assert_eq!(
            parse(&args("completions zsh")).unwrap(),
            Command::Completions(clap_complete::Shell::Zsh)
        );
    }

    #[test]
    fn first_offsets_user_names() {
        let o = run("login --first 100 --prefix x --count 5");
        assert_eq!(o.users.name(0), "x_100");
        assert_eq!(o.scenario.user_count(), 5);
    }
}
