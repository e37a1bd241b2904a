//! What each `tt` subcommand does, and how failures map to exit codes.
//!
//! Output goes to stdout through the `out!` macro, which ignores write errors so that a closed pipe
//! (`tt users | head -1`) never panics.

use std::collections::HashMap;
use std::fmt;
use std::io::BufRead;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, select};
use tt_client::message::{Event, describe_body, describe_msg_info};
use tt_client::pb::base_define::{SessionType, UserInfo, UserStatType};
use tt_client::{Client, ClientConfig, ClientError, DEFAULT_AES_KEY, ReceivedMessage};

use crate::args::{CHAT_HELP, Command, Global, Target, UserRef, parse_id};

macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

/// A failed run, by exit code.
#[derive(Debug)]
pub(crate) enum CliError {
    /// Bad or missing arguments (exit 1).
    Usage(String),
    /// Could not reach or lost the servers (exit 2).
    Connection(String),
    /// The login was refused (exit 3).
    LoginRefused(String),
    /// A request failed (exit 4).
    Request(String),
    /// The user or group does not exist, or the user is not in the group (exit 5).
    NotFound(String),
}

impl CliError {
    pub(crate) fn exit_code(&self) -> u8 {
        match self {
            Self::Usage(_) => 1,
            Self::Connection(_) => 2,
            Self::LoginRefused(_) => 3,
            Self::Request(_) => 4,
            Self::NotFound(_) => 5,
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Usage(m) => write!(f, "usage error: {m}"),
            Self::Connection(m) | Self::LoginRefused(m) | Self::Request(m) | Self::NotFound(m) => {
                f.write_str(m)
            }
        }
    }
}

impl From<ClientError> for CliError {
    fn from(e: ClientError) -> Self {
        let text = e.to_string();
        match e {
            ClientError::Connect { .. }
            | ClientError::Discover(_)
            | ClientError::Io(_)
            | ClientError::TransportNotOffered { .. }
            | ClientError::Closed(_) => Self::Connection(text),
            ClientError::LoginRefused { .. } => Self::LoginRefused(text),
            ClientError::NotLoggedIn => Self::Usage(text),
            _ => Self::Request(text),
        }
    }
}

/// Connects, logs in and runs `command`.
pub(crate) fn run(global: &Global, command: Command) -> Result<(), CliError> {
    let Some(user) = global.user.as_deref().filter(|u| !u.is_empty()) else {
        return Err(CliError::Usage(
            "no user name: pass --user NAME or set TT_USER".to_owned(),
        ));
    };
    let Some(password) = global.password.as_deref() else {
        return Err(CliError::Usage(
            "no password: pass --password PASSWORD or set TT_PASSWORD".to_owned(),
        ));
    };
    let interactive = matches!(command, Command::Listen { .. } | Command::Chat);
    let config = ClientConfig {
        connect_timeout: global.timeout,
        request_timeout: global.timeout,
        aes_key: global.aes_key.unwrap_or(*DEFAULT_AES_KEY),
        auto_ack: interactive,
        transport: global.transport(),
        ..ClientConfig::default()
    };
    let client = match &global.server {
        Some(addr) => Client::connect_with(addr.as_str(), config)?,
        None => Client::discover_and_connect(&global.login_url, config)?,
    };
    let me = client.login(
        user,
        password,
        global.client_type.client_type(),
        UserStatType::UserStatusOnline,
    )?;
    let mut session = Session {
        client: &client,
        me: me.user_id(),
        nicks: HashMap::from([(me.user_id(), me.user.user_nick_name.clone())]),
        users: None,
        departments: None,
    };
    match command {
        Command::Login => {
            let department = session.department_name(me.user.department_id);
            print_user(&me.user, &department);
            Ok(())
        }
        Command::Send { target, text } => session.send(&target.target(), &text.join(" ")),
        Command::Unread => session.unread(),
        Command::Read { target } => session.read(&target.target()),
        Command::History { target, count } => session.history(&target.target(), count),
        Command::Users => session.users(),
        Command::Groups => session.groups(),
        Command::Status { users } => session.status(&users),
        Command::Listen { duration } => session.listen(duration),
        Command::Chat => session.chat(),
        // Answered in main without logging in.
        Command::Completions { .. } => Ok(()),
    }
}

fn print_user(user: &UserInfo, department: &str) {
    out!(
        "logged in as {} (user id {})",
        user.user_nick_name,
        user.user_id
    );
    out!("  login name: {}", user.user_real_name);
    out!("  email:      {}", user.email);
    out!("  department: {department}");
    if let Some(sign) = user.sign_info.as_deref().filter(|s| !s.is_empty()) {
        out!("  signature:  {sign}");
    }
}

/// A logged-in connection plus caches of what the server told about users and departments.
struct Session<'a> {
    client: &'a Client,
    me: u32,
    nicks: HashMap<u32, String>,
    /// Every user, once asked for (name look-ups).
    users: Option<Vec<UserInfo>>,
    /// Department names by id, once asked for.
    departments: Option<HashMap<u32, String>>,
}

/// Who a message, read mark or history query resolved to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Peer {
    User(u32),
    Group(u32),
}

impl Session<'_> {
    fn send(&mut self, target: &Target, text: &str) -> Result<(), CliError> {
        // Checked first: msg_server stores a message to a user id nobody has and drops one to
        // a group the sender is not in, so the answer alone cannot tell.
        let ack = match self.resolve(target)? {
            Peer::User(id) => self.client.send_text(id, text)?,
            Peer::Group(id) => self.client.send_group_text(id, text)?,
        };
        out!("sent (msg id {})", ack.msg_id);
        Ok(())
    }

    fn resolve(&mut self, target: &Target) -> Result<Peer, CliError> {
        match target {
            Target::User(user) => self.user_id(user).map(Peer::User),
            Target::Group(id) => self.check_group(*id).map(|()| Peer::Group(*id)),
        }
    }

    /// The id of a user given by id or login name, checked to exist.
    fn user_id(&mut self, user: &UserRef) -> Result<u32, CliError> {
        match user {
            UserRef::Id(id) => {
                let rsp = self.client.users_info(&[*id])?;
                let found = rsp.user_info_list.into_iter().find(|u| u.user_id == *id);
                let Some(u) = found else {
                    return Err(CliError::NotFound(format!("no user with id {id}")));
                };
                self.nicks.insert(u.user_id, u.user_nick_name);
                Ok(*id)
            }
            UserRef::Name(name) => {
                let users = self.all_users()?;
                // The login name first; a unique case-insensitive match on it or the nick next.
                if let Some(u) = users.iter().find(|u| u.user_real_name == *name) {
                    return Ok(u.user_id);
                }
                let loose: Vec<&UserInfo> = users
                    .iter()
                    .filter(|u| {
                        u.user_real_name.eq_ignore_ascii_case(name)
                            || u.user_nick_name.eq_ignore_ascii_case(name)
                    })
                    .collect();
                match loose.as_slice() {
                    [u] => Ok(u.user_id),
                    [] => Err(CliError::NotFound(format!("no user named {name:?}"))),
                    many => {
                        let ids: Vec<String> = many.iter().map(|u| u.user_id.to_string()).collect();
                        Err(CliError::Usage(format!(
                            "{name:?} names several users ({}); give the id",
                            ids.join(", ")
                        )))
                    }
                }
            }
        }
    }

    fn all_users(&mut self) -> Result<&[UserInfo], CliError> {
        if self.users.is_none() {
            let mut users = self.client.all_users(0)?.user_list;
            users.sort_by_key(|u| u.user_id);
            for u in &users {
                self.nicks.insert(u.user_id, u.user_nick_name.clone());
            }
            self.users = Some(users);
        }
        Ok(self.users.as_deref().unwrap_or_default())
    }

    /// Checks the group exists and this user is a member of it.
    fn check_group(&self, group_id: u32) -> Result<(), CliError> {
        let info = self.client.group_info(&[(group_id, 0)])?;
        let Some(group) = info.group_info_list.iter().find(|g| g.group_id == group_id) else {
            // db_proxy answers only for groups the user is in, so the two cases look alike.
            return Err(CliError::NotFound(format!(
                "no group with id {group_id} that you are a member of"
            )));
        };
        if !group.group_member_list.contains(&self.me) {
            return Err(CliError::NotFound(format!(
                "you are not a member of group {group_id} ({})",
                group.group_name
            )));
        }
        Ok(())
    }

    /// A department's name, or its id when the server does not know it.
    fn department_name(&mut self, department_id: u32) -> String {
        if self.departments.is_none() {
            let names = match self.client.departments(0) {
                Ok(rsp) => rsp
                    .dept_list
                    .into_iter()
                    .map(|d| (d.dept_id, d.dept_name))
                    .collect(),
                Err(e) => {
                    log::debug!("no department list: err={e}");
                    HashMap::new()
                }
            };
            self.departments = Some(names);
        }
        self.departments
            .as_ref()
            .and_then(|d| d.get(&department_id).cloned())
            .unwrap_or_else(|| format!("department {department_id}"))
    }

    /// Marks the conversation read up to its newest message.
    fn read(&mut self, target: &Target) -> Result<(), CliError> {
        let (session_type, id, what) = match self.resolve(target)? {
            Peer::User(id) => (
                SessionType::Single,
                id,
                format!("{} (user {id})", self.nick(id)),
            ),
            Peer::Group(id) => (SessionType::Group, id, format!("group {id}")),
        };
        let latest = self.client.latest_msg_id(session_type, id)?.latest_msg_id;
        if latest == 0 {
            out!("no messages with {what}");
            return Ok(());
        }
        self.client.read_ack(session_type, id, latest)?;
        // The read mark has no answer; a round trip after it makes sure msg_server has it
        // before the connection closes.
        self.client.server_time()?;
        out!("marked read up to msg id {latest} with {what}");
        Ok(())
    }

    /// Nick of `user_id`, asking the server for unknown ones; falls back to `user N`.
    fn nick(&mut self, user_id: u32) -> String {
        self.learn_nicks(&[user_id]);
        self.nicks
            .get(&user_id)
            .cloned()
            .unwrap_or_else(|| format!("user {user_id}"))
    }

    fn learn_nicks(&mut self, ids: &[u32]) {
        let mut unknown: Vec<u32> = ids
            .iter()
            .copied()
            .filter(|id| !self.nicks.contains_key(id))
            .collect();
        unknown.sort_unstable();
        unknown.dedup();
        if unknown.is_empty() {
            return;
        }
        if let Ok(rsp) = self.client.users_info(&unknown) {
            for u in rsp.user_info_list {
                self.nicks.insert(u.user_id, u.user_nick_name);
            }
        }
    }

    fn unread(&mut self) -> Result<(), CliError> {
        let rsp = self.client.unread_counts()?;
        out!("total unread: {}", rsp.total_cnt);
        let users: Vec<u32> = rsp
            .unreadinfo_list
            .iter()
            .filter(|u| u.session_type == SessionType::Single as i32)
            .map(|u| u.session_id)
            .collect();
        self.learn_nicks(&users);
        for info in &rsp.unreadinfo_list {
            let session = if info.session_type == SessionType::Group as i32 {
                format!("group {}", info.session_id)
            } else {
                format!("{} (user {})", self.nick(info.session_id), info.session_id)
            };
            let latest = describe_body(
                info.latest_msg_type,
                &info.latest_msg_data,
                self.client.aes_key(),
            );
            out!("  {session}: {} unread, latest: {latest}", info.unread_cnt);
        }
        Ok(())
    }

    fn history(&mut self, target: &Target, count: u32) -> Result<(), CliError> {
        let (session_type, id) = match self.resolve(target)? {
            Peer::User(id) => (SessionType::Single, id),
            Peer::Group(id) => (SessionType::Group, id),
        };
        let rsp = self.client.message_list(session_type, id, 0, count)?;
        let senders: Vec<u32> = rsp.msg_list.iter().map(|m| m.from_session_id).collect();
        self.learn_nicks(&senders);
        if rsp.msg_list.is_empty() {
            out!("no messages");
        }
        // db_proxy answers newest first; show oldest first like a chat window.
        let mut list = rsp.msg_list;
        list.sort_by_key(|m| (m.create_time, m.msg_id));
        for m in &list {
            let from = self.nick(m.from_session_id);
            let text = describe_msg_info(m, self.client.aes_key());
            out!(
                "{} #{} [{from}] {text}",
                format_time(m.create_time),
                m.msg_id
            );
        }
        Ok(())
    }

    fn users(&mut self) -> Result<(), CliError> {
        let users = self.all_users()?.to_vec();
        out!(
            "{:>8}  {:<16}  {:<16}  department",
            "id",
            "nick",
            "login name"
        );
        for u in &users {
            let department = self.department_name(u.department_id);
            out!(
                "{:>8}  {:<16}  {:<16}  {department}",
                u.user_id,
                u.user_nick_name,
                u.user_real_name,
            );
        }
        Ok(())
    }

    fn groups(&mut self) -> Result<(), CliError> {
        let list = self.client.group_list()?;
        if list.group_version_list.is_empty() {
            out!("no groups");
            return Ok(());
        }
        let ids: Vec<(u32, u32)> = list
            .group_version_list
            .iter()
            .map(|g| (g.group_id, 0))
            .collect();
        let info = self.client.group_info(&ids)?;
        let mut groups = info.group_info_list;
        groups.sort_by_key(|g| g.group_id);
        for g in &groups {
            let kind = if g.group_type == 2 {
                "temporary"
            } else {
                "normal"
            };
            let members: Vec<String> = g.group_member_list.iter().map(u32::to_string).collect();
            out!(
                "{:>8}  {}  ({kind}, {} members: {})",
                g.group_id,
                g.group_name,
                g.group_member_list.len(),
                members.join(" ")
            );
        }
        Ok(())
    }

    fn status(&mut self, users: &[UserRef]) -> Result<(), CliError> {
        let ids = users
            .iter()
            .map(|u| self.user_id(u))
            .collect::<Result<Vec<u32>, _>>()?;
        let rsp = self.client.users_status(&ids)?;
        for stat in &rsp.user_stat_list {
            let state = match UserStatType::try_from(stat.status) {
                Ok(UserStatType::UserStatusOnline) => "online",
                Ok(UserStatType::UserStatusOffline) => "offline",
                Ok(UserStatType::UserStatusLeave) => "leave",
                Err(_) => "unknown",
            };
            out!("{:>8}  {state}", stat.user_id);
        }
        Ok(())
    }

    fn listen(&mut self, duration: Option<Duration>) -> Result<(), CliError> {
        let deadline = duration.map(|d| Instant::now() + d);
        loop {
            let wait = match deadline {
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Ok(());
                    }
                    left
                }
                None => Duration::from_secs(3600),
            };
            match self.client.next_event(wait) {
                Ok(pdu) => self.show_event(pdu)?,
                Err(ClientError::Timeout { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Prints one pushed PDU; a kick ends the run.
    fn show_event(&mut self, pdu: tt_client::Pdu) -> Result<(), CliError> {
        match Event::from_pdu(pdu, self.client.aes_key()) {
            Ok(Event::Message(msg)) => self.show_message(&msg),
            Ok(Event::Kicked(kick)) => {
                let why = if kick.kick_reason == 2 {
                    "by your mobile client"
                } else {
                    "because you logged in elsewhere"
                };
                return Err(CliError::Connection(format!("kicked by the server {why}")));
            }
            Ok(Event::UserStatus(n)) => {
                let who = self.nick(n.user_stat.user_id);
                let state = match UserStatType::try_from(n.user_stat.status) {
                    Ok(UserStatType::UserStatusOnline) => "online",
                    Ok(UserStatType::UserStatusLeave) => "away",
                    _ => "offline",
                };
                out!("* {who} is {state}");
            }
            Ok(Event::SignInfoChanged(n)) => {
                let who = self.nick(n.changed_user_id);
                out!("* {who} changed their signature: {}", n.sign_info);
            }
            Ok(Event::GroupMembersChanged(n)) => {
                out!("* members of group {} changed", n.group_id);
            }
            Ok(Event::FileNotify(n)) => {
                let who = self.nick(n.from_user_id);
                out!(
                    "* {who} offers file {} ({} bytes)",
                    n.file_name,
                    n.file_size
                );
            }
            Ok(_) => {}
            Err(e) => log::debug!("undecodable event: err={e}"),
        }
        Ok(())
    }

    fn show_message(&mut self, msg: &ReceivedMessage) {
        let from = self.nick(msg.from);
        let text = if msg.text.is_empty() {
            describe_body(msg.msg_type as i32, &msg.data, self.client.aes_key())
        } else {
            msg.text.clone()
        };
        if msg.is_group() {
            out!("[{from} in group {}] {text}", msg.to_session);
        } else {
            out!("[{from}] {text}");
        }
    }

    fn chat(&mut self) -> Result<(), CliError> {
        let lines = spawn_stdin_reader();
        let events = self.client.events().clone();
        let mut target: Option<Target> = None;
        out!("connected; type /help for commands");
        loop {
            select! {
                recv(lines) -> line => {
                    let Ok(line) = line else { return Ok(()) };
                    match self.chat_line(line.trim(), &mut target) {
                        Ok(true) => {}
                        Ok(false) => return Ok(()),
                        Err(e @ CliError::Connection(_)) => return Err(e),
                        Err(e) => out!("error: {e}"),
                    }
                }
                recv(events) -> pdu => match pdu {
                    Ok(pdu) => self.show_event(pdu)?,
                    Err(_) => {
                        let reason = self
                            .client
                            .close_reason()
                            .map_or_else(|| "connection lost".to_owned(), |r| r.to_string());
                        return Err(CliError::Connection(reason));
                    }
                },
            }
        }
    }

    /// Handles one chat input line; `Ok(false)` ends the chat.
    fn chat_line(&mut self, line: &str, target: &mut Option<Target>) -> Result<bool, CliError> {
        if line.is_empty() {
            return Ok(true);
        }
        let Some(command) = line.strip_prefix('/') else {
            let Some(t) = target.clone() else {
                out!("no one to talk to: use /to USER or /group GROUP_ID first");
                return Ok(true);
            };
            self.send(&t, line)?;
            return Ok(true);
        };
        let mut words = command.split_whitespace();
        let name = words.next().unwrap_or_default();
        let rest: Vec<&str> = words.collect();
        let one = |what: &str| -> Result<&str, CliError> {
            match rest.as_slice() {
                [word] => Ok(*word),
                _ => Err(CliError::Usage(format!("/{name} needs one {what}"))),
            }
        };
        match name {
            "quit" | "exit" | "q" => return Ok(false),
            "help" => out!("{}", CHAT_HELP.trim_end()),
            "to" => {
                let user: UserRef = one("USER")?.parse().map_err(CliError::Usage)?;
                let id = self.user_id(&user)?;
                *target = Some(Target::User(UserRef::Id(id)));
                out!("talking to {} (user {id})", self.nick(id));
            }
            "group" => {
                let id = parse_id(one("GROUP_ID")?).map_err(CliError::Usage)?;
                self.check_group(id)?;
                *target = Some(Target::Group(id));
                out!("talking to group {id}");
            }
            "unread" => self.unread()?,
            "read" => {
                let Some(t) = target.clone() else {
                    return Err(CliError::Usage(
                        "choose a target first with /to or /group".into(),
                    ));
                };
                self.read(&t)?;
            }
            "history" => {
                let Some(t) = target.clone() else {
                    return Err(CliError::Usage(
                        "choose a target first with /to or /group".into(),
                    ));
                };
                let count = match rest.first() {
                    Some(n) => n
                        .parse::<u32>()
                        .ok()
                        .filter(|n| *n > 0)
                        .ok_or_else(|| CliError::Usage(format!("invalid count {n:?}")))?,
                    None => 20,
                };
                self.history(&t, count)?;
            }
            "users" => self.users()?,
            "groups" => self.groups()?,
            "status" => {
                if rest.is_empty() {
                    return Err(CliError::Usage("/status needs USER...".into()));
                }
                let users = rest
                    .iter()
                    .map(|s| s.parse::<UserRef>())
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(CliError::Usage)?;
                self.status(&users)?;
            }
            other => {
                return Err(CliError::Usage(format!(
                    "unknown command /{other}; try /help"
                )));
            }
        }
        Ok(true)
    }
}

/// Reads stdin lines on a thread; the channel disconnects at end of input.
fn spawn_stdin_reader() -> Receiver<String> {
    let (tx, rx) = crossbeam_channel::unbounded();
    let spawned = std::thread::Builder::new()
        .name("tt-stdin".into())
        .spawn(move || {
            for line in std::io::stdin().lock().lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
    if let Err(e) = spawned {
        // Without the reader the channel is already disconnected: chat ends as at end of input.
        log::warn!("cannot read standard input: err={e}");
    }
    rx
}

/// `YYYY-MM-DD HH:MM:SS` (UTC) for a Unix time.
fn format_time(unix: u32) -> String {
    let secs = i64::from(unix);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Gregorian date of a day count since 1970-01-01 (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_formatted_in_utc() {
        assert_eq!(format_time(0), "1970-01-01 00:00:00");
        assert_eq!(format_time(1_431_000_000), "2015-05-07 12:00:00");
        assert_eq!(format_time(951_782_400), "2000-02-29 00:00:00");
    }

    #[test]
    fn client_errors_map_to_exit_codes() {
        let refused = ClientError::LoginRefused {
            code: 6,
            reason: "wrong password or unknown user",
            server_text: String::new(),
        };
        assert_eq!(CliError::from(refused).exit_code(), 3);
        let closed = ClientError::Closed(tt_client::CloseReason::ClosedByServer);
        assert_eq!(CliError::from(closed).exit_code(), 2);
        let timeout = ClientError::Timeout {
            what: "x".into(),
            timeout: Duration::from_secs(1),
        };
        assert_eq!(CliError::from(timeout).exit_code(), 4);
    }
}
