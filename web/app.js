// teamtalk-rs web client: a demo of the TeamTalk wire protocol in a browser.
//
// It asks login_server (the origin of this page) for a msg_server, opens a WebSocket to it
// (wss://, or ws:// only when this page came over plain http) and speaks the same PDUs as the
// native clients: 16-byte header + protobuf body, MD5 password, AES-256-ECB message text.
// Everything is hand-written so the page loads nothing from anywhere else.
"use strict";

// ---------------------------------------------------------------------------------------------
// Bytes and text

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder("utf-8", { fatal: false });

function utf8(text) {
  return utf8Encoder.encode(text);
}

function fromUtf8(bytes) {
  return utf8Decoder.decode(bytes);
}

function toBase64(bytes) {
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary);
}

// Whitespace and '=' are skipped, as the servers' decoder does (PROTOCOL §7.2).
function fromBase64(text) {
  const binary = atob(text.replace(/[\s=]/g, ""));
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}

// ---------------------------------------------------------------------------------------------
// MD5 (RFC 1321): clients send the lowercase hex MD5 of the password (PROTOCOL §7.1).

const MD5_K = [
  0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
  0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
  0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
  0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
  0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
  0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
  0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
  0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
];
const MD5_S = [7, 12, 17, 22, 5, 9, 14, 20, 4, 11, 16, 23, 6, 10, 15, 21];

function md5Hex(bytes) {
  // Padding: 0x80, zeros to 56 mod 64, then the bit length as a little-endian u64.
  const total = Math.ceil((bytes.length + 9) / 64) * 64;
  const buf = new Uint8Array(total);
  buf.set(bytes);
  buf[bytes.length] = 0x80;
  const view = new DataView(buf.buffer);
  view.setUint32(total - 8, (bytes.length * 8) >>> 0, true);
  view.setUint32(total - 4, Math.floor(bytes.length / 0x20000000), true);
  const h = [0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476];
  const m = new Array(16);
  for (let chunk = 0; chunk < total; chunk += 64) {
    for (let i = 0; i < 16; i++) m[i] = view.getUint32(chunk + i * 4, true);
    let [a, b, c, d] = h;
    for (let i = 0; i < 64; i++) {
      let f, g;
      if (i < 16) [f, g] = [(b & c) | (~b & d), i];
      else if (i < 32) [f, g] = [(d & b) | (~d & c), (5 * i + 1) % 16];
      else if (i < 48) [f, g] = [b ^ c ^ d, (3 * i + 5) % 16];
      else [f, g] = [c ^ (b | ~d), (7 * i) % 16];
      f = (f + a + MD5_K[i] + m[g]) | 0;
      const s = MD5_S[(i >> 4) * 4 + (i % 4)];
      [a, d, c] = [d, c, b];
      b = (b + ((f << s) | (f >>> (32 - s)))) | 0;
    }
    h[0] = (h[0] + a) | 0;
    h[1] = (h[1] + b) | 0;
    h[2] = (h[2] + c) | 0;
    h[3] = (h[3] + d) | 0;
  }
  const out = new DataView(new ArrayBuffer(16));
  h.forEach((word, i) => out.setUint32(i * 4, word >>> 0, true));
  return Array.from(new Uint8Array(out.buffer), (x) => x.toString(16).padStart(2, "0")).join("");
}

// ---------------------------------------------------------------------------------------------
// AES-256 (FIPS 197), single blocks. WebCrypto has no ECB mode and needs a secure context, so
// the cipher is here; message text is ECB, each 16-byte block on its own (PROTOCOL §7.2).

const SBOX = new Uint8Array(256);
const INV_SBOX = new Uint8Array(256);
(function buildSbox() {
  // p runs over the multiplicative group of GF(2^8) (generator 3), q is its inverse.
  let p = 1;
  let q = 1;
  const rotl = (x, n) => ((x << n) | (x >> (8 - n))) & 0xff;
  do {
    p = (p ^ (p << 1) ^ (p & 0x80 ? 0x1b : 0)) & 0xff;
    q = (q ^ (q << 1)) & 0xff;
    q = (q ^ (q << 2)) & 0xff;
    q = (q ^ (q << 4)) & 0xff;
    if (q & 0x80) q ^= 0x09;
    SBOX[p] = q ^ rotl(q, 1) ^ rotl(q, 2) ^ rotl(q, 3) ^ rotl(q, 4) ^ 0x63;
  } while (p !== 1);
  SBOX[0] = 0x63;
  for (let i = 0; i < 256; i++) INV_SBOX[SBOX[i]] = i;
})();

function xtime(b) {
  return ((b << 1) ^ (b & 0x80 ? 0x1b : 0)) & 0xff;
}

function gmul(a, b) {
  let r = 0;
  while (b) {
    if (b & 1) r ^= a;
    a = xtime(a);
    b >>= 1;
  }
  return r;
}

// 15 round keys of 16 bytes from a 32-byte key.
function expandKey(key) {
  const w = new Uint8Array(240);
  w.set(key);
  let rcon = 1;
  for (let i = 32; i < 240; i += 4) {
    let t = Array.from(w.subarray(i - 4, i));
    if (i % 32 === 0) {
      t = [SBOX[t[1]] ^ rcon, SBOX[t[2]], SBOX[t[3]], SBOX[t[0]]];
      rcon = xtime(rcon);
    } else if (i % 32 === 16) {
      t = t.map((x) => SBOX[x]);
    }
    for (let j = 0; j < 4; j++) w[i + j] = w[i - 32 + j] ^ t[j];
  }
  return w;
}

function addRoundKey(s, w, round) {
  for (let i = 0; i < 16; i++) s[i] ^= w[round * 16 + i];
}

// The state is column-major, as the bytes come: s[row + 4 * column].
function shiftRows(s, inverse) {
  const t = s.slice();
  for (let r = 1; r < 4; r++) {
    for (let c = 0; c < 4; c++) {
      const from = inverse ? (c - r + 4) % 4 : (c + r) % 4;
      s[r + 4 * c] = t[r + 4 * from];
    }
  }
}

function mixColumns(s, inverse) {
  const m = inverse ? [14, 11, 13, 9] : [2, 3, 1, 1];
  for (let c = 0; c < 16; c += 4) {
    const a = s.slice(c, c + 4);
    for (let r = 0; r < 4; r++) {
      s[c + r] =
        gmul(a[r], m[0]) ^
        gmul(a[(r + 1) % 4], m[1]) ^
        gmul(a[(r + 2) % 4], m[2]) ^
        gmul(a[(r + 3) % 4], m[3]);
    }
  }
}

function encryptBlock(s, w) {
  addRoundKey(s, w, 0);
  for (let round = 1; round <= 14; round++) {
    for (let i = 0; i < 16; i++) s[i] = SBOX[s[i]];
    shiftRows(s, false);
    if (round < 14) mixColumns(s, false);
    addRoundKey(s, w, round);
  }
}

function decryptBlock(s, w) {
  addRoundKey(s, w, 14);
  for (let round = 13; round >= 0; round--) {
    shiftRows(s, true);
    for (let i = 0; i < 16; i++) s[i] = INV_SBOX[s[i]];
    addRoundKey(s, w, round);
    if (round > 0) mixColumns(s, true);
  }
}

// ---------------------------------------------------------------------------------------------
// Message text (PROTOCOL §7.2, proto/src/crypto.rs): zero-padded whole blocks, the plaintext
// length as a big-endian u32 in the last four bytes (one more block when it does not fit),
// AES-256-ECB, standard base64.

function encryptText(text, key) {
  const plain = utf8(text);
  const n = plain.length;
  let blocks = Math.ceil(n / 16);
  if (n % 16 === 0 || n % 16 > 12) blocks += 1;
  const buf = new Uint8Array(blocks * 16);
  buf.set(plain);
  new DataView(buf.buffer).setUint32(buf.length - 4, n);
  const w = expandKey(key);
  for (let at = 0; at < buf.length; at += 16) encryptBlock(buf.subarray(at, at + 16), w);
  return toBase64(buf);
}

// Throws on anything malformed, like the servers' decrypt_text.
function decryptText(cipherText, key) {
  const buf = fromBase64(cipherText);
  if (buf.length === 0 || buf.length % 16 !== 0) throw new Error("ciphertext is not whole blocks");
  const w = expandKey(key);
  for (let at = 0; at < buf.length; at += 16) decryptBlock(buf.subarray(at, at + 16), w);
  const n = new DataView(buf.buffer).getUint32(buf.length - 4);
  if (n > buf.length - 4) throw new Error("embedded length too large");
  return fromUtf8(buf.subarray(0, n));
}

// ---------------------------------------------------------------------------------------------
// Protobuf: only what the messages below need (varints, length-delimited fields). proto2
// `required` fields are always written, zeros included: the servers refuse a message missing
// one (PROTOCOL §7.5).

class PbWriter {
  constructor() {
    this.out = [];
  }
  varint(n) {
    while (n > 0x7f) {
      this.out.push((n % 128) | 0x80);
      n = Math.floor(n / 128);
    }
    this.out.push(n);
    return this;
  }
  uint(field, n) {
    return this.varint(field * 8).varint(n >>> 0);
  }
  bytes(field, bytes) {
    this.varint(field * 8 + 2).varint(bytes.length);
    for (const b of bytes) this.out.push(b);
    return this;
  }
  string(field, text) {
    return this.bytes(field, utf8(text));
  }
  finish() {
    return Uint8Array.from(this.out);
  }
}

// Decodes one message into {field number: [values]}: varints as numbers, length-delimited
// fields as bytes (strings and nested messages are decoded by the caller, who knows which).
function pbDecode(bytes) {
  const fields = {};
  let at = 0;
  const varint = () => {
    let value = 0;
    for (let shift = 0; shift < 70; shift += 7) {
      if (at >= bytes.length) throw new Error("truncated varint");
      const b = bytes[at++];
      value += (b & 0x7f) * 2 ** shift;
      if (!(b & 0x80)) return value;
    }
    throw new Error("varint too long");
  };
  while (at < bytes.length) {
    const key = varint();
    const field = Math.floor(key / 8);
    let value;
    switch (key % 8) {
      case 0:
        value = varint();
        break;
      case 1:
        at += 8;
        value = null;
        break;
      case 2: {
        const len = varint();
        if (at + len > bytes.length) throw new Error("truncated field");
        value = bytes.subarray(at, at + len);
        at += len;
        break;
      }
      case 5:
        at += 4;
        value = null;
        break;
      default:
        throw new Error("unsupported wire type");
    }
    if (at > bytes.length) throw new Error("truncated field");
    (fields[field] ||= []).push(value);
  }
  return fields;
}

const pb = {
  num: (m, f) => (m[f] ? m[f][m[f].length - 1] : 0),
  str: (m, f) => (m[f] ? fromUtf8(m[f][m[f].length - 1]) : ""),
  msg: (m, f) => (m[f] ? pbDecode(m[f][m[f].length - 1]) : {}),
  msgs: (m, f) => (m[f] || []).map(pbDecode),
};

// ---------------------------------------------------------------------------------------------
// PDUs (PROTOCOL §2): length u32, version u16, flag u16, service id u16, command id u16,
// seq u16, reserved u16, all big-endian, then the body.

const CMD = {
  LOGIN_REQ: 0x0103,
  LOGIN_RES: 0x0104,
  KICK_USER: 0x0107,
  ALL_USER_REQ: 0x0208,
  ALL_USER_RES: 0x0209,
  DEPARTMENT_REQ: 0x0210,
  DEPARTMENT_RES: 0x0211,
  MSG_DATA: 0x0301,
  MSG_DATA_ACK: 0x0302,
  GROUP_LIST_REQ: 0x0401,
  GROUP_LIST_RES: 0x0402,
  GROUP_INFO_REQ: 0x0403,
  GROUP_INFO_RES: 0x0404,
  HEARTBEAT: 0x0701,
};
const MSG_TYPE = { SINGLE_TEXT: 1, SINGLE_AUDIO: 2, GROUP_TEXT: 17, GROUP_AUDIO: 18 };
const SESSION = { SINGLE: 1, GROUP: 2 };
const HEADER_LEN = 16;

function encodePdu(command, seq, body) {
  const pdu = new Uint8Array(HEADER_LEN + body.length);
  const view = new DataView(pdu.buffer);
  view.setUint32(0, pdu.length);
  view.setUint16(4, 1); // version
  view.setUint16(8, command >> 8); // service id: the command's high byte
  view.setUint16(10, command);
  view.setUint16(12, seq);
  pdu.set(body, HEADER_LEN);
  return pdu;
}

// Collects bytes (WebSocket message boundaries mean nothing) and yields whole PDUs.
class PduReader {
  constructor() {
    this.buf = new Uint8Array(0);
  }
  push(bytes) {
    const joined = new Uint8Array(this.buf.length + bytes.length);
    joined.set(this.buf);
    joined.set(bytes, this.buf.length);
    this.buf = joined;
    const pdus = [];
    while (this.buf.length >= HEADER_LEN) {
      const view = new DataView(this.buf.buffer, this.buf.byteOffset);
      const length = view.getUint32(0);
      if (length < HEADER_LEN) throw new Error("bad PDU length " + length);
      if (this.buf.length < length) break;
      pdus.push({
        command: view.getUint16(10),
        seq: view.getUint16(12),
        body: this.buf.slice(HEADER_LEN, length),
      });
      this.buf = this.buf.slice(length);
    }
    return pdus;
  }
}

// ---------------------------------------------------------------------------------------------
// The connection: requests matched to answers by seq and command, everything else to handlers.

const REQUEST_TIMEOUT_MS = 15000;
const HEARTBEAT_MS = 30000;
const LOGIN_REFUSALS = {
  1: "no msg_server available",
  2: "the msg_servers are full",
  3: "the server has no database connection",
  4: "no login_server",
  5: "no route_server",
  6: "wrong user name or password",
  7: "client version too old",
};

class Connection {
  constructor(url, onNotice, onClose) {
    this.url = url;
    this.onNotice = onNotice;
    this.onClose = onClose;
    this.seq = 0;
    this.pending = new Map();
    this.reader = new PduReader();
    this.heartbeat = null;
  }

  open() {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(this.url);
      ws.binaryType = "arraybuffer";
      let opened = false;
      ws.onopen = () => {
        opened = true;
        resolve();
      };
      ws.onerror = () => {
        if (!opened) reject(new Error("cannot connect to " + this.url));
      };
      ws.onclose = () => {
        this.stop();
        for (const p of this.pending.values()) p.reject(new Error("the connection closed"));
        this.pending.clear();
        if (opened) this.onClose();
        else reject(new Error("cannot connect to " + this.url));
      };
      ws.onmessage = (event) => this.receive(new Uint8Array(event.data));
      this.ws = ws;
    });
  }

  receive(bytes) {
    let pdus;
    try {
      pdus = this.reader.push(bytes);
    } catch (e) {
      this.ws.close();
      return;
    }
    for (const pdu of pdus) {
      const key = pdu.seq + ":" + pdu.command;
      const waiting = this.pending.get(key);
      let body;
      try {
        body = pbDecode(pdu.body);
      } catch (e) {
        continue; // a body that does not parse is ignored, as the servers do
      }
      if (waiting) {
        this.pending.delete(key);
        clearTimeout(waiting.timer);
        waiting.resolve(body);
      } else {
        this.onNotice(pdu.command, body);
      }
    }
  }

  nextSeq() {
    this.seq = (this.seq % 0xffff) + 1;
    return this.seq;
  }

  send(command, body) {
    const seq = this.nextSeq();
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(encodePdu(command, seq, body));
    return seq;
  }

  // Sends a request and waits for the answer `answer` with the same seq.
  call(command, body, answer) {
    return new Promise((resolve, reject) => {
      const seq = this.send(command, body);
      const key = seq + ":" + answer;
      const timer = setTimeout(() => {
        this.pending.delete(key);
        reject(new Error("no answer from the server"));
      }, REQUEST_TIMEOUT_MS);
      this.pending.set(key, { resolve, reject, timer });
    });
  }

  startHeartbeat() {
    this.heartbeat = setInterval(() => this.send(CMD.HEARTBEAT, new Uint8Array(0)), HEARTBEAT_MS);
  }

  stop() {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = null;
  }

  close() {
    this.stop();
    if (this.ws) this.ws.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Discovery: login_server's /msg_server answer (PROTOCOL §8.2) names the msg_server and its
// WebSocket ports.

async function discover() {
  let answer;
  try {
    const response = await fetch("/msg_server", { cache: "no-store" });
    answer = JSON.parse(await response.text());
  } catch (e) {
    throw new Error("login_server did not answer the msg_server request");
  }
  if (answer.code !== 0) throw new Error("login_server: " + (answer.msg || "no msg_server"));
  const secure = location.protocol === "https:";
  let scheme;
  let port;
  if (answer.wssPort) [scheme, port] = ["wss", answer.wssPort];
  else if (!secure && answer.wsPort) [scheme, port] = ["ws", answer.wsPort];
  else throw new Error("the msg_server offers no " + (secure ? "wss" : "WebSocket") + " port");
  let host = answer.priorIP || location.hostname;
  if (host.includes(":") && !host.startsWith("[")) host = "[" + host + "]";
  return scheme + "://" + host + ":" + port + (answer.wsPath || "/ws");
}

// ---------------------------------------------------------------------------------------------
// The page

const state = {
  conn: null,
  key: null,
  me: null,
  users: new Map(), // id -> {nick, name, dept}
  groups: new Map(), // id -> {name, members}
  departments: new Map(), // id -> name
  chats: new Map(), // "u:ID" / "g:ID" -> [{from, text}]
  current: null, // the selected chat key
};

const $ = (id) => document.getElementById(id);

function showError(text) {
  const error = $("error");
  error.textContent = text;
  error.hidden = !text;
}

function setStatus(text) {
  $("status").textContent = text;
}

async function login(event) {
  event.preventDefault();
  showError("");
  const name = $("user").value.trim();
  const password = $("password").value;
  const key = utf8($("aes-key").value);
  if (!name || !password) return showError("Enter a user name and a password.");
  if (key.length !== 32) return showError("The AES key must be exactly 32 bytes.");
  $("login-button").disabled = true;
  setStatus("Connecting…");
  try {
    const url = await discover();
    const conn = new Connection(url, onNotice, onClosed);
    await conn.open();
    state.conn = conn;
    const req = new PbWriter()
      .string(1, name)
      .string(2, md5Hex(utf8(password)))
      .uint(3, 1) // USER_STATUS_ONLINE
      .uint(4, 1) // CLIENT_TYPE_WINDOWS: a desktop client
      .string(5, "teamtalk-rs web demo")
      .finish();
    const res = await conn.call(CMD.LOGIN_REQ, req, CMD.LOGIN_RES);
    const code = pb.num(res, 2);
    if (code !== 0) {
      conn.close();
      state.conn = null;
      throw new Error("Login refused: " + (LOGIN_REFUSALS[code] || "code " + code) + ".");
    }
    state.key = key;
    state.me = pb.num(pb.msg(res, 5), 1);
    conn.startHeartbeat();
    await loadLists();
    $("login-view").hidden = true;
    $("chat-view").hidden = false;
    $("me").textContent = userLabel(state.me);
    setStatus("Connected to " + url);
  } catch (e) {
    if (state.conn) state.conn.close();
    state.conn = null;
    setStatus("");
    showError(e.message);
  } finally {
    $("login-button").disabled = false;
  }
}

async function loadLists() {
  const conn = state.conn;
  const me = state.me;
  const depts = await conn.call(
    CMD.DEPARTMENT_REQ,
    new PbWriter().uint(1, me).uint(2, 0).finish(),
    CMD.DEPARTMENT_RES,
  );
  for (const d of pb.msgs(depts, 3)) state.departments.set(pb.num(d, 1), pb.str(d, 3));
  const users = await conn.call(
    CMD.ALL_USER_REQ,
    new PbWriter().uint(1, me).uint(2, 0).finish(),
    CMD.ALL_USER_RES,
  );
  for (const u of pb.msgs(users, 3)) {
    state.users.set(pb.num(u, 1), {
      nick: pb.str(u, 3),
      name: pb.str(u, 9) || pb.str(u, 7),
      dept: pb.num(u, 5),
    });
  }
  const list = await conn.call(
    CMD.GROUP_LIST_REQ,
    new PbWriter().uint(1, me).finish(),
    CMD.GROUP_LIST_RES,
  );
  const versions = pb.msgs(list, 2);
  if (versions.length) {
    const req = new PbWriter().uint(1, me);
    for (const v of versions) req.bytes(2, new PbWriter().uint(1, pb.num(v, 1)).uint(2, 0).finish());
    const info = await conn.call(CMD.GROUP_INFO_REQ, req.finish(), CMD.GROUP_INFO_RES);
    for (const g of pb.msgs(info, 2)) {
      state.groups.set(pb.num(g, 1), { name: pb.str(g, 3), members: (g[8] || []).length });
    }
  }
  renderLists();
}

function userLabel(id) {
  const user = state.users.get(id);
  return user ? user.nick || user.name : "user " + id;
}

function renderLists() {
  const contacts = $("contacts");
  contacts.replaceChildren();
  const byDept = [...state.users.entries()]
    .filter(([id]) => id !== state.me)
    .sort((a, b) => a[1].dept - b[1].dept || a[1].nick.localeCompare(b[1].nick));
  for (const [id, user] of byDept) {
    const dept = state.departments.get(user.dept) || "department " + user.dept;
    contacts.append(chatEntry("u:" + id, user.nick || user.name, dept));
  }
  const groups = $("groups");
  groups.replaceChildren();
  for (const [id, group] of state.groups) {
    groups.append(chatEntry("g:" + id, group.name, group.members + " members"));
  }
}

function chatEntry(chat, title, detail) {
  const item = document.createElement("li");
  const button = document.createElement("button");
  button.type = "button";
  button.dataset.chat = chat;
  const name = document.createElement("span");
  name.className = "name";
  name.textContent = title;
  const small = document.createElement("span");
  small.className = "detail";
  small.textContent = detail;
  const unread = document.createElement("span");
  unread.className = "unread";
  button.append(name, small, unread);
  button.addEventListener("click", () => selectChat(chat));
  item.append(button);
  return item;
}

function selectChat(chat) {
  state.current = chat;
  for (const b of document.querySelectorAll("[data-chat]")) {
    b.classList.toggle("selected", b.dataset.chat === chat);
    if (b.dataset.chat === chat) b.querySelector(".unread").textContent = "";
  }
  const [kind, id] = [chat[0], Number(chat.slice(2))];
  $("peer").textContent = kind === "g" ? (state.groups.get(id) || {}).name : userLabel(id);
  $("send-form").hidden = false;
  renderMessages();
  $("text").focus();
}

function renderMessages() {
  const box = $("messages");
  box.replaceChildren();
  for (const m of state.chats.get(state.current) || []) {
    const line = document.createElement("div");
    line.className = "message" + (m.from === state.me ? " mine" : "");
    line.dataset.from = m.from;
    const who = document.createElement("span");
    who.className = "from";
    who.textContent = userLabel(m.from);
    const text = document.createElement("span");
    text.className = "text";
    text.textContent = m.text;
    line.append(who, text);
    box.append(line);
  }
  box.scrollTop = box.scrollHeight;
}

function addMessage(chat, from, text) {
  if (!state.chats.has(chat)) state.chats.set(chat, []);
  state.chats.get(chat).push({ from, text });
  if (chat === state.current) {
    renderMessages();
  } else {
    const button = document.querySelector('[data-chat="' + chat + '"] .unread');
    if (button) button.textContent = String(Number(button.textContent || 0) + 1);
  }
}

async function send(event) {
  event.preventDefault();
  const input = $("text");
  const text = input.value;
  if (!text || !state.current || !state.conn) return;
  const group = state.current[0] === "g";
  const to = Number(state.current.slice(2));
  const msg = new PbWriter()
    .uint(1, state.me)
    .uint(2, to)
    .uint(3, 0) // the server assigns the id
    .uint(4, Math.floor(Date.now() / 1000))
    .uint(5, group ? MSG_TYPE.GROUP_TEXT : MSG_TYPE.SINGLE_TEXT)
    .bytes(6, utf8(encryptText(text, state.key)))
    .finish();
  input.value = "";
  try {
    await state.conn.call(CMD.MSG_DATA, msg, CMD.MSG_DATA_ACK);
    addMessage(state.current, state.me, text);
    showError("");
  } catch (e) {
    input.value = text;
    showError("Not sent: " + e.message);
  }
}

// PDUs nobody waits for: delivered messages, kicks, the server's heartbeats.
function onNotice(command, body) {
  if (command === CMD.MSG_DATA) {
    const from = pb.num(body, 1);
    const to = pb.num(body, 2);
    const msgId = pb.num(body, 3);
    const type = pb.num(body, 5);
    const group = type === MSG_TYPE.GROUP_TEXT || type === MSG_TYPE.GROUP_AUDIO;
    const session = group ? to : from;
    let text;
    if (type === MSG_TYPE.SINGLE_TEXT || type === MSG_TYPE.GROUP_TEXT) {
      try {
        text = decryptText(pb.str(body, 6), state.key);
      } catch (e) {
        text = "[cannot decrypt this message: is the AES key right?]";
      }
    } else {
      text = "[audio message]";
    }
    // The receipt real clients send: session is the sender (single) or the group.
    state.conn.send(
      CMD.MSG_DATA_ACK,
      new PbWriter()
        .uint(1, state.me)
        .uint(2, session)
        .uint(3, msgId)
        .uint(4, group ? SESSION.GROUP : SESSION.SINGLE)
        .finish(),
    );
    addMessage((group ? "g:" : "u:") + session, from, text);
  } else if (command === CMD.KICK_USER) {
    showError("Logged out: this user logged in elsewhere.");
  }
}

function onClosed() {
  state.conn = null;
  setStatus("Disconnected.");
  if ($("error").hidden) showError("The connection to the msg_server closed. Reload to log in again.");
  $("send-form").hidden = true;
}

if (typeof document !== "undefined") {
  document.addEventListener("DOMContentLoaded", () => {
    $("login-form").addEventListener("submit", login);
    $("send-form").addEventListener("submit", send);
  });
}
