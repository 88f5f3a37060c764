//! Host key verification as OpenSSH does it, over the text of known_hosts
//! files: plain and hashed (`|1|salt|hash`) host patterns with `*`, `?` and
//! `!`, `[host]:port` names, `@revoked` keys and `@cert-authority` lines
//! for host certificates. Pure; the caller reads and appends the files.

use std::path::{Path, PathBuf};

use hmac::{Hmac, KeyInit, Mac};
use russh::keys::ssh_key::certificate::CertType;
use russh::keys::ssh_key::known_hosts::{Entry, HostPatterns, Marker};
use russh::keys::ssh_key::{Algorithm, Certificate, HashAlg, PublicKey};
use sha1::Sha1;

/// One known_hosts file and its text.
pub(crate) struct HostsFile {
    pub path: PathBuf,
    pub text: String,
}

/// Where a line came from, for messages (`~/.ssh/known_hosts:3`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Place {
    pub path: PathBuf,
    pub line: usize,
}

impl std::fmt::Display for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.path.display(), self.line)
    }
}

/// What the files say of the key a host presented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Listed for this host (or signed by a CA trusted for it).
    Known,
    /// Nothing is known of this host's keys of that type.
    Unknown {
        /// Types of the keys that are known for the host, if any.
        other_types: Vec<String>,
    },
    /// The host is known with another key of the same type.
    Changed { place: Place },
    /// The key (or the CA that signed it) is marked `@revoked`.
    Revoked { place: Place },
    /// A host certificate that a trusted CA signed but that is not valid
    /// for this host now.
    BadCertificate { reason: String },
}

/// The name a host is looked up by: `host`, or `[host]:port` off port 22.
pub(crate) fn lookup_name(host: &str, port: u16) -> String {
    if port == 22 {
        host.to_owned()
    } else {
        format!("[{host}]:{port}")
    }
}

struct Line {
    place: Place,
    entry: Entry,
}

fn lines(files: &[HostsFile]) -> Vec<Line> {
    let mut out = Vec::new();
    for file in files {
        for (i, raw) in file.text.lines().enumerate() {
            let text = raw.trim();
            if text.is_empty() || text.starts_with('#') {
                continue;
            }
            // A line OpenSSH cannot read either is skipped, as it does.
            if let Ok(entry) = text.parse::<Entry>() {
                out.push(Line {
                    place: Place {
                        path: file.path.clone(),
                        line: i + 1,
                    },
                    entry,
                });
            }
        }
    }
    out
}

/// Does the line's host part name `name`?
fn names(patterns: &HostPatterns, name: &str) -> bool {
    match patterns {
        HostPatterns::HashedName { salt, hash } => {
            let Ok(mut mac) = <Hmac<Sha1> as KeyInit>::new_from_slice(salt) else {
                return false;
            };
            mac.update(name.as_bytes());
            mac.finalize().into_bytes().as_slice() == hash.as_slice()
        }
        HostPatterns::Patterns(list) => {
            let mut matched = false;
            for pattern in list {
                if let Some(negated) = pattern.strip_prefix('!') {
                    if wildcard(&negated.to_ascii_lowercase(), &name.to_ascii_lowercase()) {
                        return false;
                    }
                } else if wildcard(&pattern.to_ascii_lowercase(), &name.to_ascii_lowercase()) {
                    matched = true;
                }
            }
            matched
        }
    }
}

/// `*` and `?` as OpenSSH's `match_pattern`.
pub(crate) fn wildcard(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

fn same_key(a: &PublicKey, b: &PublicKey) -> bool {
    a.key_data() == b.key_data()
}

/// Key types known for `name`, most recent file line first, for the
/// order in which host key algorithms are offered (as OpenSSH does, so a
/// host known by its RSA key is not asked for an Ed25519 one).
pub(crate) fn known_algorithms(files: &[HostsFile], name: &str) -> Vec<Algorithm> {
    let mut out: Vec<Algorithm> = Vec::new();
    for line in lines(files) {
        if line.entry.marker().is_none() && names(line.entry.host_patterns(), name) {
            let alg = line.entry.public_key().algorithm();
            if !out.contains(&alg) {
                out.push(alg);
            }
        }
    }
    out
}

/// True when some `@cert-authority` line applies to `name`.
pub(crate) fn has_authority(files: &[HostsFile], name: &str) -> bool {
    lines(files).iter().any(|l| {
        l.entry.marker() == Some(&Marker::CertAuthority) && names(l.entry.host_patterns(), name)
    })
}

/// Checks a plain host key presented by `name`.
pub(crate) fn check_key(files: &[HostsFile], name: &str, key: &PublicKey) -> Verdict {
    let lines = lines(files);
    if let Some(l) = lines
        .iter()
        .find(|l| l.entry.marker() == Some(&Marker::Revoked) && same_key(l.entry.public_key(), key))
    {
        return Verdict::Revoked {
            place: l.place.clone(),
        };
    }
    let mut changed = None;
    let mut other_types = Vec::new();
    for l in lines
        .iter()
        .filter(|l| l.entry.marker().is_none() && names(l.entry.host_patterns(), name))
    {
        let known = l.entry.public_key();
        if same_key(known, key) {
            return Verdict::Known;
        }
        if known.algorithm() == key.algorithm() {
            changed.get_or_insert_with(|| l.place.clone());
        } else {
            let t = known.algorithm().as_str().to_owned();
            if !other_types.contains(&t) {
                other_types.push(t);
            }
        }
    }
    match changed {
        Some(place) => Verdict::Changed { place },
        None => Verdict::Unknown { other_types },
    }
}

/// Checks a host certificate: signed by a CA trusted for `name`, of host
/// type, naming `host` among its principals, valid at `now` (Unix seconds).
/// A certificate no trusted CA signed is judged by its plain key.
pub(crate) fn check_certificate(
    files: &[HostsFile],
    name: &str,
    host: &str,
    cert: &Certificate,
    now: u64,
) -> Verdict {
    let lines = lines(files);
    let signer = cert.signature_key();
    if let Some(l) = lines.iter().find(|l| {
        l.entry.marker() == Some(&Marker::Revoked)
            && (l.entry.public_key().key_data() == signer
                || l.entry.public_key().key_data() == cert.public_key())
    }) {
        return Verdict::Revoked {
            place: l.place.clone(),
        };
    }
    let trusted = lines.iter().any(|l| {
        l.entry.marker() == Some(&Marker::CertAuthority)
            && names(l.entry.host_patterns(), name)
            && l.entry.public_key().key_data() == signer
    });
    if !trusted {
        let plain = PublicKey::new(cert.public_key().clone(), "");
        return check_key(files, name, &plain);
    }
    let ca = PublicKey::new(signer.clone(), "").fingerprint(HashAlg::Sha256);
    if let Err(e) = cert.validate_at(now, [&ca]) {
        return Verdict::BadCertificate {
            reason: format!("its certificate does not hold ({e})"),
        };
    }
    if cert.cert_type() != CertType::Host {
        return Verdict::BadCertificate {
            reason: "it presented a user certificate, not a host certificate".into(),
        };
    }
    let principals = cert.valid_principals();
    if !principals.is_empty() && !principals.iter().any(|p| p.eq_ignore_ascii_case(host)) {
        return Verdict::BadCertificate {
            reason: format!(
                "its certificate is for {}, not for {host}",
                principals.join(", ")
            ),
        };
    }
    Verdict::Known
}

/// The line that records `key` for `name` in a known_hosts file.
pub(crate) fn line_for(name: &str, key: &PublicKey) -> Option<String> {
    let text = PublicKey::new(key.key_data().clone(), "")
        .to_openssh()
        .ok()?;
    Some(format!("{name} {}\n", text.trim()))
}

/// `~/.ssh/known_hosts`-style display of a path under `home`.
pub(crate) fn shown(path: &Path, home: Option<&Path>) -> String {
    match home.and_then(|h| path.strip_prefix(h).ok()) {
        Some(rest) => format!("~/{}", rest.display()),
        None => path.display().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use russh::keys::ssh_key::private::Ed25519Keypair;
    use russh::keys::ssh_key::{certificate, PrivateKey};
    use std::sync::atomic::{AtomicU8, Ordering};

    /// A new Ed25519 key each call (from a counter: tests need distinct
    /// keys, not secret ones).
    fn key() -> PrivateKey {
        static NEXT: AtomicU8 = AtomicU8::new(1);
        let seed = [NEXT.fetch_add(1, Ordering::Relaxed); 32];
        PrivateKey::from(Ed25519Keypair::from_seed(&seed))
    }

    fn public(k: &PrivateKey) -> String {
        k.public_key().to_openssh().expect("openssh text")
    }

    fn file(text: String) -> Vec<HostsFile> {
        vec![HostsFile {
            path: PathBuf::from("/home/u/.ssh/known_hosts"),
            text,
        }]
    }

    fn hashed(name: &str, salt: &[u8]) -> String {
        use base64ct::{Base64, Encoding};
        let mut mac = <Hmac<Sha1> as KeyInit>::new_from_slice(salt).expect("hmac");
        mac.update(name.as_bytes());
        format!(
            "|1|{}|{}",
            Base64::encode_string(salt),
            Base64::encode_string(&mac.finalize().into_bytes())
        )
    }

    #[test]
    fn plain_and_bracketed_names() {
        let k = key();
        let files = file(format!("ship1,10.0.0.2 {}\n", public(&k)));
        assert_eq!(check_key(&files, "ship1", k.public_key()), Verdict::Known);
        assert_eq!(
            check_key(&files, "10.0.0.2", k.public_key()),
            Verdict::Known
        );
        // Off port 22 the name is `[host]:port`, which a bare name does not cover.
        assert!(matches!(
            check_key(&files, &lookup_name("ship1", 2222), k.public_key()),
            Verdict::Unknown { .. }
        ));
        let files = file(format!("[ship1]:2222 {}\n", public(&k)));
        assert_eq!(
            check_key(&files, &lookup_name("ship1", 2222), k.public_key()),
            Verdict::Known
        );
    }

    #[test]
    fn wildcards_and_negation() {
        let k = key();
        let files = file(format!("*.prod,!db.prod,[10.0.0.?]:* {}\n", public(&k)));
        assert_eq!(
            check_key(&files, "web.prod", k.public_key()),
            Verdict::Known
        );
        assert!(matches!(
            check_key(&files, "db.prod", k.public_key()),
            Verdict::Unknown { .. }
        ));
        assert_eq!(
            check_key(&files, "[10.0.0.7]:2201", k.public_key()),
            Verdict::Known
        );
        assert!(wildcard("a*b?c", "axxxbyc"));
        assert!(!wildcard("a*b?c", "axxxbc"));
    }

    #[test]
    fn hashed_entries() {
        let k = key();
        let files = file(format!(
            "{} {}\n",
            hashed("[127.0.0.1]:2200", b"0123456789abcdefghij"),
            public(&k)
        ));
        assert_eq!(
            check_key(&files, "[127.0.0.1]:2200", k.public_key()),
            Verdict::Known
        );
        assert!(matches!(
            check_key(&files, "[127.0.0.1]:2201", k.public_key()),
            Verdict::Unknown { .. }
        ));
    }

    #[test]
    fn a_different_key_of_the_same_type_is_a_change() {
        let (old, new) = (key(), key());
        let files = file(format!("# comment\n\nship1 {}\n", public(&old)));
        assert_eq!(
            check_key(&files, "ship1", new.public_key()),
            Verdict::Changed {
                place: Place {
                    path: PathBuf::from("/home/u/.ssh/known_hosts"),
                    line: 3
                }
            }
        );
        // Known only by another type: unknown, with that type named.
        let rsa_line = "ship1 ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQDHvzAt4mYjvkqlBqQ1FBeCEuXLaNT6PnxRClTz2kG/LmB8vBdoFkQeJ8dT7m5H3ri+XdxjAK6HtzP1fDQBPKX1J/jKS6yP4P2SEsDhcvr0owzxVR9lQVqXUCVaRhN6dWzKcJAO5MZsDc1sLhuMGsdl5mrVvYz1G56d3vS2TKcnaQ==";
        let files = file(format!("{rsa_line}\n"));
        assert_eq!(
            check_key(&files, "ship1", new.public_key()),
            Verdict::Unknown {
                other_types: vec!["ssh-rsa".into()]
            }
        );
        assert_eq!(
            known_algorithms(&files, "ship1"),
            vec![Algorithm::Rsa { hash: None }]
        );
    }

    #[test]
    fn revoked_keys_are_refused_even_when_listed() {
        let k = key();
        let files = file(format!("ship1 {0}\n@revoked * {0}\n", public(&k)));
        assert!(matches!(
            check_key(&files, "ship1", k.public_key()),
            Verdict::Revoked { .. }
        ));
    }

    fn host_cert(
        ca: &PrivateKey,
        host_key: &PrivateKey,
        principal: &str,
        kind: CertType,
    ) -> Certificate {
        let mut builder = certificate::Builder::new(
            [7u8; 16],
            host_key.public_key().key_data().clone(),
            1_000,
            2_000,
        )
        .expect("builder");
        builder.cert_type(kind).expect("type");
        builder.valid_principal(principal).expect("principal");
        builder.sign(ca).expect("signed")
    }

    #[test]
    fn certificates_signed_by_a_trusted_authority() {
        let (ca, host_key) = (key(), key());
        let files = file(format!("@cert-authority *.prod {}\n", public(&ca)));
        assert!(has_authority(&files, "web.prod"));
        let cert = host_cert(&ca, &host_key, "web.prod", CertType::Host);
        assert_eq!(
            check_certificate(&files, "web.prod", "web.prod", &cert, 1_500),
            Verdict::Known
        );
        // Expired, for another host, or a user certificate: refused.
        assert!(matches!(
            check_certificate(&files, "web.prod", "web.prod", &cert, 2_500),
            Verdict::BadCertificate { .. }
        ));
        assert!(matches!(
            check_certificate(&files, "db.prod", "db.prod", &cert, 1_500),
            Verdict::BadCertificate { .. }
        ));
        let user = host_cert(&ca, &host_key, "web.prod", CertType::User);
        assert!(matches!(
            check_certificate(&files, "web.prod", "web.prod", &user, 1_500),
            Verdict::BadCertificate { .. }
        ));
        // Signed by a CA nobody trusts: judged as the plain key, unknown.
        let stranger = host_cert(&key(), &host_key, "web.prod", CertType::Host);
        assert!(matches!(
            check_certificate(&files, "web.prod", "web.prod", &stranger, 1_500),
            Verdict::Unknown { .. }
        ));
        // A revoked CA.
        let files = file(format!(
            "@cert-authority *.prod {0}\n@revoked * {0}\n",
            public(&ca)
        ));
        assert!(matches!(
            check_certificate(&files, "web.prod", "web.prod", &cert, 1_500),
            Verdict::Revoked { .. }
        ));
    }

    #[test]
    fn recorded_lines_read_back() {
        let k = key();
        let line = line_for("[h]:2222", k.public_key()).expect("a line");
        assert_eq!(
            check_key(&file(line), "[h]:2222", k.public_key()),
            Verdict::Known
        );
    }
}
