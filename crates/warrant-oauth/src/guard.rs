//! The SSRF guard and the one HTTP client every outbound call goes through.
//!
//! Rules, for discovery documents and token endpoints alike:
//! - only `https`, except destinations the operator allowlists (`--outbound-allow`);
//! - every address a host name resolves to must be public (not private, loopback,
//!   link-local, shared, documentation, multicast, unspecified or a cloud metadata
//!   address), unless the name or the address is allowlisted; the check runs in the
//!   client's own resolver, so the address checked is the address connected to;
//! - no redirect is followed: a 3xx is an error, whatever its target;
//! - each response is capped in time and size.
//!
//! Allowlist entries are `host`, `host:port`, an IP address (`127.0.0.1`, `[::1]:8443`)
//! or a CIDR (`10.0.0.0/8`). A port in an entry is checked against the URL's port; the
//! address check at connect time is per name or network (it cannot see the port).

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::OutboundError;

#[derive(Clone, Debug, PartialEq, Eq)]
enum Dest {
    Host(String),
    Net(IpNet),
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Entry {
    dest: Dest,
    port: Option<u16>,
}

/// The operator's allowlist of outbound destinations exempt from the guard.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OutboundAllow {
    entries: Vec<Entry>,
}

impl OutboundAllow {
    /// Parse a comma-separated list; empty entries are ignored.
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut entries = Vec::new();
        for raw in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            entries.push(
                parse_entry(raw).ok_or_else(|| {
                    format!("{raw:?} is not a host, host:port, IP address or CIDR")
                })?,
            );
        }
        Ok(Self { entries })
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Does an entry cover this URL's host (name or IP literal) and port?
    fn covers_url(&self, host: &url::Host<&str>, port: u16) -> bool {
        self.entries.iter().any(|e| {
            e.port.is_none_or(|p| p == port)
                && match (&e.dest, host) {
                    (Dest::Host(h), url::Host::Domain(d)) => h.eq_ignore_ascii_case(d),
                    (Dest::Net(n), url::Host::Ipv4(ip)) => n.contains(&IpAddr::V4(*ip)),
                    (Dest::Net(n), url::Host::Ipv6(ip)) => n.contains(&IpAddr::V6(*ip)),
                    _ => false,
                }
        })
    }

    /// Connect-time check (no port known): is this name, or this address, allowlisted?
    fn covers_name_or_ip(&self, name: &str, ip: IpAddr) -> bool {
        self.entries.iter().any(|e| match &e.dest {
            Dest::Host(h) => h.eq_ignore_ascii_case(name),
            Dest::Net(n) => n.contains(&ip),
        })
    }
}

fn parse_entry(raw: &str) -> Option<Entry> {
    if let Ok(net) = raw.parse::<IpNet>() {
        return Some(Entry {
            dest: Dest::Net(net),
            port: None,
        });
    }
    if let Ok(ip) = raw.parse::<IpAddr>() {
        return Some(Entry {
            dest: Dest::Net(IpNet::from(ip)),
            port: None,
        });
    }
    if let Ok(sa) = raw.parse::<SocketAddr>() {
        return Some(Entry {
            dest: Dest::Net(IpNet::from(sa.ip())),
            port: Some(sa.port()),
        });
    }
    let (host, port) = match raw.rsplit_once(':') {
        Some((h, p)) => (h, Some(p.parse::<u16>().ok().filter(|p| *p != 0)?)),
        None => (raw, None),
    };
    let valid = !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-')
        });
    valid.then(|| Entry {
        dest: Dest::Host(host.to_ascii_lowercase()),
        port,
    })
}

/// True for addresses no outbound call may reach unless allowlisted.
pub fn is_forbidden(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local() // 169.254.0.0/16, cloud metadata included
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || o[0] == 0
                || (o[0] == 100 && (o[1] & 0xc0) == 64) // 100.64.0.0/10 shared
                || (o[0] == 192 && o[1] == 0 && o[2] == 0) // 192.0.0.0/24
                || (o[0] == 198 && (o[1] & 0xfe) == 18) // 198.18.0.0/15 benchmarking
                || o[0] >= 240 // reserved
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_forbidden(IpAddr::V4(v4));
            }
            let s = v6.segments();
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local (fd00:ec2::254 metadata too)
                || (s[0] & 0xffc0) == 0xfe80 // link-local
                || (s[0] == 0x64 && s[1] == 0xff9b) // NAT64 can reach any IPv4 address
                || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
                || (s[0] == 0 && s[1] == 0 && s[2] == 0 && s[3] == 0 && s[4] == 0 && s[5] == 0)
            // IPv4-compatible
        }
    }
}

/// A resolver that refuses forbidden addresses unless allowlisted.
struct GuardedResolver {
    allow: Arc<OutboundAllow>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow = self.allow.clone();
        Box::pin(async move {
            let host = name.as_str().to_string();
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await
                .map_err(|e| -> Box<dyn std::error::Error + Send + Sync> { Box::new(e) })?
                .collect();
            let refused: Vec<IpAddr> = addrs
                .iter()
                .map(SocketAddr::ip)
                .filter(|ip| is_forbidden(*ip) && !allow.covers_name_or_ip(&host, *ip))
                .collect();
            if let Some(ip) = refused.first() {
                return Err(Box::new(Refused(format!(
                    "{host} resolves to {ip}, a private, loopback, link-local or metadata address; \
                     add it to --outbound-allow to permit it"
                )))
                    as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

#[derive(Debug)]
struct Refused(String);

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

/// Settings of outbound HTTP.
#[derive(Clone, Debug)]
pub struct OutboundSettings {
    pub allow: OutboundAllow,
    /// The whole exchange, connect to last byte.
    pub timeout: Duration,
    /// The largest response body read.
    pub max_response_bytes: usize,
}

impl Default for OutboundSettings {
    fn default() -> Self {
        Self {
            allow: OutboundAllow::default(),
            timeout: Duration::from_secs(10),
            max_response_bytes: 1024 * 1024,
        }
    }
}

/// A response read in full (within the cap).
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

/// The guarded client. Cheap to share; one per process.
#[derive(Clone)]
pub struct HttpClient {
    client: reqwest::Client,
    settings: Arc<OutboundSettings>,
}

impl HttpClient {
    pub fn new(settings: OutboundSettings) -> Result<Self, String> {
        let allow = Arc::new(settings.allow.clone());
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(Arc::new(GuardedResolver { allow }))
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout)
            .no_proxy()
            .user_agent(concat!("warrant/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot build the outbound HTTP client: {e}"))?;
        Ok(Self {
            client,
            settings: Arc::new(settings),
        })
    }

    pub fn settings(&self) -> &OutboundSettings {
        &self.settings
    }

    /// Check `raw` against the scheme rule and, for IP literals (which no resolver sees),
    /// the address rule.
    pub fn check_url(&self, raw: &str) -> Result<url::Url, OutboundError> {
        let url = url::Url::parse(raw)
            .map_err(|_| OutboundError::Refused(format!("{raw} is not a valid URL")))?;
        let host = url
            .host()
            .ok_or_else(|| OutboundError::Refused(format!("{raw} has no host")))?;
        let port = url.port_or_known_default().unwrap_or(0);
        let allowed = self.settings.allow.covers_url(&host, port);
        match url.scheme() {
            "https" => {}
            "http" if allowed => {}
            "http" => {
                return Err(OutboundError::Refused(format!(
                    "{} is not https; only destinations in --outbound-allow may use http",
                    origin(&url)
                )))
            }
            other => {
                return Err(OutboundError::Refused(format!(
                    "scheme {other} is not allowed for outbound calls"
                )))
            }
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(OutboundError::Refused(format!(
                "{} carries credentials in the URL",
                origin(&url)
            )));
        }
        let literal = match host {
            url::Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
            url::Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
            url::Host::Domain(_) => None,
        };
        if let Some(ip) = literal {
            if is_forbidden(ip) && !allowed {
                return Err(OutboundError::Refused(format!(
                    "{ip} is a private, loopback, link-local or metadata address; \
                     add it to --outbound-allow to permit it"
                )));
            }
        }
        Ok(url)
    }

    /// GET a JSON document from a URL [`HttpClient::check_url`] accepted.
    pub async fn get(&self, url: url::Url) -> Result<Response, OutboundError> {
        let req = self
            .client
            .get(url.clone())
            .header("accept", "application/json");
        self.send(req, &url).await
    }

    /// POST a form with extra headers to a URL [`HttpClient::check_url`] accepted.
    pub async fn post_form(
        &self,
        url: url::Url,
        headers: &http::HeaderMap,
        body: Vec<u8>,
    ) -> Result<Response, OutboundError> {
        let mut req = self.client.post(url.clone()).body(body);
        for (k, v) in headers {
            req = req.header(k, v);
        }
        self.send(req, &url).await
    }

    async fn send(
        &self,
        req: reqwest::RequestBuilder,
        url: &url::Url,
    ) -> Result<Response, OutboundError> {
        let at = origin(url);
        let timeout = self.settings.timeout;
        let map = |e: reqwest::Error| classify(e, &at, timeout);
        let mut res = req.send().await.map_err(map)?;
        let status = res.status().as_u16();
        if (300..400).contains(&status) {
            return Err(OutboundError::Redirect { at, status });
        }
        let content_type = res
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let cap = self.settings.max_response_bytes;
        if res.content_length().is_some_and(|n| n > cap as u64) {
            return Err(OutboundError::TooLarge { at, cap });
        }
        let mut body = Vec::new();
        while let Some(chunk) = res.chunk().await.map_err(map)? {
            if body.len() + chunk.len() > cap {
                return Err(OutboundError::TooLarge { at, cap });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Response {
            status,
            content_type,
            body,
        })
    }
}

/// `scheme://host[:port]`: what an error may name (never a path or a query, which can
/// carry a tenant's secrets).
pub fn origin(url: &url::Url) -> String {
    url.origin().ascii_serialization()
}

fn classify(e: reqwest::Error, at: &str, timeout: Duration) -> OutboundError {
    if e.is_timeout() {
        return OutboundError::Timeout {
            at: at.to_string(),
            secs: timeout.as_secs_f64(),
        };
    }
    // Our resolver's refusal travels as the source of a connect error.
    let mut src: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(s) = src {
        if let Some(r) = s.downcast_ref::<Refused>() {
            return OutboundError::Refused(r.0.clone());
        }
        src = s.source();
    }
    OutboundError::Unreachable {
        at: at.to_string(),
        detail: if e.is_connect() {
            "cannot connect".into()
        } else {
            "the connection failed".into()
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forbidden_addresses() {
        for ip in [
            "10.0.0.1",
            "172.16.0.1",
            "192.168.1.1",
            "127.0.0.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fe80::1",
            "fd00:ec2::254",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
        ] {
            assert!(is_forbidden(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111"] {
            assert!(!is_forbidden(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn allowlist_parsing_and_matching() {
        let a =
            OutboundAllow::parse("127.0.0.1, idp.internal:8443,10.1.0.0/16,[::1]:9000").unwrap();
        let covers = |raw: &str| {
            let u = url::Url::parse(raw).unwrap();
            a.covers_url(&u.host().unwrap(), u.port_or_known_default().unwrap())
        };
        assert!(covers("http://127.0.0.1:4444/"));
        assert!(covers("https://idp.internal:8443/"));
        assert!(!covers("https://idp.internal/"));
        assert!(covers("http://10.1.2.3/"));
        assert!(!covers("http://10.2.0.1/"));
        assert!(covers("http://[::1]:9000/"));
        assert!(!covers("http://[::1]:9001/"));
        assert!(a.covers_name_or_ip("IDP.internal", "10.9.9.9".parse().unwrap()));
        for bad in ["http://x", "a b", "host:0", "host:99999", "-/-"] {
            assert!(OutboundAllow::parse(bad).is_err(), "{bad}");
        }
        assert!(OutboundAllow::parse("").unwrap().is_empty());
    }

    #[test]
    fn url_rules() {
        let c = HttpClient::new(OutboundSettings {
            allow: OutboundAllow::parse("127.0.0.1").unwrap(),
            ..Default::default()
        })
        .unwrap();
        assert!(c.check_url("http://127.0.0.1:8080/x").is_ok());
        assert!(c.check_url("https://example.com/x").is_ok());
        for bad in [
            "http://example.com/x",
            "https://169.254.169.254/latest",
            "https://10.0.0.1/x",
            "https://[::1]/x",
            "ftp://example.com/x",
            "https://user:pw@example.com/x",
            "not a url",
        ] {
            assert!(
                matches!(c.check_url(bad), Err(OutboundError::Refused(_))),
                "{bad}"
            );
        }
    }
}
