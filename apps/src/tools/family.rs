//! The destination of a tool that speaks both IP versions (`ping`, `trace`): an address of
//! the family `-4`/`-6` ask for — an IPv6 address implies `-6`, as in iputils. The stack has
//! no resolver, so a name is refused, saying so.

use clap::Args;
use std::io;
use std::net::IpAddr;

/// `-4` / `-6`.
#[derive(Debug, Clone, Copy, Args)]
pub struct Family {
    /// IPv4 only: an IPv6 destination is refused, as iputils' `-4` refuses it.
    #[arg(short = '4', id = "only_v4", conflicts_with = "only_v6")]
    pub only4: bool,
    /// IPv6 only: an IPv4 destination is refused. An IPv6 address implies it.
    #[arg(short = '6', id = "only_v6")]
    pub only6: bool,
}

impl Family {
    /// `host` as an address of the family asked for: iputils' words when it is of the other
    /// ("Address family for hostname not supported"); a name is refused.
    pub fn destination(&self, host: &str) -> io::Result<IpAddr> {
        let bad = |m: String| Err(io::Error::new(io::ErrorKind::InvalidInput, m));
        let Ok(dst) = host.parse::<IpAddr>() else {
            return bad(format!(
                "{host}: not an address, and ustack resolves no names: give an IPv4 or IPv6 \
                 address (e.g. 198.18.0.1 or 2001:2::1)"
            ));
        };
        if (self.only4 && dst.is_ipv6()) || (self.only6 && dst.is_ipv4()) {
            return bad(format!("{dst}: Address family for hostname not supported"));
        }
        Ok(dst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_family_follows_the_address_and_names_are_refused() {
        let any = Family {
            only4: false,
            only6: false,
        };
        let four = Family { only4: true, ..any };
        let six = Family { only6: true, ..any };
        let v6: IpAddr = "2001:2::1".parse().unwrap();
        assert_eq!(any.destination("2001:2::1").unwrap(), v6);
        assert_eq!(six.destination("2001:2::1").unwrap(), v6);
        assert!(four.destination("198.18.0.1").is_ok());
        let e = four.destination("2001:2::1").unwrap_err();
        assert_eq!(
            e.to_string(),
            "2001:2::1: Address family for hostname not supported"
        );
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        assert!(six.destination("198.18.0.1").is_err());
        let e = six.destination("far.example").unwrap_err().to_string();
        assert!(e.contains("resolves no names"), "{e}");
    }
}
