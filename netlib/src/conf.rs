//! Reader for the original `*.conf` files (CONFIG.md §2), accepting them exactly.
//!
//! Rules, each from the original reader: everything from the first `#` is a comment; a line is
//! split at its first `=`; key and value are trimmed of spaces and tabs; a line without `=`, or
//! with an empty key or value, is ignored (so `Key=` means the key is missing); the first
//! occurrence of a key wins; keys are case-sensitive. Unlike the original, a trailing `\r` is
//! stripped, lines of any length are read, and numbers are validated instead of `atoi`'d.

use std::collections::HashMap;
use std::path::Path;
use std::str::FromStr;

/// Why a conf value is unusable.
#[derive(Debug, thiserror::Error)]
pub enum ConfError {
    /// The file could not be read.
    #[error("cannot read config file {path}")]
    Io {
        /// Path tried.
        path: String,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// A required key is absent (or empty).
    #[error("config item missing: {key}")]
    Missing {
        /// The key.
        key: String,
    },
    /// A key's value cannot be used.
    #[error("config item {key}={value:?} is invalid: {reason}")]
    Invalid {
        /// The key.
        key: String,
        /// Its value.
        value: String,
        /// What is wrong.
        reason: String,
    },
}

/// The key/value pairs of one conf file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Conf {
    values: HashMap<String, String>,
}

impl Conf {
    /// Parses conf text.
    pub fn parse(text: &str) -> Self {
        let mut values = HashMap::new();
        for raw in text.split('\n') {
            let line = raw.strip_suffix('\r').unwrap_or(raw);
            let line = line.split_once('#').map_or(line, |(before, _)| before);
            let Some((key, value)) = line.split_once('=') else {
                continue;
            };
            let (key, value) = (trim(key), trim(value));
            if key.is_empty() || value.is_empty() {
                continue;
            }
            values
                .entry(key.to_owned())
                .or_insert_with(|| value.to_owned());
        }
        Self { values }
    }

    /// Reads and parses a file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, ConfError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| ConfError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Ok(Self::parse(&String::from_utf8_lossy(&bytes)))
    }

    /// Builds a conf from pairs (tests).
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Self {
            values: pairs
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        }
    }

    /// Sets a value (tests and programmatic configs).
    pub fn set(&mut self, key: &str, value: impl Into<String>) {
        self.values.insert(key.to_owned(), value.into());
    }

    /// The value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }

    /// The value of a required key.
    pub fn require(&self, key: &str) -> Result<&str, ConfError> {
        self.get(key).ok_or_else(|| ConfError::Missing {
            key: key.to_owned(),
        })
    }

    /// A required number.
    pub fn require_num<T>(&self, key: &str) -> Result<T, ConfError>
    where
        T: FromStr,
        T::Err: std::fmt::Display,
    {
        parse_num(key, self.require(key)?)
    }

    /// An optional number with a default.
    pub fn num_or<T>(&self, key: &str, default: T) -> Result<T, ConfError>
    where
        T: FromStr,
        T::Err: std::fmt::Display,
    {
        self.get(key).map_or(Ok(default), |v| parse_num(key, v))
    }

    /// A required number that must not be 0 (counts, sizes, timeouts).
    pub fn require_positive<T>(&self, key: &str) -> Result<T, ConfError>
    where
        T: FromStr + Default + PartialEq,
        T::Err: std::fmt::Display,
    {
        not_zero(key, self.require_num(key)?)
    }

    /// An optional number with a default that must not be 0 when given.
    pub fn positive_or<T>(&self, key: &str, default: T) -> Result<T, ConfError>
    where
        T: FromStr + Default + PartialEq,
        T::Err: std::fmt::Display,
    {
        not_zero(key, self.num_or(key, default)?)
    }

    /// A required `;`-separated list (listen IP lists); empty items are ignored.
    pub fn require_list(&self, key: &str) -> Result<Vec<String>, ConfError> {
        let list = split_list(self.require(key)?, ';');
        if list.is_empty() {
            return Err(ConfError::Missing {
                key: key.to_owned(),
            });
        }
        Ok(list)
    }

    /// A required `,`-separated list (`DBInstances`, `CacheInstances`).
    pub fn require_names(&self, key: &str) -> Result<Vec<String>, ConfError> {
        let list = split_list(self.require(key)?, ',');
        if list.is_empty() {
            return Err(ConfError::Missing {
                key: key.to_owned(),
            });
        }
        Ok(list)
    }

    /// A numbered server list `<prefix>IP<n>` / `<prefix>Port<n>` for n = 1, 2, …, ending at
    /// the first n where either key is missing.
    pub fn server_list(&self, prefix: &str) -> Result<Vec<(String, u16)>, ConfError> {
        let mut out = Vec::new();
        for n in 1.. {
            let ip_key = format!("{prefix}IP{n}");
            let port_key = format!("{prefix}Port{n}");
            let (Some(ip), Some(port)) = (self.get(&ip_key), self.get(&port_key)) else {
                break;
            };
            out.push((ip.to_owned(), parse_num(&port_key, port)?));
        }
        Ok(out)
    }
}

fn trim(s: &str) -> &str {
    s.trim_matches(|c| c == ' ' || c == '\t')
}

fn split_list(value: &str, sep: char) -> Vec<String> {
    value
        .split(sep)
        .map(trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn not_zero<T: Default + PartialEq>(key: &str, value: T) -> Result<T, ConfError> {
    if value == T::default() {
        return Err(ConfError::Invalid {
            key: key.to_owned(),
            value: "0".to_owned(),
            reason: "must be greater than 0".to_owned(),
        });
    }
    Ok(value)
}

fn parse_num<T>(key: &str, value: &str) -> Result<T, ConfError>
where
    T: FromStr,
    T::Err: std::fmt::Display,
{
    value.parse().map_err(|e: T::Err| ConfError::Invalid {
        key: key.to_owned(),
        value: value.to_owned(),
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positive_numbers_refuse_zero_and_name_the_key() {
        let conf = Conf::parse("A=3\nZ=0\nX=x\n");
        assert_eq!(conf.require_positive::<u32>("A").unwrap(), 3);
        assert_eq!(conf.positive_or::<u32>("Missing", 7).unwrap(), 7);
        for key in ["Z", "X"] {
            assert!(matches!(
                conf.positive_or::<u32>(key, 1),
                Err(ConfError::Invalid { key: k, .. }) if k == key
            ));
        }
        assert!(matches!(
            conf.require_positive::<u32>("Missing"),
            Err(ConfError::Missing { .. })
        ));
    }

    #[test]
    fn syntax_rules_of_the_original_reader() {
        type Expect<'a> = &'a [(&'a str, Option<&'a str>)];
        let cases: &[(&str, Expect<'_>)] = &[
            ("Key=value", &[("Key", Some("value"))]),
            (
                "  Key \t=\t value with space \t",
                &[("Key", Some("value with space"))],
            ),
            (
                "ThreadNum=48\t\t# double the number of CPU core",
                &[("ThreadNum", Some("48"))],
            ),
            ("#Commented=1", &[("Commented", None)]),
            ("Key=", &[("Key", None)]),
            ("=value", &[("", None)]),
            ("no equals sign", &[("no equals sign", None)]),
            ("A=b=c", &[("A", Some("b=c"))]),
            ("Dup=first\nDup=second", &[("Dup", Some("first"))]),
            (
                "key=lower\nKEY=upper",
                &[("key", Some("lower")), ("KEY", Some("upper"))],
            ),
            (
                "Crlf=yes\r\nNext=1\r\n",
                &[("Crlf", Some("yes")), ("Next", Some("1"))],
            ),
            ("Pass=ab#cd", &[("Pass", Some("ab"))]),
            (
                "IpAddr1=127.0.0.1\t#电信IP",
                &[("IpAddr1", Some("127.0.0.1"))],
            ),
        ];
        for (text, expect) in cases {
            let conf = Conf::parse(text);
            for (key, value) in *expect {
                assert_eq!(conf.get(key), *value, "{text:?} key {key}");
            }
        }
    }

    #[test]
    fn lists_and_numbered_servers() {
        let conf = Conf::parse(
            "ListenIP=127.0.0.1;0.0.0.0\nDBInstances=teamtalk_master, teamtalk_slave\n\
             DBServerIP1=127.0.0.1\nDBServerPort1=10600\nDBServerIP2=127.0.0.2\n\
             DBServerPort2=10601\nDBServerIP4=127.0.0.4\nDBServerPort4=1\n\
             Odd=a;;b;\n",
        );
        assert_eq!(
            conf.require_list("ListenIP").unwrap(),
            ["127.0.0.1", "0.0.0.0"]
        );
        assert_eq!(conf.require_list("Odd").unwrap(), ["a", "b"]);
        assert_eq!(
            conf.require_names("DBInstances").unwrap(),
            ["teamtalk_master", "teamtalk_slave"]
        );
        assert_eq!(
            conf.server_list("DBServer").unwrap(),
            [
                ("127.0.0.1".to_owned(), 10600),
                ("127.0.0.2".to_owned(), 10601)
            ]
        );
        assert!(conf.server_list("RouteServer").unwrap().is_empty());
    }

    #[test]
    fn errors_name_the_key() {
        let conf = Conf::parse("Port=80x\nEmpty=\n");
        let err = conf.require_num::<u16>("Port").unwrap_err();
        assert!(
            matches!(&err, ConfError::Invalid { key, value, .. } if key == "Port" && value == "80x")
        );
        assert!(err.to_string().contains("Port"));
        assert!(matches!(conf.require("Empty"), Err(ConfError::Missing { key }) if key == "Empty"));
        assert_eq!(conf.num_or("Absent", 10u32).unwrap(), 10);
        assert!(matches!(
            Conf::load("/nonexistent/x.conf"),
            Err(ConfError::Io { .. })
        ));
    }
}
