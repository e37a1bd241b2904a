//! Who may connect to an internal listener: an allow-list of IP addresses and CIDR ranges.
//!
//! The original's server-to-server ports accept anybody who can reach them (KNOWN_DEFECTS
//! D-AUTH-10). A [`PeerFilter`] given to [`crate::EventLoop::listen_filtered`] makes the reactor
//! close a connection from any other address right at accept, before the handler sees it.
//!
//! The conf form is a `;`-list of entries, each an address (`10.1.2.3`, `::1`) or a range
//! (`10.0.0.0/8`, `fc00::/7`). Without the key a listener accepts loopback and private
//! addresses only ([`PeerFilter::private_ranges`]). Invariants: a peer is matched in its
//! canonical form too, so an IPv4-mapped IPv6 peer (`::ffff:10.1.2.3`, as a dual-stack listener
//! reports it) matches the IPv4 entries; a range's host bits are ignored (`10.1.2.3/8` is
//! `10.0.0.0/8`), as `ip route` and most firewalls read them.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;
use std::time::{Duration, Instant};

use crate::conf::{Conf, ConfError};

/// At most one refusal line per listener in this interval; the others are counted.
pub(crate) const REFUSAL_LOG_INTERVAL: Duration = Duration::from_secs(1);

/// Why an allow-list entry cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CidrError {
    /// The part before the `/` is not an IPv4 or IPv6 address.
    #[error("not an IP address or CIDR range")]
    Address,
    /// The part after the `/` is not a number within the address's bit length.
    #[error("prefix length must be 0-{max}")]
    Prefix {
        /// 32 for IPv4, 128 for IPv6.
        max: u8,
    },
}

/// An IP network: the addresses sharing the first `prefix` bits with `addr`. A bare address
/// is the network of that one address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// The network of `addr`'s first `prefix` bits; `None` when `prefix` exceeds the bit length.
    pub fn new(addr: IpAddr, prefix: u8) -> Option<Self> {
        (prefix <= bit_len(addr)).then(|| Self {
            addr: mask(addr, prefix),
            prefix,
        })
    }

    /// The network's first address.
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The number of leading bits that must match.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// Whether `ip` is in this network (never across address families).
    pub fn contains(&self, ip: IpAddr) -> bool {
        ip.is_ipv4() == self.addr.is_ipv4() && mask(ip, self.prefix) == self.addr
    }
}

impl FromStr for Cidr {
    type Err = CidrError;

    fn from_str(s: &str) -> Result<Self, CidrError> {
        let (addr, prefix) = match s.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (s, None),
        };
        // Accept `[::1]` as well: people copy IPv6 addresses out of URLs.
        let addr: IpAddr = addr
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .map_err(|_| CidrError::Address)?;
        let max = bit_len(addr);
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or(CidrError::Prefix { max })?,
        };
        Self::new(addr, prefix).ok_or(CidrError::Prefix { max })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// The addresses a listener accepts connections from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerFilter {
    nets: Vec<Cidr>,
    /// Whether the list came from the conf (else it is a built-in default).
    configured: bool,
}

impl PeerFilter {
    /// The default of internal listeners: loopback (127.0.0.0/8, ::1), the RFC 1918 ranges
    /// (10/8, 172.16/12, 192.168/16), IPv6 unique-local (fc00::/7) and link-local (fe80::/10).
    pub fn private_ranges() -> Self {
        let v4 = |a, b, prefix| Cidr::new(IpAddr::V4(Ipv4Addr::new(a, b, 0, 0)), prefix);
        let v6 =
            |seg, prefix| Cidr::new(IpAddr::V6(Ipv6Addr::new(seg, 0, 0, 0, 0, 0, 0, 0)), prefix);
        let nets = [
            v4(127, 0, 8),
            v4(10, 0, 8),
            v4(172, 16, 12),
            v4(192, 168, 16),
            Cidr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), 128),
            v6(0xfc00, 7),
            v6(0xfe80, 10),
        ];
        Self {
            nets: nets.into_iter().flatten().collect(),
            configured: false,
        }
    }

    /// Loopback only (127.0.0.0/8, ::1): for a port that should not even trust the LAN.
    pub fn loopback() -> Self {
        let nets = [
            Cidr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 0)), 8),
            Cidr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), 128),
        ];
        Self {
            nets: nets.into_iter().flatten().collect(),
            configured: false,
        }
    }

    /// Exactly these networks, as if configured; an empty list accepts nobody.
    pub fn from_nets(nets: Vec<Cidr>) -> Self {
        Self {
            nets,
            configured: true,
        }
    }

    /// Parses the `;`-list `value` of conf key `key`; empty items are skipped, a bad one is
    /// [`ConfError::Invalid`] naming the key and the item.
    pub fn parse_list(key: &str, value: &str) -> Result<Self, ConfError> {
        let invalid = |value: &str, reason: String| ConfError::Invalid {
            key: key.to_owned(),
            value: value.to_owned(),
            reason,
        };
        let nets = value
            .split(';')
            .map(|item| item.trim_matches(|c| c == ' ' || c == '\t'))
            .filter(|item| !item.is_empty())
            .map(|item| {
                item.parse()
                    .map_err(|e: CidrError| invalid(item, e.to_string()))
            })
            .collect::<Result<Vec<Cidr>, _>>()?;
        if nets.is_empty() {
            // `Key=;` is more likely a slip than a wish to refuse everybody.
            return Err(invalid(value, "lists no address".to_owned()));
        }
        Ok(Self::from_nets(nets))
    }

    /// The list under `key`, or `default` when the key is absent.
    pub fn from_conf_or(conf: &Conf, key: &str, default: Self) -> Result<Self, ConfError> {
        conf.get(key)
            .map_or(Ok(default), |value| Self::parse_list(key, value))
    }

    /// The list under `key`, or [`PeerFilter::private_ranges`] when the key is absent.
    pub fn from_conf(conf: &Conf, key: &str) -> Result<Self, ConfError> {
        Self::from_conf_or(conf, key, Self::private_ranges())
    }

    /// Whether the list is a built-in default rather than configured.
    pub fn is_default(&self) -> bool {
        !self.configured
    }

    /// The networks accepted.
    pub fn nets(&self) -> &[Cidr] {
        &self.nets
    }

    /// Whether a peer at `ip` may connect.
    pub fn allows(&self, ip: IpAddr) -> bool {
        let canonical = ip.to_canonical();
        self.nets
            .iter()
            .any(|net| net.contains(ip) || net.contains(canonical))
    }
}

impl Default for PeerFilter {
    /// [`PeerFilter::private_ranges`].
    fn default() -> Self {
        Self::private_ranges()
    }
}

impl fmt::Display for PeerFilter {
    /// The `;`-list, with ` (default)` after a built-in one.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, net) in self.nets.iter().enumerate() {
            if i > 0 {
                f.write_str(";")?;
            }
            write!(f, "{net}")?;
        }
        if !self.configured {
            f.write_str(" (default)")?;
        }
        Ok(())
    }
}

/// Rate limit of one listener's refusal log line: a port scan must not flood the log.
#[derive(Debug, Default)]
pub(crate) struct RefusalLog {
    last_line: Option<Instant>,
    /// Refusals not logged since the last line.
    unlogged: u64,
}

impl RefusalLog {
    /// Records a refusal at `now`: `Some(n)` when a line should be written, `n` being the
    /// refusals left unlogged since the previous line.
    pub(crate) fn refused(&mut self, now: Instant) -> Option<u64> {
        match self.last_line {
            Some(at) if now.saturating_duration_since(at) < REFUSAL_LOG_INTERVAL => {
                self.unlogged += 1;
                None
            }
            _ => {
                self.last_line = Some(now);
                Some(std::mem::take(&mut self.unlogged))
            }
        }
    }
}

fn bit_len(addr: IpAddr) -> u8 {
    match addr {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

/// `addr` with every bit after the first `prefix` cleared (`prefix` ≤ the bit length).
fn mask(addr: IpAddr, prefix: u8) -> IpAddr {
    match addr {
        IpAddr::V4(a) => {
            let bits = u32::from(a);
            let keep = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(bits & keep))
        }
        IpAddr::V6(a) => {
            let bits = u128::from(a);
            let keep = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(bits & keep))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn entries_parse_as_addresses_or_ranges() {
        let cases = [
            ("10.1.2.3", "10.1.2.3/32"),
            ("10.0.0.0/8", "10.0.0.0/8"),
            ("10.1.2.3/8", "10.0.0.0/8"),
            ("0.0.0.0/0", "0.0.0.0/0"),
            ("::1", "::1/128"),
            ("[::1]", "::1/128"),
            ("fc00::/7", "fc00::/7"),
            ("fe80::1234/10", "fe80::/10"),
            ("::/0", "::/0"),
        ];
        for (text, shown) in cases {
            assert_eq!(text.parse::<Cidr>().unwrap().to_string(), shown, "{text}");
        }
        for bad in [
            "",
            "10.0.0",
            "10.0.0.300",
            "host.example",
            "10.0.0.0/",
            "/8",
            "::1/x",
        ] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
        assert_eq!(
            "10.0.0.0/33".parse::<Cidr>(),
            Err(CidrError::Prefix { max: 32 })
        );
        assert_eq!(
            "::/129".parse::<Cidr>(),
            Err(CidrError::Prefix { max: 128 })
        );
        assert_eq!(
            "10.0.0.0/-1".parse::<Cidr>(),
            Err(CidrError::Prefix { max: 32 })
        );
    }

    #[test]
    fn ranges_match_by_prefix_and_never_across_families() {
        let net: Cidr = "172.16.0.0/12".parse().unwrap();
        assert!(net.contains(ip("172.16.0.1")));
        assert!(net.contains(ip("172.31.255.255")));
        assert!(!net.contains(ip("172.32.0.0")));
        assert!(!net.contains(ip("172.15.255.255")));
        let any4: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(any4.contains(ip("8.8.8.8")));
        assert!(!any4.contains(ip("::1")));
        let one: Cidr = "2001:db8::7".parse().unwrap();
        assert!(one.contains(ip("2001:db8::7")));
        assert!(!one.contains(ip("2001:db8::8")));
    }

    #[test]
    fn default_accepts_loopback_and_private_ranges_only() {
        let filter = PeerFilter::default();
        assert!(filter.is_default());
        for allowed in [
            "127.0.0.1",
            "127.0.0.2",
            "10.200.1.1",
            "172.16.5.5",
            "172.31.0.1",
            "192.168.1.10",
            "::1",
            "fd12:3456::1",
            "fc00::1",
            "fe80::1",
            "::ffff:10.1.2.3",
            "::ffff:127.0.0.1",
        ] {
            assert!(filter.allows(ip(allowed)), "{allowed}");
        }
        for refused in [
            "8.8.8.8",
            "172.32.0.1",
            "192.169.0.1",
            "11.0.0.1",
            "0.0.0.0",
            "2001:db8::1",
            "fec0::1",
            "::ffff:8.8.8.8",
            "::",
        ] {
            assert!(!filter.allows(ip(refused)), "{refused}");
        }
    }

    #[test]
    fn loopback_filter_refuses_the_lan() {
        let filter = PeerFilter::loopback();
        assert!(filter.allows(ip("127.0.0.1")));
        assert!(filter.allows(ip("::1")));
        assert!(filter.allows(ip("::ffff:127.0.0.1")));
        assert!(!filter.allows(ip("10.0.0.1")));
        assert!(!filter.allows(ip("fd00::1")));
    }

    #[test]
    fn configured_list_replaces_the_default() {
        let filter = PeerFilter::parse_list("Key", " 10.0.0.0/8 ;;192.0.2.7\t; ::1").unwrap();
        assert!(!filter.is_default());
        assert_eq!(filter.to_string(), "10.0.0.0/8;192.0.2.7/32;::1/128");
        assert!(filter.allows(ip("10.9.9.9")));
        assert!(filter.allows(ip("::ffff:10.9.9.9")));
        assert!(filter.allows(ip("192.0.2.7")));
        assert!(filter.allows(ip("::1")));
        assert!(!filter.allows(ip("192.0.2.8")));
        // The default's ranges are gone once a list is configured.
        assert!(!filter.allows(ip("127.0.0.1")));
        assert!(!filter.allows(ip("192.168.0.1")));
        assert!(!PeerFilter::from_nets(Vec::new()).allows(ip("127.0.0.1")));
    }

    #[test]
    fn bad_entries_are_invalid_naming_key_and_entry() {
        let err = PeerFilter::parse_list("AllowedPeerIPs", "127.0.0.1;10.0.0.x").unwrap_err();
        assert!(
            matches!(&err, ConfError::Invalid { key, value, .. }
                if key == "AllowedPeerIPs" && value == "10.0.0.x"),
            "{err}"
        );
        let err = PeerFilter::parse_list("AllowedPeerIPs", "10.0.0.0/40").unwrap_err();
        assert!(err.to_string().contains("prefix length"), "{err}");
        assert!(matches!(
            PeerFilter::parse_list("AllowedPeerIPs", " ; "),
            Err(ConfError::Invalid { key, .. }) if key == "AllowedPeerIPs"
        ));
    }

    #[test]
    fn absent_key_gives_the_default() {
        let conf = Conf::parse("Other=1\n");
        assert_eq!(
            PeerFilter::from_conf(&conf, "AllowedPeerIPs").unwrap(),
            PeerFilter::private_ranges()
        );
        assert_eq!(
            PeerFilter::from_conf_or(&conf, "AllowIP", PeerFilter::loopback()).unwrap(),
            PeerFilter::loopback()
        );
        let conf = Conf::parse("AllowedPeerIPs=192.0.2.0/24\t# the app servers\n");
        let filter = PeerFilter::from_conf(&conf, "AllowedPeerIPs").unwrap();
        assert_eq!(filter.nets(), ["192.0.2.0/24".parse::<Cidr>().unwrap()]);
    }

    #[test]
    fn refusal_lines_are_limited_to_one_per_interval_with_a_count() {
        let start = Instant::now();
        let mut log = RefusalLog::default();
        assert_eq!(log.refused(start), Some(0));
        assert_eq!(log.refused(start), None);
        assert_eq!(log.refused(start + Duration::from_millis(500)), None);
        assert_eq!(log.refused(start + REFUSAL_LOG_INTERVAL), Some(2));
        assert_eq!(log.refused(start + REFUSAL_LOG_INTERVAL), None);
        assert_eq!(log.refused(start + 3 * REFUSAL_LOG_INTERVAL), Some(1));
    }
}
