//! One client connection to a msg_server: framing, request/response matching, events and
//! heartbeats.
//!
//! A [`Client`] owns two background threads:
//!
//! * the **reader** decodes PDUs (capped at [`ClientConfig::max_pdu_len`]) and hands each one
//!   either to the requester waiting for it or to the event stream. msg_server echoes a
//!   request's seq in every direct answer (PROTOCOL §2.3), so a waiter is keyed by
//!   `(seq, expected response command)`; requests never use seq 0, which is what locally
//!   delivered messages and notifications carry. Matching on the command too keeps a relayed
//!   PDU that happens to carry the same seq (messages crossing route_server keep the sender's
//!   seq) out of the waiter. Heartbeat echoes nobody waits for are dropped.
//! * the **heartbeat** thread sends `IMHeartBeat` whenever nothing was sent for
//!   [`ClientConfig::heartbeat_interval`], as the reference client does when idle.
//!
//! When the connection ends (server close, read error, framing error, or [`Client::close`]),
//! every pending request fails with [`ClientError::Closed`] and the event stream disconnects
//! after the PDUs already received have been drained.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TryRecvError};
use log::{debug, trace, warn};
use prost::Message;
use teamtalk_proto::pb::base_define::SessionType;
use teamtalk_proto::pb::message::{ImMsgData, ImMsgDataAck};
use teamtalk_proto::{CommandId, DEFAULT_MAX_PDU_LEN, Pdu, PduError};

use crate::crypto::{CryptoError, DEFAULT_AES_KEY};
use crate::discover::{DiscoverError, discover_with_timeout};
use crate::message::ReceivedMessage;
use crate::transport::{ClientTransport, handshake};
use teamtalk_transport::{Layers, Opened};

/// Interval at which the official clients send heartbeats while idle (PROTOCOL §6.1).
pub const DEFAULT_HEARTBEAT_INTERVAL: Duration = Duration::from_secs(30);
/// Default TCP connect timeout.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default time to wait for an answer to a request.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Client version reported in `IMLoginReq.client_version`.
pub const DEFAULT_CLIENT_VERSION: &str = "tt_client-0.1";

/// Tunables of a [`Client`].
#[derive(Clone)]
pub struct ClientConfig {
    /// TCP connect timeout.
    pub connect_timeout: Duration,
    /// Timeout of the typed calls (and of socket writes).
    pub request_timeout: Duration,
    /// Send a heartbeat when nothing was sent for this long; `None` disables heartbeats.
    pub heartbeat_interval: Option<Duration>,
    /// AES-256 key for message text (`aesKey` of the servers' configuration).
    pub aes_key: [u8; 32],
    /// Largest PDU accepted from the server; a larger one closes the connection.
    pub max_pdu_len: usize,
    /// Value sent as `IMLoginReq.client_version`.
    pub client_version: String,
    /// Acknowledge every received message (`IMMsgDataAck` C→MS) as soon as it arrives, as the
    /// official clients do. Off by default so tests control acknowledgements.
    pub auto_ack: bool,
    /// TLS and/or WebSocket under the PDUs; plain TCP by default.
    pub transport: ClientTransport,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            heartbeat_interval: Some(DEFAULT_HEARTBEAT_INTERVAL),
            aes_key: *DEFAULT_AES_KEY,
            max_pdu_len: DEFAULT_MAX_PDU_LEN,
            client_version: DEFAULT_CLIENT_VERSION.to_owned(),
            auto_ack: false,
            transport: ClientTransport::default(),
        }
    }
}

impl fmt::Debug for ClientConfig {
    // The AES key is a secret of the deployment: keep it out of logs and panics.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientConfig")
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("heartbeat_interval", &self.heartbeat_interval)
            .field("max_pdu_len", &self.max_pdu_len)
            .field("client_version", &self.client_version)
            .field("auto_ack", &self.auto_ack)
            .field("transport", &self.transport)
            .finish_non_exhaustive()
    }
}

/// Why the connection to the msg_server ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseReason {
    /// The server closed the connection.
    ClosedByServer,
    /// Reading from the socket failed.
    ReadError(String),
    /// The server sent bytes that are not a valid PDU stream.
    BadFrame(String),
    /// This side closed the connection.
    ClosedLocally,
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ClosedByServer => f.write_str("connection closed by the server"),
            Self::ReadError(e) => write!(f, "read error: {e}"),
            Self::BadFrame(e) => write!(f, "protocol error from the server: {e}"),
            Self::ClosedLocally => f.write_str("connection closed by the client"),
        }
    }
}

/// Errors of the client connection and its calls.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The TCP connection to the msg_server could not be made.
    #[error("cannot connect to msg_server at {addr}: {source}")]
    Connect {
        /// Address as given.
        addr: String,
        /// The connect error (of the last address tried).
        #[source]
        source: io::Error,
    },
    /// msg_server discovery through login_server failed.
    #[error(transparent)]
    Discover(#[from] DiscoverError),
    /// Writing to the connection failed.
    #[error("i/o error on the msg_server connection: {0}")]
    Io(#[from] io::Error),
    /// Nothing arrived in time.
    #[error("timed out after {} ms waiting for {what}", timeout.as_millis())]
    Timeout {
        /// What was awaited (a response command or an event).
        what: String,
        /// How long was waited.
        timeout: Duration,
    },
    /// The connection is gone.
    #[error("{0}")]
    Closed(CloseReason),
    /// The server refused the login (`IMLoginRes.result_code` ≠ 0).
    #[error("login refused: {reason} (code {code})")]
    LoginRefused {
        /// `ResultType` value.
        code: i32,
        /// Human text for the code.
        reason: &'static str,
        /// `result_string` as sent by the server.
        server_text: String,
    },
    /// A PDU body could not be decoded as the expected message.
    #[error("bad message from the server: {0}")]
    Pdu(#[from] PduError),
    /// A received text message could not be decrypted.
    #[error("cannot decrypt message text: {0}")]
    Crypto(#[from] CryptoError),
    /// A message field holds a value this client does not know.
    #[error("unexpected {field} value {value} from the server")]
    UnexpectedValue {
        /// Field name.
        field: &'static str,
        /// Value received.
        value: i64,
    },
    /// The call needs a logged-in connection.
    #[error("not logged in")]
    NotLoggedIn,
    /// The msg_server login_server picked offers no port for the transport asked for.
    #[error("the msg_server offers no {transport} port")]
    TransportNotOffered {
        /// `tls`, `ws` or `wss`.
        transport: &'static str,
    },
}

/// State shared by the client handle and its threads.
#[derive(Debug)]
struct Shared {
    /// Write half; the lock keeps PDUs from interleaving.
    writer: Mutex<TcpStream>,
    /// TLS/WebSocket layers, when the transport has any. Always locked after `writer` (the
    /// reader too takes `writer` first): records must reach the socket in the order they
    /// were sealed.
    layers: Option<Mutex<Layers>>,
    /// Handle used only to shut the socket down, never blocked by a writer.
    control: TcpStream,
    state: Mutex<State>,
    user_id: AtomicU32,
}

#[derive(Debug)]
struct State {
    /// Requesters waiting for `(seq, response command)`.
    pending: HashMap<(u16, u16), Sender<Pdu>>,
    /// Why the connection ended, once it has.
    closed: Option<CloseReason>,
    next_seq: u16,
    last_sent: Instant,
}

/// A connection to a msg_server. Cheap calls take `&self`, so one client can be shared between
/// threads (e.g. one waiting for events while another sends).
#[derive(Debug)]
pub struct Client {
    shared: Arc<Shared>,
    events: Receiver<Pdu>,
    /// Events skipped by [`Client::wait_for`], handed out first by the other event helpers.
    stash: Mutex<VecDeque<Pdu>>,
    config: ClientConfig,
    peer: SocketAddr,
    /// Dropping it stops the heartbeat thread.
    stop_heartbeat: Option<Sender<()>>,
    threads: Vec<JoinHandle<()>>,
}

impl Client {
    /// Connects to the msg_server at `addr` with default settings and `timeout` as connect
    /// timeout.
    pub fn connect<A: ToSocketAddrs + fmt::Display>(
        addr: A,
        timeout: Duration,
    ) -> Result<Self, ClientError> {
        let config = ClientConfig {
            connect_timeout: timeout,
            ..ClientConfig::default()
        };
        Self::connect_with(addr, config)
    }

    /// Connects to the msg_server at `addr` with `config`.
    pub fn connect_with<A: ToSocketAddrs + fmt::Display>(
        addr: A,
        config: ClientConfig,
    ) -> Result<Self, ClientError> {
        let connect_err = |source| ClientError::Connect {
            addr: addr.to_string(),
            source,
        };
        let addrs: Vec<SocketAddr> = addr.to_socket_addrs().map_err(connect_err)?.collect();
        let mut last = io::Error::new(io::ErrorKind::NotFound, "address resolved to nothing");
        for candidate in addrs {
            match TcpStream::connect_timeout(&candidate, config.connect_timeout) {
                Ok(stream) => return Self::from_stream(stream, config).map_err(connect_err),
                Err(e) => last = e,
            }
        }
        Err(connect_err(last))
    }

    /// Asks login_server at `login_url` for a msg_server and connects to it (the prior address,
    /// then the backup one).
    pub fn discover_and_connect(
        login_url: &str,
        config: ClientConfig,
    ) -> Result<Self, ClientError> {
        let info = discover_with_timeout(login_url, config.connect_timeout)?;
        let name = config.transport.name();
        let Some(port) = info.port_for(name) else {
            return Err(ClientError::TransportNotOffered { transport: name });
        };
        let mut config = config;
        // The path login_server advertises wins over the default one.
        if let (Some(path), Some(_)) = (&info.ws_path, &config.transport.ws_path) {
            config.transport.ws_path = Some(path.clone());
        }
        let prior = format!("{}:{port}", info.prior_ip);
        match Self::connect_with(prior.as_str(), config.clone()) {
            Err(e) if info.backup_ip != info.prior_ip => {
                warn!("prior msg_server unreachable, trying backup: addr={prior} err={e}");
                Self::connect_with(format!("{}:{port}", info.backup_ip).as_str(), config)
            }
            other => other,
        }
    }

    /// Wraps an already connected stream.
    /// With a TLS or WebSocket transport the handshakes are done here, within the connect
    /// timeout, so an untrusted certificate or a refused upgrade fails the connect.
    pub fn from_stream(mut stream: TcpStream, config: ClientConfig) -> io::Result<Self> {
        stream.set_nodelay(true)?;
        stream.set_write_timeout(Some(config.request_timeout))?;
        let peer = stream.peer_addr()?;
        let (layers, early) = if config.transport.is_plain() {
            (None, Vec::new())
        } else {
            let (layers, early) = handshake(
                &mut stream,
                peer,
                &config.transport,
                config.max_pdu_len,
                config.connect_timeout,
            )?;
            (Some(Mutex::new(layers)), early)
        };
        let reader = stream.try_clone()?;
        let control = stream.try_clone()?;
        let shared = Arc::new(Shared {
            layers,
            writer: Mutex::new(stream),
            control,
            state: Mutex::new(State {
                pending: HashMap::new(),
                closed: None,
                next_seq: initial_seq(),
                last_sent: Instant::now(),
            }),
            user_id: AtomicU32::new(0),
        });
        let (events_tx, events) = crossbeam_channel::unbounded();

        let mut threads = Vec::with_capacity(2);
        let reader_shared = Arc::clone(&shared);
        let max_len = config.max_pdu_len;
        let auto_ack = config.auto_ack;
        threads.push(
            thread::Builder::new()
                .name("tt-client-reader".into())
                .spawn(move || {
                    read_loop(reader, early, &reader_shared, &events_tx, max_len, auto_ack);
                })?,
        );
        let mut stop_heartbeat = None;
        if let Some(interval) = config.heartbeat_interval {
            let (stop_tx, stop_rx) = crossbeam_channel::bounded::<()>(0);
            let hb_shared = Arc::clone(&shared);
            let spawned = thread::Builder::new()
                .name("tt-client-heartbeat".into())
                .spawn(move || heartbeat_loop(&hb_shared, &stop_rx, interval));
            match spawned {
                Ok(handle) => {
                    threads.push(handle);
                    stop_heartbeat = Some(stop_tx);
                }
                Err(e) => {
                    shared.close(CloseReason::ClosedLocally);
                    return Err(e);
                }
            }
        }
        debug!("connected to msg_server: peer={peer}");
        Ok(Self {
            shared,
            events,
            stash: Mutex::new(VecDeque::new()),
            config,
            peer,
            stop_heartbeat,
            threads,
        })
    }

    /// The configuration in use.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// The msg_server's address.
    pub fn peer_addr(&self) -> SocketAddr {
        self.peer
    }

    /// The AES key used for message text.
    pub fn aes_key(&self) -> &[u8; 32] {
        &self.config.aes_key
    }

    /// The user id learnt at login, 0 before.
    pub fn user_id(&self) -> u32 {
        self.shared.user_id.load(Ordering::Relaxed)
    }

    pub(crate) fn set_user_id(&self, user_id: u32) {
        self.shared.user_id.store(user_id, Ordering::Relaxed);
    }

    /// Whether the connection is still up (as far as the reader knows).
    pub fn is_connected(&self) -> bool {
        self.shared.lock_state().closed.is_none()
    }

    /// Why the connection ended, once it has.
    pub fn close_reason(&self) -> Option<CloseReason> {
        self.shared.lock_state().closed.clone()
    }

    /// Closes the connection: pending requests fail, the event stream ends.
    pub fn close(&self) {
        self.shared.close(CloseReason::ClosedLocally);
    }

    /// Sends `msg` as `cmd` with a fresh seq and waits for the answer `response` carrying the
    /// same seq. An answer that arrives after the timeout goes to the event stream.
    pub fn request<M: Message>(
        &self,
        cmd: CommandId,
        msg: &M,
        response: CommandId,
        timeout: Duration,
    ) -> Result<Pdu, ClientError> {
        let (seq, rx) = self.shared.register(response)?;
        let pdu = Pdu::new(cmd, seq, msg);
        debug!("request: cmd={cmd} seq={seq} len={}", pdu.len());
        if let Err(e) = self.shared.write(&pdu.encode()) {
            self.shared.unregister(seq, response);
            return Err(e.into());
        }
        match rx.recv_timeout(timeout) {
            Ok(pdu) => Ok(pdu),
            Err(RecvTimeoutError::Timeout) => {
                self.shared.unregister(seq, response);
                // The answer may have been routed between the timeout and the removal.
                rx.try_recv().map_err(|_| ClientError::Timeout {
                    what: format!("{response} (seq {seq})"),
                    timeout,
                })
            }
            Err(RecvTimeoutError::Disconnected) => Err(self.closed_error()),
        }
    }

    /// [`Client::request`] with the configured timeout, decoding the answer as `R`.
    pub fn call<M: Message, R: Message + prost::Name + Default>(
        &self,
        cmd: CommandId,
        msg: &M,
        response: CommandId,
    ) -> Result<R, ClientError> {
        let pdu = self.request(cmd, msg, response, self.config.request_timeout)?;
        Ok(pdu.parse()?)
    }

    /// Sends `msg` as `cmd` with a fresh seq without waiting for anything; returns the seq.
    pub fn send<M: Message>(&self, cmd: CommandId, msg: &M) -> Result<u16, ClientError> {
        let seq = self.shared.next_seq()?;
        let pdu = Pdu::new(cmd, seq, msg);
        debug!("send: cmd={cmd} seq={seq} len={}", pdu.len());
        self.shared.write(&pdu.encode())?;
        Ok(seq)
    }

    /// Sends a ready-made PDU exactly as given (its seq included).
    pub fn send_pdu(&self, pdu: &Pdu) -> Result<(), ClientError> {
        self.shared.write(&pdu.encode())?;
        Ok(())
    }

    /// Writes arbitrary bytes to the connection, for exercising the server with bad input.
    pub fn send_raw(&self, bytes: &[u8]) -> Result<(), ClientError> {
        self.shared.write(bytes)?;
        Ok(())
    }

    /// Sends a heartbeat now and waits for the server's echo.
    pub fn ping(&self, timeout: Duration) -> Result<(), ClientError> {
        let (seq, rx) = self.shared.register(CommandId::OtherHeartbeat)?;
        let pdu = Pdu::empty(CommandId::OtherHeartbeat, seq);
        if let Err(e) = self.shared.write(&pdu.encode()) {
            self.shared.unregister(seq, CommandId::OtherHeartbeat);
            return Err(e.into());
        }
        match rx.recv_timeout(timeout) {
            Ok(_) => Ok(()),
            Err(RecvTimeoutError::Timeout) => {
                self.shared.unregister(seq, CommandId::OtherHeartbeat);
                Err(ClientError::Timeout {
                    what: "heartbeat echo".into(),
                    timeout,
                })
            }
            Err(RecvTimeoutError::Disconnected) => Err(self.closed_error()),
        }
    }

    /// The raw event stream: every PDU that answered no request, in arrival order. It
    /// disconnects once the connection has ended and everything received was taken. PDUs set
    /// aside by [`Client::wait_for`] are not in it; mixing the raw stream with the helpers
    /// below is possible but those set-aside PDUs are then only seen by the helpers.
    pub fn events(&self) -> &Receiver<Pdu> {
        &self.events
    }

    /// The next event, waiting up to `timeout`.
    pub fn next_event(&self, timeout: Duration) -> Result<Pdu, ClientError> {
        if let Some(pdu) = self.lock_stash().pop_front() {
            return Ok(pdu);
        }
        match self.events.recv_timeout(timeout) {
            Ok(pdu) => Ok(pdu),
            Err(RecvTimeoutError::Timeout) => Err(ClientError::Timeout {
                what: "an event".into(),
                timeout,
            }),
            Err(RecvTimeoutError::Disconnected) => Err(self.closed_error()),
        }
    }

    /// Waits up to `timeout` for an event with command `cmd`. Other events received meanwhile
    /// are kept, in order, for the next call of an event helper.
    pub fn wait_for(&self, cmd: CommandId, timeout: Duration) -> Result<Pdu, ClientError> {
        self.wait_for_matching(&format!("{cmd}"), timeout, |pdu| {
            pdu.header.command_id == cmd as u16
        })
    }

    /// [`Client::wait_for`] decoding the PDU as `M`.
    pub fn wait_for_parsed<M: Message + prost::Name + Default>(
        &self,
        cmd: CommandId,
        timeout: Duration,
    ) -> Result<M, ClientError> {
        Ok(self.wait_for(cmd, timeout)?.parse()?)
    }

    /// Waits up to `timeout` for an event satisfying `pred`; other events are kept for later.
    pub fn wait_for_matching(
        &self,
        what: &str,
        timeout: Duration,
        mut pred: impl FnMut(&Pdu) -> bool,
    ) -> Result<Pdu, ClientError> {
        {
            let mut stash = self.lock_stash();
            if let Some(i) = stash.iter().position(&mut pred) {
                return Ok(stash.remove(i).expect("index returned by position"));
            }
        }
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(pdu) if pred(&pdu) => return Ok(pdu),
                Ok(pdu) => self.lock_stash().push_back(pdu),
                Err(RecvTimeoutError::Timeout) => {
                    return Err(ClientError::Timeout {
                        what: what.to_owned(),
                        timeout,
                    });
                }
                Err(RecvTimeoutError::Disconnected) => return Err(self.closed_error()),
            }
        }
    }

    /// Waits up to `timeout` for the next delivered message (`IMMsgData`) and decodes it,
    /// decrypting text.
    pub fn next_message(&self, timeout: Duration) -> Result<ReceivedMessage, ClientError> {
        let pdu = self.wait_for(CommandId::MsgData, timeout)?;
        ReceivedMessage::from_pdu(&pdu, &self.config.aes_key)
    }

    /// Every event received so far, without waiting (set-aside ones first).
    pub fn drain_events(&self) -> Vec<Pdu> {
        let mut out: Vec<Pdu> = self.lock_stash().drain(..).collect();
        loop {
            match self.events.try_recv() {
                Ok(pdu) => out.push(pdu),
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => return out,
            }
        }
    }

    /// Waits until the connection has ended (the server closed it, or it failed) or `timeout`
    /// passes. Events still queued are kept.
    pub fn wait_closed(&self, timeout: Duration) -> Result<CloseReason, ClientError> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(reason) = self.close_reason() {
                return Ok(reason);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(ClientError::Timeout {
                    what: "the connection to close".into(),
                    timeout,
                });
            }
            match self
                .events
                .recv_timeout(left.min(Duration::from_millis(50)))
            {
                Ok(pdu) => self.lock_stash().push_back(pdu),
                Err(RecvTimeoutError::Timeout) => {}
                // The reader has exited, so the close reason is recorded.
                Err(RecvTimeoutError::Disconnected) => {
                    return Ok(self.close_reason().unwrap_or(CloseReason::ClosedByServer));
                }
            }
        }
    }

    /// The error for a call that found the connection gone.
    fn closed_error(&self) -> ClientError {
        ClientError::Closed(self.close_reason().unwrap_or(CloseReason::ClosedByServer))
    }

    fn lock_stash(&self) -> MutexGuard<'_, VecDeque<Pdu>> {
        // A panicking holder cannot leave the queue half-modified; keep using it.
        self.stash.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.shared.close(CloseReason::ClosedLocally);
        self.stop_heartbeat.take();
        for handle in self.threads.drain(..) {
            if handle.join().is_err() {
                warn!("client thread panicked: peer={}", self.peer);
            }
        }
    }
}

impl Shared {
    fn lock_state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Allocates a seq: never 0, never one with a waiter still registered.
    fn next_seq(&self) -> Result<u16, ClientError> {
        let mut state = self.lock_state();
        if let Some(reason) = &state.closed {
            return Err(ClientError::Closed(reason.clone()));
        }
        Ok(state.take_seq())
    }

    /// Allocates a seq and registers a waiter for `(seq, response)`.
    fn register(&self, response: CommandId) -> Result<(u16, Receiver<Pdu>), ClientError> {
        let mut state = self.lock_state();
        if let Some(reason) = &state.closed {
            return Err(ClientError::Closed(reason.clone()));
        }
        let seq = state.take_seq();
        let (tx, rx) = crossbeam_channel::bounded(1);
        state.pending.insert((seq, response as u16), tx);
        Ok((seq, rx))
    }

    fn unregister(&self, seq: u16, response: CommandId) {
        self.lock_state().pending.remove(&(seq, response as u16));
    }

    fn write(&self, bytes: &[u8]) -> io::Result<()> {
        if let Some(reason) = &self.lock_state().closed {
            return Err(io::Error::new(
                io::ErrorKind::NotConnected,
                reason.to_string(),
            ));
        }
        let mut writer = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        match &self.layers {
            Some(layers) => {
                let mut wire = Vec::with_capacity(bytes.len() + 64);
                layers
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .seal(bytes, &mut wire)
                    .map_err(io::Error::other)?;
                writer.write_all(&wire)?;
            }
            None => writer.write_all(bytes)?,
        }
        writer.flush()?;
        drop(writer);
        self.lock_state().last_sent = Instant::now();
        Ok(())
    }

    /// Appends the PDU bytes carried by `wire` (bytes just read) to `plain`; on a layered
    /// transport the layers' own answers (pongs, TLS records) are written back at once.
    fn open(&self, wire: &[u8], plain: &mut Vec<u8>) -> io::Result<Opened> {
        let Some(layers) = &self.layers else {
            plain.extend_from_slice(wire);
            return Ok(Opened::Open);
        };
        if wire.is_empty() {
            return Ok(Opened::Open);
        }
        let mut writer = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let mut reply = Vec::new();
        let opened = layers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .open(wire, plain, &mut reply);
        if !reply.is_empty() {
            writer.write_all(&reply)?;
        }
        opened.map_err(io::Error::other)
    }

    /// Records the end of the connection (the first reason wins), fails pending requests and
    /// shuts the socket so the reader wakes up.
    fn close(&self, reason: CloseReason) {
        let pending = {
            let mut state = self.lock_state();
            if state.closed.is_none() {
                debug!("client connection closed: reason={reason}");
                state.closed = Some(reason);
            }
            std::mem::take(&mut state.pending)
        };
        // Dropping the senders wakes every waiter with `Disconnected`.
        drop(pending);
        // Already shut down or reset: nothing left to do.
        let _ = self.control.shutdown(Shutdown::Both);
    }

    /// Hands `pdu` to its waiter; returns it back if nobody waits for it.
    fn route(&self, pdu: Pdu) -> Option<Pdu> {
        let key = (pdu.header.seq_num, pdu.header.command_id);
        let waiter = if pdu.header.seq_num == 0 {
            None
        } else {
            self.lock_state().pending.remove(&key)
        };
        match waiter {
            Some(tx) => {
                // The requester may have given up just now; then the answer is simply dropped.
                let _ = tx.send(pdu);
                None
            }
            None => Some(pdu),
        }
    }
}

impl State {
    fn take_seq(&mut self) -> u16 {
        loop {
            let seq = self.next_seq;
            self.next_seq = self.next_seq.wrapping_add(1);
            if seq != 0 && !self.pending.keys().any(|(s, _)| *s == seq) {
                return seq;
            }
        }
    }
}

/// A starting seq that differs between connections, as the reference client picks a random one.
fn initial_seq() -> u16 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let mixed = nanos ^ std::process::id().rotate_left(16);
    (mixed as u16) | 1
}

fn read_loop(
    mut stream: TcpStream,
    early: Vec<u8>,
    shared: &Shared,
    events: &Sender<Pdu>,
    max_len: usize,
    auto_ack: bool,
) {
    // PDU bytes that arrived with the handshake are decoded before anything is read.
    let mut decode_first = !early.is_empty();
    let mut buf: Vec<u8> = early;
    let mut chunk = vec![0u8; 16 * 1024];
    let mut peer_closed = false;
    let reason = 'conn: loop {
        if peer_closed {
            break CloseReason::ClosedByServer;
        }
        let n = if std::mem::take(&mut decode_first) {
            0
        } else {
            match stream.read(&mut chunk) {
                Ok(0) => break CloseReason::ClosedByServer,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => break CloseReason::ReadError(e.to_string()),
            }
        };
        trace!("read: bytes={n}");
        match shared.open(&chunk[..n], &mut buf) {
            Ok(Opened::Open) => {}
            Ok(Opened::PeerClosed) => peer_closed = true,
            Err(e) => break CloseReason::ReadError(e.to_string()),
        }
        let mut at = 0;
        loop {
            match Pdu::decode(&buf[at..], max_len) {
                Ok(Some((pdu, used))) => {
                    at += used;
                    dispatch(pdu, shared, events, auto_ack);
                }
                Ok(None) => break,
                Err(e) => {
                    warn!(
                        "closing connection on bad frame: peer={:?} err={e}",
                        stream.peer_addr()
                    );
                    break 'conn CloseReason::BadFrame(e.to_string());
                }
            }
        }
        buf.drain(..at);
    };
    // A local close shows up here as a read error or EOF; `close` keeps the first reason.
    shared.close(reason);
}

fn dispatch(pdu: Pdu, shared: &Shared, events: &Sender<Pdu>, auto_ack: bool) {
    debug!(
        "received: cmd=0x{:04x} seq={} len={}",
        pdu.header.command_id,
        pdu.header.seq_num,
        pdu.len()
    );
    let Some(pdu) = shared.route(pdu) else {
        return;
    };
    if pdu.header.command_id == CommandId::OtherHeartbeat as u16 {
        return;
    }
    if auto_ack && pdu.header.command_id == CommandId::MsgData as u16 {
        send_auto_ack(&pdu, shared);
    }
    // The receiver lives in the Client; if it is gone nobody wants events any more.
    let _ = events.send(pdu);
}

fn send_auto_ack(pdu: &Pdu, shared: &Shared) {
    let Ok(msg) = pdu.parse::<ImMsgData>() else {
        return;
    };
    let session_type = if ReceivedMessage::is_group_type(msg.msg_type) {
        SessionType::Group
    } else {
        SessionType::Single
    };
    let session_id = match session_type {
        SessionType::Single => msg.from_user_id,
        SessionType::Group => msg.to_session_id,
    };
    let ack = ImMsgDataAck {
        user_id: shared.user_id.load(Ordering::Relaxed),
        session_id,
        msg_id: msg.msg_id,
        session_type: session_type as i32,
    };
    let Ok(seq) = shared.next_seq() else {
        return;
    };
    if let Err(e) = shared.write(&Pdu::new(CommandId::MsgDataAck, seq, &ack).encode()) {
        debug!("auto ack not sent: msg_id={} err={e}", msg.msg_id);
    }
}

fn heartbeat_loop(shared: &Shared, stop: &Receiver<()>, interval: Duration) {
    loop {
        let due = shared.lock_state().last_sent + interval;
        match stop.recv_timeout(due.saturating_duration_since(Instant::now())) {
            Err(RecvTimeoutError::Timeout) => {}
            Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
        }
        let idle = {
            let state = shared.lock_state();
            if state.closed.is_some() {
                return;
            }
            state.last_sent.elapsed() >= interval
        };
        if !idle {
            continue;
        }
        let Ok(seq) = shared.next_seq() else {
            return;
        };
        trace!("heartbeat: seq={seq}");
        if let Err(e) = shared.write(&Pdu::empty(CommandId::OtherHeartbeat, seq).encode()) {
            debug!("heartbeat not sent: err={e}");
            return;
        }
    }
}
