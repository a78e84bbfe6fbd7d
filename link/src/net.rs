//! Host/port parsing and name resolution shared by TCP and UDP.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use crate::endpoint::{Endpoint, EndpointError};
use crate::error::LinkError;

/// Host part of an IP endpoint, before resolution.
pub(crate) enum Host<'a> {
    Ip(IpAddr),
    Name(&'a str),
}

fn invalid(endpoint: &Endpoint, reason: String) -> EndpointError {
    EndpointError::InvalidAddress {
        endpoint: endpoint.to_string(),
        address: endpoint.address().to_owned(),
        reason,
    }
}

/// Splits `host:port` / `[v6]:port` and validates both parts.
pub(crate) fn parse(endpoint: &Endpoint) -> Result<(Host<'_>, u16), EndpointError> {
    let address = endpoint.address();
    let (host, port) = if let Some(rest) = address.strip_prefix('[') {
        let Some((v6, after)) = rest.split_once(']') else {
            return Err(invalid(endpoint, "missing `]` after IPv6 address".into()));
        };
        let Some(port) = after.strip_prefix(':') else {
            return Err(invalid(endpoint, "missing `:port` after `]`".into()));
        };
        let ip: Ipv6Addr = v6
            .parse()
            .map_err(|_| invalid(endpoint, format!("`{v6}` is not an IPv6 address")))?;
        (Host::Ip(IpAddr::V6(ip)), port)
    } else {
        let Some((host, port)) = address.rsplit_once(':') else {
            return Err(invalid(endpoint, "missing `:port`".into()));
        };
        if host.contains(':') {
            return Err(invalid(
                endpoint,
                "IPv6 addresses must be written in brackets, e.g. `[::1]:7447`".into(),
            ));
        }
        if host.is_empty() {
            return Err(invalid(endpoint, "missing host before `:port`".into()));
        }
        match host.parse::<IpAddr>() {
            Ok(ip) => (Host::Ip(ip), port),
            Err(_) => (Host::Name(host), port),
        }
    };
    let port = port.parse::<u16>().map_err(|_| {
        invalid(
            endpoint,
            format!("bad port `{port}`: expected a number in 0..=65535"),
        )
    })?;
    Ok((host, port))
}

/// Checks the address syntax without resolving host names.
pub(crate) fn validate(endpoint: &Endpoint) -> Result<(), EndpointError> {
    parse(endpoint).map(|_| ())
}

/// Resolves the endpoint address into socket addresses (host names looked up now).
pub(crate) async fn resolve(endpoint: &Endpoint) -> Result<Vec<SocketAddr>, LinkError> {
    match parse(endpoint)? {
        (Host::Ip(ip), port) => Ok(vec![SocketAddr::new(ip, port)]),
        (Host::Name(name), port) => {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((name, port))
                .await
                .map_err(|e| LinkError::io("resolve host of", endpoint, e))?
                .collect();
            if addrs.is_empty() {
                return Err(
                    invalid(endpoint, format!("host `{name}` resolved to no address")).into(),
                );
            }
            Ok(addrs)
        }
    }
}
