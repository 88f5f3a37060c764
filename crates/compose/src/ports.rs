//! Service `ports` (short `[IP:][HOST:]CONTAINER[/PROTO]`, ranges expanded,
//! and long form) and `expose`, in Compose v2's long form.

use serde_json::{json, Map, Value as Json};

use crate::convert::FileCtx;
use crate::error::ComposeError;
use crate::yaml::{Node, Value};

const FORM: &str =
    "expected [HOST_IP:][HOST_PORT:]CONTAINER_PORT[/PROTOCOL] with ports from 1 to 65535";

pub fn ports(fc: &FileCtx, node: &Node, path: &str) -> Result<Json, ComposeError> {
    let mut out = Vec::new();
    for (i, item) in fc.seq(node, path)?.iter().enumerate() {
        let p = format!("{path}[{i}]");
        match &item.value {
            Value::Map(_) => out.push(long(fc, item, &p)?),
            Value::Int(n) => out.push(
                entry("", None, *n as u32, "tcp")
                    .ok_or_else(|| bad(fc, item, &p, &n.to_string()))?,
            ),
            Value::Str(s) => out.extend(short(s).ok_or_else(|| bad(fc, item, &p, s))?),
            _ => return Err(fc.expected(item, &p, "a port string, a port number or a mapping")),
        }
    }
    Ok(Json::Array(out))
}

fn bad(fc: &FileCtx, node: &Node, path: &str, text: &str) -> ComposeError {
    fc.err(node, path, format!("invalid port `{text}`; {FORM}"))
}

fn entry(host_ip: &str, published: Option<String>, target: u32, proto: &str) -> Option<Json> {
    if target == 0 || target > 65535 {
        return None;
    }
    let mut m = Map::new();
    m.insert("mode".into(), json!("ingress"));
    if !host_ip.is_empty() {
        m.insert("host_ip".into(), json!(host_ip));
    }
    m.insert("target".into(), json!(target));
    if let Some(p) = published.filter(|p| !p.is_empty()) {
        m.insert("published".into(), json!(p));
    }
    m.insert("protocol".into(), json!(proto));
    Some(Json::Object(m))
}

/// `a` or `a-b` as an inclusive range of ports.
fn range(s: &str) -> Option<(u32, u32)> {
    let port = |t: &str| t.parse::<u32>().ok().filter(|p| *p >= 1 && *p <= 65535);
    match s.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (port(a)?, port(b)?);
            (a <= b).then_some((a, b))
        }
        None => port(s).map(|p| (p, p)),
    }
}

fn short(text: &str) -> Option<Vec<Json>> {
    let (spec, proto) = match text.rsplit_once('/') {
        Some((s, p)) if matches!(p, "tcp" | "udp" | "sctp") => (s, p),
        Some(_) => return None,
        None => (text, "tcp"),
    };
    // An IPv6 host address is written in brackets: `[::1]:80:80`.
    let (ip, rest) = match spec.strip_prefix('[') {
        Some(r) => {
            let (ip, rest) = r.split_once("]:")?;
            (ip.to_string(), rest)
        }
        None => {
            let parts: Vec<&str> = spec.split(':').collect();
            match parts.len() {
                1 | 2 => (String::new(), spec),
                3 => (parts[0].to_string(), &spec[parts[0].len() + 1..]),
                _ => return None,
            }
        }
    };
    let (published, target) = match rest.split_once(':') {
        Some((p, t)) => (p, t),
        None => ("", rest),
    };
    let (t0, t1) = range(target)?;
    let count = t1 - t0 + 1;
    if published.is_empty() {
        return (t0..=t1).map(|t| entry(&ip, None, t, proto)).collect();
    }
    let (p0, p1) = range(published)?;
    if p1 - p0 + 1 == count {
        return (0..count)
            .map(|k| entry(&ip, Some((p0 + k).to_string()), t0 + k, proto))
            .collect();
    }
    if count == 1 {
        return entry(&ip, Some(published.to_string()), t0, proto).map(|e| vec![e]);
    }
    None
}

fn long(fc: &FileCtx, node: &Node, path: &str) -> Result<Json, ComposeError> {
    let mut m = Map::new();
    let mut target = None;
    for (k, _, v) in fc.map(node, path)? {
        let p = format!("{path}/{k}");
        match k.as_str() {
            "target" => {
                let t = fc.integer(v, &p)?;
                if !(1..=65535).contains(&t) {
                    return Err(fc.err(v, &p, format!("port {t} is out of range; expected 1 to 65535")));
                }
                target = Some(t);
                m.insert("target".into(), json!(t));
            }
            "published" => {
                let s = fc.scalar(v, &p)?;
                if range(&s).is_none() {
                    return Err(fc.err(v, &p, format!("invalid published port `{s}`; expected a port or a range like 8000-8010")));
                }
                m.insert("published".into(), json!(s));
            }
            "host_ip" | "name" | "app_protocol" => {
                m.insert(k.clone(), json!(fc.string(v, &p)?));
            }
            "protocol" | "mode" => {
                m.insert(k.clone(), json!(fc.string(v, &p)?));
            }
            x if x.starts_with("x-") => {
                m.insert(k.clone(), crate::convert::to_json(v));
            }
            _ => return Err(fc.err(v, &p, format!("unknown key `{k}` in a port; expected target, published, host_ip, protocol, mode, name or app_protocol"))),
        }
    }
    if target.is_none() {
        return Err(fc.err(node, path, "a port in long form needs `target`"));
    }
    m.entry("mode").or_insert(json!("ingress"));
    m.entry("protocol").or_insert(json!("tcp"));
    Ok(Json::Object(m))
}

pub fn expose(fc: &FileCtx, node: &Node, path: &str) -> Result<Json, ComposeError> {
    let mut out = Vec::new();
    for (i, item) in fc.seq(node, path)?.iter().enumerate() {
        let p = format!("{path}[{i}]");
        let s = fc.scalar(item, &p)?;
        let port = s.split_once('/').map_or(s.as_str(), |(a, _)| a);
        if range(port).is_none() {
            return Err(fc.err(item, &p, format!("invalid port `{s}` to expose; expected PORT[/PROTOCOL] or a range like 3000-3005")));
        }
        out.push(json!(s));
    }
    Ok(Json::Array(out))
}
