//! Where subscription callbacks may connect. A project operator chooses a
//! callback's URI, so without a check the server would send requests on
//! their behalf to whatever it can reach: its own loopback, the private
//! network behind it, a cloud's metadata service at 169.254.169.254. Only
//! public unicast addresses are allowed, plus the ranges an operator allows
//! (`serve --callback-allow CIDR`). The check is made on the addresses a
//! name resolves to when the connection is made ([`CallbackResolver`] is
//! the HTTP client's resolver), so a name that answered with a public
//! address when the subscription was tested and a private one later (DNS
//! rebinding) is refused then too. Callbacks never go through a proxy,
//! whose own address would be the one checked.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;
use std::sync::Arc;

use ureq::config::Config;
use ureq::http::Uri;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::NextTimeout;

/// A range of addresses, `ADDRESS/PREFIX` (an address alone is itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddressRange {
    network: IpAddr,
    prefix: u8,
}

impl AddressRange {
    /// Whether `address` is in the range. An IPv4 range also holds the
    /// IPv4-mapped IPv6 form of its addresses.
    pub fn contains(&self, address: IpAddr) -> bool {
        match (self.network, canonical(address)) {
            (IpAddr::V4(network), IpAddr::V4(address)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(network) & mask == u32::from(address) & mask
            }
            (IpAddr::V6(network), IpAddr::V6(address)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(network) & mask == u128::from(address) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for AddressRange {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let network: IpAddr = address
            .parse()
            .map_err(|_| format!("{text:?} is not ADDRESS/PREFIX: {address:?} is not an IP address"))?;
        let bits = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => bits,
            Some(prefix) => prefix
                .parse::<u8>()
                .ok()
                .filter(|prefix| *prefix <= bits)
                .ok_or_else(|| format!("{text:?}: the prefix must be a number from 0 to {bits}"))?,
        };
        Ok(Self { network, prefix })
    }
}

impl fmt::Display for AddressRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl<'de> serde::Deserialize<'de> for AddressRange {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// An IPv4-mapped IPv6 address as the IPv4 address it is.
fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
        IpAddr::V4(_) => address,
    }
}

/// Whether `address` is a public unicast address: not loopback, private,
/// shared (carrier-grade NAT), link-local, unspecified, broadcast,
/// multicast, reserved, documentation or benchmarking; for IPv6, global
/// unicast (`2000::/3`) outside documentation, and the IPv4 address of a
/// mapped, NAT64 or 6to4 address public too.
pub fn is_public(address: IpAddr) -> bool {
    match canonical(address) {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(address: Ipv4Addr) -> bool {
    const NOT_PUBLIC: [(u32, u8); 15] = [
        (0x0000_0000, 8),  // 0.0.0.0/8: this network
        (0x0a00_0000, 8),  // 10.0.0.0/8: private
        (0x6440_0000, 10), // 100.64.0.0/10: shared (carrier-grade NAT)
        (0x7f00_0000, 8),  // 127.0.0.0/8: loopback
        (0xa9fe_0000, 16), // 169.254.0.0/16: link-local, cloud metadata
        (0xac10_0000, 12), // 172.16.0.0/12: private
        (0xc000_0000, 24), // 192.0.0.0/24: protocol assignments
        (0xc000_0200, 24), // 192.0.2.0/24: documentation
        (0xc058_6300, 24), // 192.88.99.0/24: 6to4 relays
        (0xc0a8_0000, 16), // 192.168.0.0/16: private
        (0xc612_0000, 15), // 198.18.0.0/15: benchmarking
        (0xc633_6400, 24), // 198.51.100.0/24: documentation
        (0xcb00_7100, 24), // 203.0.113.0/24: documentation
        (0xe000_0000, 4),  // 224.0.0.0/4: multicast
        (0xf000_0000, 4),  // 240.0.0.0/4: reserved, broadcast
    ];
    let bits = u32::from(address);
    !NOT_PUBLIC
        .iter()
        .any(|(network, prefix)| bits & (u32::MAX << (32 - prefix)) == *network)
}

fn is_public_v6(address: Ipv6Addr) -> bool {
    let bits = u128::from(address);
    let in_range = |network: u128, prefix: u32| bits & (u128::MAX << (128 - prefix)) == network;
    // The IPv4 address a NAT64 (64:ff9b::/96) or 6to4 (2002::/16) address carries.
    let embedded = if in_range(0x0064_ff9b << 96, 96) {
        Some(Ipv4Addr::from((bits & 0xffff_ffff) as u32))
    } else if in_range(0x2002 << 112, 16) {
        Some(Ipv4Addr::from(((bits >> 80) & 0xffff_ffff) as u32))
    } else {
        None
    };
    if let Some(v4) = embedded {
        return is_public_v4(v4);
    }
    in_range(0x2 << 124, 3) && !in_range(0x2001_0db8 << 96, 32)
}

/// The callbacks' resolver: the system's, keeping only the addresses a
/// callback may connect to; a name with none left is refused, naming them.
#[derive(Debug, Clone, Default)]
pub struct CallbackResolver {
    system: Arc<DefaultResolver>,
    allowed: Arc<Vec<AddressRange>>,
}

impl CallbackResolver {
    /// Public addresses, and those in `allowed`.
    pub fn new(allowed: Vec<AddressRange>) -> Self {
        Self {
            system: Arc::default(),
            allowed: Arc::new(allowed),
        }
    }

    /// Whether a callback may connect to `address`.
    pub fn allows(&self, address: IpAddr) -> bool {
        is_public(address) || self.allowed.iter().any(|range| range.contains(address))
    }
}

impl Resolver for CallbackResolver {
    fn resolve(&self, uri: &Uri, config: &Config, timeout: NextTimeout) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let resolved = self.system.resolve(uri, config, timeout)?;
        let mut kept = self.empty();
        let mut refused = Vec::new();
        for address in &resolved {
            if self.allows(address.ip()) {
                kept.push(*address);
            } else {
                refused.push(address.ip().to_string());
            }
        }
        if kept.is_empty() {
            let host = uri.host().unwrap_or_default();
            let what = if refused.iter().any(|address| host.trim_matches(['[', ']']) == address) {
                format!("{host} is not a public address")
            } else {
                format!("{host} resolves to {}, not a public address", refused.join(", "))
            };
            return Err(ureq::Error::Io(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                format!(
                    "{what}; callbacks go only to public addresses unless the server allows the range \
                     (serve --callback-allow CIDR)"
                ),
            )));
        }
        Ok(kept)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn only_public_unicast_addresses_are_public() {
        for public in [
            "8.8.8.8",
            "1.1.1.1",
            "172.32.0.1",
            "100.128.0.1",
            "2a00:1450:4001::1",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ] {
            assert!(is_public(ip(public)), "{public}");
        }
        for internal in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "192.0.2.1",
            "198.18.0.1",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "ff02::1",
            "2001:db8::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a00:1",
            "2002:a00:1::1",
        ] {
            assert!(!is_public(ip(internal)), "{internal}");
        }
    }

    #[test]
    fn ranges_parse_and_contain_their_addresses() {
        let loopback: AddressRange = "127.0.0.0/8".parse().unwrap();
        assert!(loopback.contains(ip("127.9.9.9")));
        assert!(loopback.contains(ip("::ffff:127.0.0.1")), "the mapped form too");
        assert!(!loopback.contains(ip("128.0.0.1")));
        assert!(!loopback.contains(ip("::1")));
        let one: AddressRange = "10.0.0.7".parse().unwrap();
        assert_eq!(one.to_string(), "10.0.0.7/32");
        assert!(one.contains(ip("10.0.0.7")) && !one.contains(ip("10.0.0.8")));
        let everything: AddressRange = "::/0".parse().unwrap();
        assert!(everything.contains(ip("fe80::1")));
        let site: AddressRange = "fd00:1::/32".parse().unwrap();
        assert!(site.contains(ip("fd00:1:ffff::1")) && !site.contains(ip("fd00:2::1")));
        for bad in ["10.0.0.0/33", "::/129", "example.com/8", "10.0.0.0/x", ""] {
            assert!(bad.parse::<AddressRange>().is_err(), "{bad}");
        }
    }

    #[test]
    fn the_resolver_keeps_allowed_addresses_and_refuses_a_name_with_none() {
        let strict = CallbackResolver::default();
        let config = Config::default();
        let uri: Uri = "http://127.0.0.1:9/callback".parse().unwrap();
        let error = strict.resolve(&uri, &config, NextTimeout::default()).unwrap_err();
        let message = error.to_string();
        assert!(
            message.contains("127.0.0.1 is not a public address") && message.contains("--callback-allow"),
            "{message}"
        );
        let by_name: Uri = "http://localhost:9/callback".parse().unwrap();
        let message = strict
            .resolve(&by_name, &config, NextTimeout::default())
            .unwrap_err()
            .to_string();
        assert!(message.contains("localhost resolves to"), "{message}");
        let allowing = CallbackResolver::new(vec!["127.0.0.0/8".parse().unwrap()]);
        let kept = allowing.resolve(&uri, &config, NextTimeout::default()).unwrap();
        assert_eq!(kept.len(), 1);
        assert!(allowing.allows(ip("127.0.0.1")) && !allowing.allows(ip("10.0.0.1")));
    }
}
