//! Network facts the preflight reasons about, without doing any IO: CIDR blocks, whether an
//! address is public, and the host and port an endpoint URL names.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use serde::Serialize;

/// An IPv4 or IPv6 CIDR block such as `10.0.0.0/16`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(into = "String")]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

/// Why a CIDR block or an endpoint URL was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetParseError(String);

impl fmt::Display for NetParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NetParseError {}

impl Cidr {
    /// True when `addr` lies inside the block.
    pub fn contains(&self, addr: IpAddr) -> bool {
        match (self.network, addr) {
            (IpAddr::V4(net), IpAddr::V4(a)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for Cidr {
    type Err = NetParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || NetParseError(format!("{s:?} is not a CIDR block such as \"10.0.0.0/16\""));
        let (addr, prefix) = s.split_once('/').ok_or_else(bad)?;
        let network: IpAddr = addr.parse().map_err(|_| bad())?;
        let prefix: u8 = prefix.parse().map_err(|_| bad())?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        if prefix > max {
            return Err(bad());
        }
        Ok(Self { network, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl From<Cidr> for String {
    fn from(c: Cidr) -> Self {
        c.to_string()
    }
}

/// True for an address routed on the internet: not private (RFC 1918, unique local), shared
/// (100.64.0.0/10), loopback, link-local or unspecified.
pub fn is_public(addr: IpAddr) -> bool {
    match addr {
        IpAddr::V4(a) => {
            let [first, second, ..] = a.octets();
            let shared = first == 100 && (64..128).contains(&second);
            !(a.is_private()
                || shared
                || a.is_loopback()
                || a.is_link_local()
                || a.is_unspecified()
                || a.is_broadcast())
        }
        IpAddr::V6(a) => {
            if let Some(v4) = a.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            !(a.is_loopback()
                || a.is_unspecified()
                || a.is_unique_local()
                || a.is_unicast_link_local())
        }
    }
}

/// The host and port an endpoint URL connects to.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct HostPort {
    /// A host name or an IP literal (without IPv6 brackets).
    pub host: String,
    /// The TCP port (the scheme's default when the URL names none).
    pub port: u16,
}

impl HostPort {
    /// The host and port of `url` (`https://logs.us-east-1.amazonaws.com`,
    /// `http://127.0.0.1:5000/`, `https://[fd00::1]:8443`).
    pub fn from_url(url: &str) -> Result<Self, NetParseError> {
        let bad = |why: &str| NetParseError(format!("endpoint url {url:?} {why}"));
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| bad("has no scheme (http:// or https://)"))?;
        let default_port = match scheme.to_ascii_lowercase().as_str() {
            "https" => 443,
            "http" => 80,
            _ => return Err(bad("has a scheme other than http or https")),
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let authority = authority.rsplit('@').next().unwrap_or_default();
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (host, after) = v6
                .split_once(']')
                .ok_or_else(|| bad("has an unclosed '['"))?;
            (host, after.strip_prefix(':'))
        } else {
            match authority.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            }
        };
        if host.is_empty() {
            return Err(bad("names no host"));
        }
        let port = match port {
            Some(p) => p.parse().map_err(|_| bad("has an invalid port"))?,
            None => default_port,
        };
        Ok(Self {
            host: host.to_owned(),
            port,
        })
    }
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
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
    fn cidr_membership() {
        let cases = [
            ("10.0.0.0/16", "10.0.255.1", true),
            ("10.0.0.0/16", "10.1.0.1", false),
            ("172.31.0.0/20", "172.31.15.255", true),
            ("172.31.0.0/20", "172.31.16.0", false),
            ("0.0.0.0/0", "8.8.8.8", true),
            ("192.168.1.7/32", "192.168.1.7", true),
            ("fd00::/8", "fd12::1", true),
            ("fd00::/8", "10.0.0.1", false),
        ];
        for (cidr, addr, want) in cases {
            let c: Cidr = cidr.parse().unwrap();
            assert_eq!(c.contains(ip(addr)), want, "{cidr} ∋ {addr}");
        }
        for bad in ["10.0.0.0", "10.0.0.0/33", "ten/8", "fd00::/129", ""] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
        assert_eq!(
            "10.0.0.0/16".parse::<Cidr>().unwrap().to_string(),
            "10.0.0.0/16"
        );
    }

    #[test]
    fn public_addresses() {
        for (addr, public) in [
            ("10.1.2.3", false),
            ("172.16.0.1", false),
            ("192.168.0.1", false),
            ("100.64.0.1", false),
            ("127.0.0.1", false),
            ("169.254.169.254", false),
            ("3.233.146.1", true),
            ("100.128.0.1", true),
            ("fd00::1", false),
            ("::1", false),
            ("::ffff:10.0.0.1", false),
            ("2600:1f18::1", true),
        ] {
            assert_eq!(is_public(ip(addr)), public, "{addr}");
        }
    }

    #[test]
    fn endpoint_urls() {
        let hp = |h: &str, p| HostPort {
            host: h.into(),
            port: p,
        };
        for (url, want) in [
            (
                "https://logs.us-east-1.amazonaws.com",
                hp("logs.us-east-1.amazonaws.com", 443),
            ),
            ("http://127.0.0.1:5000/", hp("127.0.0.1", 5000)),
            (
                "HTTPS://vpce-1.s3.us-east-1.vpce.amazonaws.com/path?x",
                hp("vpce-1.s3.us-east-1.vpce.amazonaws.com", 443),
            ),
            ("https://[fd00::1]:8443", hp("fd00::1", 8443)),
            ("http://user@host", hp("host", 80)),
        ] {
            assert_eq!(HostPort::from_url(url).unwrap(), want, "{url}");
        }
        for bad in [
            "logs.amazonaws.com",
            "ftp://x",
            "https://",
            "https://h:port",
        ] {
            assert!(HostPort::from_url(bad).is_err(), "{bad}");
        }
        assert_eq!(hp("fd00::1", 443).to_string(), "[fd00::1]:443");
    }
}
