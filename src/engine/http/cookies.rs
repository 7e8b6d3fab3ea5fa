//! A virtual user's cookies, as JMeter's cookie manager keeps them (Taurus turns it on unless
//! `store-cookie: false`): `Set-Cookie` from any response, redirects included, is stored and
//! sent back to the hosts and paths it belongs to, for as long as it lives. Kept across
//! iterations, as Taurus configures the manager.
//!
//! Scope: RFC 6265 storage and matching (host-only and domain cookies, path prefix, `Secure`,
//! `Max-Age`, `Expires` in the IMF-fixdate form servers send). No public-suffix list: a load
//! test talks to the servers it was written for.

use std::time::{Duration, SystemTime};

use url::Url;

pub use crate::plan::scenario::Cookie;

/// The cookies of one virtual user.
#[derive(Debug, Default)]
pub struct Jar {
    cookies: Vec<Cookie>,
}

impl Jar {
    /// A jar holding `initial` (the scenario's `cookies:`).
    pub fn new(initial: &[Cookie]) -> Self {
        Jar { cookies: initial.to_vec() }
    }

    /// Whether no cookie is kept (then requests skip the jar).
    pub fn is_empty(&self) -> bool {
        self.cookies.is_empty()
    }

    /// Stores what a `Set-Cookie` header from `url` says; malformed headers are ignored, as
    /// browsers and JMeter ignore them.
    pub fn store(&mut self, url: &Url, header: &str, now: SystemTime) {
        // http(s) hosts come lower-cased from URL parsing.
        let Some(host) = url.host_str() else { return };
        let mut parts = header.split(';');
        let Some((name, value)) = parts.next().and_then(|nv| nv.split_once('=')) else { return };
        let name = name.trim();
        if name.is_empty() {
            return;
        }
        let mut cookie = Cookie {
            name: name.to_string(),
            value: value.trim().trim_matches('"').to_string(),
            domain: host.to_string(),
            host_only: true,
            path: default_path(url),
            secure: false,
            expires: None,
        };
        let mut max_age = None;
        for attr in parts {
            let (key, val) = attr.split_once('=').map_or((attr.trim(), ""), |(k, v)| (k.trim(), v.trim()));
            match key.to_ascii_lowercase().as_str() {
                "domain" => {
                    let domain = val.trim_start_matches('.').to_ascii_lowercase();
                    if domain.is_empty() {
                        continue;
                    }
                    // A server may only set cookies for itself or a domain it belongs to.
                    if !domain_match(host, &domain) {
                        return;
                    }
                    cookie.domain = domain;
                    cookie.host_only = false;
                }
                "path" if val.starts_with('/') => cookie.path = val.to_string(),
                "secure" => cookie.secure = true,
                "max-age" => max_age = val.parse::<i64>().ok(),
                "expires" if cookie.expires.is_none() => cookie.expires = parse_http_date(val),
                _ => {}
            }
        }
        // Max-Age wins over Expires; zero or negative deletes.
        if let Some(secs) = max_age {
            cookie.expires =
                Some(if secs <= 0 { SystemTime::UNIX_EPOCH } else { now + Duration::from_secs(secs as u64) });
        }
        self.cookies.retain(|c| !(c.name == cookie.name && c.domain == cookie.domain && c.path == cookie.path));
        if cookie.expires.is_none_or(|e| e > now) {
            self.cookies.push(cookie);
        }
    }

    /// The `Cookie` header value for a request to `url`, if any cookie applies: longer paths
    /// first, then older cookies first (RFC 6265 5.4).
    pub fn header_for(&mut self, url: &Url, now: SystemTime) -> Option<String> {
        self.cookies.retain(|c| c.expires.is_none_or(|e| e > now));
        let host = url.host_str()?;
        let path = url.path();
        let secure = url.scheme() == "https";
        let mut matching: Vec<&Cookie> = self
            .cookies
            .iter()
            .filter(|c| {
                (if c.host_only { host == c.domain } else { domain_match(host, &c.domain) })
                    && path_match(path, &c.path)
                    && (secure || !c.secure)
            })
            .collect();
        if matching.is_empty() {
            return None;
        }
        matching.sort_by_key(|c| std::cmp::Reverse(c.path.len()));
        let mut out = String::new();
        for c in matching {
            if !out.is_empty() {
                out.push_str("; ");
            }
            out.push_str(&c.name);
            out.push('=');
            out.push_str(&c.value);
        }
        Some(out)
    }
}

/// `host` is `domain` or a subdomain of it (IP addresses only match themselves).
fn domain_match(host: &str, domain: &str) -> bool {
    host == domain
        || (host.ends_with(domain)
            && host.as_bytes()[host.len() - domain.len() - 1] == b'.'
            && host.parse::<std::net::IpAddr>().is_err())
}

/// RFC 6265 5.1.4: the cookie path is a prefix of the request path at a `/` boundary.
fn path_match(request: &str, cookie: &str) -> bool {
    request == cookie
        || (request.starts_with(cookie)
            && (cookie.ends_with('/') || request.as_bytes().get(cookie.len()) == Some(&b'/')))
}

/// The directory of the request path (RFC 6265 5.1.4's default-path).
fn default_path(url: &Url) -> String {
    let path = url.path();
    match path.rfind('/') {
        Some(0) | None => "/".to_string(),
        Some(i) => path[..i].to_string(),
    }
}

/// `Sun, 06 Nov 1994 08:49:37 GMT` (and the same with dashes, as some servers write it).
fn parse_http_date(text: &str) -> Option<SystemTime> {
    let text = text.replace('-', " ");
    let mut it = text.split_whitespace();
    let _weekday = it.next()?;
    let day: u64 = it.next()?.parse().ok()?;
    let month = match it.next()?.to_ascii_lowercase().as_str() {
        "jan" => 1,
        "feb" => 2,
        "mar" => 3,
        "apr" => 4,
        "may" => 5,
        "jun" => 6,
        "jul" => 7,
        "aug" => 8,
        "sep" => 9,
        "oct" => 10,
        "nov" => 11,
        "dec" => 12,
        _ => return None,
    };
    let mut year: i64 = it.next()?.parse().ok()?;
    if year < 100 {
        year += if year < 70 { 2000 } else { 1900 };
    }
    let mut hms = it.next()?.split(':').map(|p| p.parse::<u64>().ok());
    let (h, m, s) = (hms.next()??, hms.next()??, hms.next()??);
    if !(1..=31).contains(&day) || h > 23 || m > 59 || s > 60 {
        return None;
    }
    let days = crate::civil::days_from_civil(year, month, day as i64);
    let secs = days * 86_400 + (h * 3600 + m * 60 + s) as i64;
    Some(if secs <= 0 { SystemTime::UNIX_EPOCH } else { SystemTime::UNIX_EPOCH + Duration::from_secs(secs as u64) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(u: &str) -> Url {
        Url::parse(u).unwrap()
    }

    #[test]
    fn stored_cookies_go_back_where_they_belong() {
        let now = SystemTime::now();
        let mut jar = Jar::default();
        jar.store(&url("http://shop.example.com/account/login"), "sid=abc; Path=/; HttpOnly", now);
        jar.store(&url("http://shop.example.com/account/login"), "pref=1", now); // default path /account
        jar.store(&url("http://shop.example.com/"), "wide=w; Domain=.example.com", now);
        jar.store(&url("http://shop.example.com/"), "evil=1; Domain=other.com", now); // refused
        jar.store(&url("https://shop.example.com/"), "sec=s; Secure", now);
        assert_eq!(jar.header_for(&url("http://shop.example.com/account/x"), now).unwrap(), "pref=1; sid=abc; wide=w");
        assert_eq!(jar.header_for(&url("http://shop.example.com/accounts"), now).unwrap(), "sid=abc; wide=w");
        assert_eq!(jar.header_for(&url("http://api.example.com/"), now).unwrap(), "wide=w");
        assert_eq!(jar.header_for(&url("https://shop.example.com/"), now).unwrap(), "sid=abc; wide=w; sec=s");
        assert_eq!(jar.header_for(&url("http://other.com/"), now), None);
        // Host-only cookies do not go to subdomains.
        assert!(!jar.header_for(&url("http://a.shop.example.com/"), now).unwrap().contains("sid"));
    }

    #[test]
    fn replacing_expiring_and_deleting() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let u = url("http://127.0.0.1:8080/");
        let mut jar = Jar::default();
        jar.store(&u, "a=1", now);
        jar.store(&u, "a=2", now);
        jar.store(&u, "b=x; Max-Age=10", now);
        jar.store(&u, "c=y; Expires=Wed, 21 Oct 2015 07:28:00 GMT", now); // already expired
        assert_eq!(jar.header_for(&u, now).unwrap(), "a=2; b=x");
        assert_eq!(jar.header_for(&u, now + Duration::from_secs(11)).unwrap(), "a=2");
        jar.store(&u, "a=; Max-Age=0", now);
        assert_eq!(jar.header_for(&u, now), None);
        // Garbage is ignored.
        jar.store(&u, "no equals sign", now);
        jar.store(&u, "=v", now);
        assert_eq!(jar.header_for(&u, now), None);
    }

    #[test]
    fn http_dates() {
        let t = parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        assert_eq!(t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs(), 784_111_777);
        let t = parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT").unwrap();
        assert_eq!(t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs(), 784_111_777);
        assert_eq!(parse_http_date("tomorrow"), None);
    }
}
