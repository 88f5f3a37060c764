//! A real OpenSSH server, an ssh-agent and a `$HOME` with its `.ssh/` for
//! tests of `ssh://` engine endpoints; plain std, each instance with its own
//! temporary directory, port and socket, so that tests run in parallel.
//!
//! * [`SshHome`]: a temporary directory to pass as `$HOME`, with `.ssh/`
//!   (mode 700), its `config` and `known_hosts`, and client keys made with
//!   `ssh-keygen` (optionally encrypted with a passphrase).
//! * [`Sshd`]: `/usr/sbin/sshd -D -e -f CONFIG` on 127.0.0.1 and a free port,
//!   key-only root login, TCP and unix-socket forwarding allowed, its own
//!   host keys; known_hosts lines and `SHA256:` fingerprints of them; a
//!   restart with new host keys on the same port; killed when dropped.
//! * [`Agent`]: `ssh-agent -D -a SOCK`, keys added with `ssh-add`; killed
//!   when dropped.
//! * [`listening_tcp_ports_of`]: the TCP sockets that a process or any of its
//!   descendants listens on (from `ss -ltnpH` and `/proc/*/stat`).
//!
//! The server needs root (it runs as root under the test runner) and the
//! Debian package openssh-server (`scripts/testbed` installs it).

use std::collections::BTreeSet;
use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The OpenSSH server binary.
pub const SSHD: &str = "/usr/sbin/sshd";

/// How long a server or an agent is given to come up.
const READY_WITHIN: Duration = Duration::from_secs(15);

// ------------------------------------------------------------ temp dirs

/// A unique, empty directory under the system temporary directory, removed
/// when dropped (kept when `MAESTRO_KEEP_TEST_DIRS` is set, for debugging).
/// Its path is short: agent sockets live in it.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// A new directory whose name starts with `maestro-PREFIX-`.
    pub fn new(prefix: &str) -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let path = std::env::temp_dir().join(format!(
            "maestro-{prefix}-{}-{}-{nanos:x}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst),
        ));
        fs::create_dir_all(&path)
            .unwrap_or_else(|e| panic!("cannot create test directory {}: {e}", path.display()));
        TempDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `self.path()` joined with a relative path.
    pub fn join(&self, relative: impl AsRef<Path>) -> PathBuf {
        self.path.join(relative)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::env::var_os("MAESTRO_KEEP_TEST_DIRS").is_none() {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}

// ------------------------------------------------------------------ keys

/// A key pair on disk, as `ssh-keygen` wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    /// The private key file.
    pub private: PathBuf,
    /// The public key file (`PRIVATE.pub`).
    pub public: PathBuf,
    /// The public key line without its comment: `ssh-ed25519 AAAA…`.
    pub public_line: String,
    /// Its `SHA256:…` fingerprint, as `ssh-keygen -lf` gives it.
    pub fingerprint: String,
}

impl Key {
    /// The key type, e.g. `ssh-ed25519`, `ssh-rsa`, `ecdsa-sha2-nistp256`.
    pub fn key_type(&self) -> &str {
        self.public_line.split(' ').next().unwrap_or("")
    }

    /// A known_hosts line for this key: `PATTERN TYPE BASE64`.
    pub fn known_hosts_line(&self, host_pattern: &str) -> String {
        format!("{host_pattern} {}", self.public_line)
    }
}

/// The kinds of key [`generate_key`] makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    Ed25519,
    Ecdsa,
    Rsa,
}

impl KeyKind {
    fn keygen_args(self) -> &'static [&'static str] {
        match self {
            KeyKind::Ed25519 => &["-t", "ed25519"],
            KeyKind::Ecdsa => &["-t", "ecdsa", "-b", "256"],
            KeyKind::Rsa => &["-t", "rsa", "-b", "3072"],
        }
    }

    /// The file name OpenSSH gives this kind's default identity
    /// (`id_ed25519`, `id_ecdsa`, `id_rsa`).
    pub fn default_identity(self) -> &'static str {
        match self {
            KeyKind::Ed25519 => "id_ed25519",
            KeyKind::Ecdsa => "id_ecdsa",
            KeyKind::Rsa => "id_rsa",
        }
    }
}

/// Makes a key pair at `path` (and `path.pub`) with `ssh-keygen`, encrypted
/// with `passphrase` when given; replaces what is there.
pub fn generate_key(path: &Path, kind: KeyKind, passphrase: Option<&str>) -> Key {
    let _ = fs::remove_file(path);
    let _ = fs::remove_file(pub_path(path));
    let mut command = Command::new("ssh-keygen");
    command
        .arg("-q")
        .args(kind.keygen_args())
        .arg("-N")
        .arg(passphrase.unwrap_or(""))
        .arg("-C")
        .arg("maestro test key")
        .arg("-f")
        .arg(path);
    run_ok(&mut command);
    key_at(path)
}

/// The key pair at `path` (its `.pub` beside it).
pub fn key_at(path: &Path) -> Key {
    let public = pub_path(path);
    let text = fs::read_to_string(&public)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", public.display()));
    let public_line = text
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        public_line.contains(' '),
        "{} is not a public key: {text:?}",
        public.display()
    );
    Key {
        private: path.to_owned(),
        fingerprint: fingerprint_of(&public),
        public,
        public_line,
    }
}

fn pub_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".pub");
    PathBuf::from(name)
}

/// The `SHA256:…` fingerprint of a public key file (`ssh-keygen -lf`).
pub fn fingerprint_of(public: &Path) -> String {
    let out = run_ok(Command::new("ssh-keygen").arg("-lf").arg(public));
    let text = String::from_utf8_lossy(&out.stdout);
    parse_fingerprint(&text)
        .unwrap_or_else(|| panic!("no SHA256 fingerprint in `ssh-keygen -lf` output {text:?}"))
}

/// The `SHA256:…` field of an `ssh-keygen -l` line
/// (`256 SHA256:abc… comment (ED25519)`).
pub fn parse_fingerprint(line: &str) -> Option<String> {
    line.split_whitespace()
        .find(|w| w.starts_with("SHA256:") && w.len() > "SHA256:".len())
        .map(str::to_owned)
}

// -------------------------------------------------------------- SSH home

/// A temporary `$HOME` with `.ssh/` (mode 700) in it.
#[derive(Debug)]
pub struct SshHome {
    dir: TempDir,
}

impl Default for SshHome {
    fn default() -> Self {
        SshHome::new()
    }
}

impl SshHome {
    pub fn new() -> SshHome {
        let dir = TempDir::new("home");
        let ssh = dir.join(".ssh");
        fs::create_dir(&ssh).unwrap_or_else(|e| panic!("cannot create {}: {e}", ssh.display()));
        fs::set_permissions(&ssh, fs::Permissions::from_mode(0o700))
            .unwrap_or_else(|e| panic!("cannot chmod {}: {e}", ssh.display()));
        SshHome { dir }
    }

    /// The directory to pass as `$HOME`.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `$HOME/.ssh`.
    pub fn ssh_dir(&self) -> PathBuf {
        self.dir.join(".ssh")
    }

    /// `$HOME/.ssh/config`.
    pub fn config_path(&self) -> PathBuf {
        self.ssh_dir().join("config")
    }

    /// `$HOME/.ssh/known_hosts`.
    pub fn known_hosts_path(&self) -> PathBuf {
        self.ssh_dir().join("known_hosts")
    }

    /// Writes `$HOME/.ssh/config` (mode 600).
    pub fn write_config(&self, text: &str) -> PathBuf {
        let path = self.config_path();
        write_private(&path, text);
        path
    }

    /// Writes `$HOME/.ssh/known_hosts` (mode 600), replacing it.
    pub fn write_known_hosts(&self, text: &str) -> PathBuf {
        let path = self.known_hosts_path();
        write_private(&path, text);
        path
    }

    /// Appends one line to `$HOME/.ssh/known_hosts` (creating it).
    pub fn add_known_host(&self, line: &str) {
        let mut text = self.known_hosts();
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(line.trim_end());
        text.push('\n');
        self.write_known_hosts(&text);
    }

    /// What `$HOME/.ssh/known_hosts` holds; empty when there is none.
    pub fn known_hosts(&self) -> String {
        fs::read_to_string(self.known_hosts_path()).unwrap_or_default()
    }

    /// Makes a key pair `$HOME/.ssh/NAME` (and `NAME.pub`).
    pub fn generate_key(&self, name: &str, kind: KeyKind, passphrase: Option<&str>) -> Key {
        generate_key(&self.ssh_dir().join(name), kind, passphrase)
    }

    /// The names of the files in `$HOME/.ssh`, sorted.
    pub fn ssh_files(&self) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(self.ssh_dir())
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }
}

fn write_private(path: &Path, text: &str) {
    fs::write(path, text).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    fs::set_permissions(path, fs::Permissions::from_mode(0o600))
        .unwrap_or_else(|e| panic!("cannot chmod {}: {e}", path.display()));
}

// ------------------------------------------------------------------ sshd

/// What a test server is like.
#[derive(Debug, Clone, Default)]
pub struct SshdOptions {
    authorized: Vec<String>,
    rsa_host_key: bool,
    extra: Vec<String>,
}

impl SshdOptions {
    /// Nobody authorized yet, an ed25519 host key only.
    pub fn new() -> SshdOptions {
        SshdOptions::default()
    }

    /// Lets `key` log in as root.
    pub fn authorize(mut self, key: &Key) -> SshdOptions {
        self.authorized.push(key.public_line.clone());
        self
    }

    /// Lets a public key line (`ssh-ed25519 AAAA…`) log in as root.
    pub fn authorize_line(mut self, line: &str) -> SshdOptions {
        self.authorized.push(line.trim().to_owned());
        self
    }

    /// An RSA host key too (besides the ed25519 one).
    pub fn rsa_host_key(mut self) -> SshdOptions {
        self.rsa_host_key = true;
        self
    }

    /// One more line for `sshd_config` (before the fixed ones; the first
    /// value of a keyword wins in sshd_config).
    pub fn config_line(mut self, line: &str) -> SshdOptions {
        self.extra.push(line.to_owned());
        self
    }
}

/// A running `sshd -D -e` of a test's own, on 127.0.0.1. Killed when dropped.
#[derive(Debug)]
pub struct Sshd {
    dir: TempDir,
    options: SshdOptions,
    port: u16,
    child: Option<Child>,
    /// How many times it was (re)started: each start logs to a file of its own.
    generation: usize,
}

impl Sshd {
    /// Starts a server on a free port and waits for its `SSH-2.0` banner.
    pub fn start(options: SshdOptions) -> Sshd {
        assert!(
            Path::new(SSHD).exists(),
            "{SSHD} is missing: apt-get install openssh-server (scripts/testbed installs it)"
        );
        // sshd's privilege separation directory.
        let _ = fs::create_dir_all("/run/sshd");
        let _ = fs::set_permissions("/run/sshd", fs::Permissions::from_mode(0o755));
        let dir = TempDir::new("sshd");
        let mut sshd = Sshd {
            dir,
            options,
            port: 0,
            child: None,
            generation: 0,
        };
        sshd.make_host_keys();
        sshd.write_authorized_keys();
        // A port free a moment ago may be taken by the time sshd binds it:
        // try a few.
        let mut last = String::new();
        for _ in 0..8 {
            sshd.port = free_local_port();
            match sshd.launch() {
                Ok(()) => return sshd,
                Err(why) => last = why,
            }
        }
        panic!("sshd did not come up: {last}");
    }

    /// The port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).expect("sshd is running")
    }

    /// Its directory (config, host keys, authorized_keys, logs).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `sshd_config`.
    pub fn config_path(&self) -> PathBuf {
        self.dir.join("sshd_config")
    }

    /// The log of the current run (sshd's stderr).
    pub fn log_path(&self) -> PathBuf {
        self.dir.join(format!("sshd-{}.log", self.generation))
    }

    /// What the server logged in its current run.
    pub fn log(&self) -> String {
        fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// The `Accepted publickey for …` lines of the current run: one per
    /// login that succeeded.
    pub fn accepted_logins(&self) -> Vec<String> {
        self.log()
            .lines()
            .filter(|l| l.contains("Accepted publickey for"))
            .map(str::to_owned)
            .collect()
    }

    /// The ed25519 host key.
    pub fn host_key(&self) -> Key {
        key_at(&self.dir.join("ssh_host_ed25519_key"))
    }

    /// The RSA host key (only with [`SshdOptions::rsa_host_key`]).
    pub fn rsa_host_key(&self) -> Key {
        assert!(self.options.rsa_host_key, "this sshd has no RSA host key");
        key_at(&self.dir.join("ssh_host_rsa_key"))
    }

    /// The `SHA256:` fingerprint of the ed25519 host key.
    pub fn fingerprint(&self) -> String {
        self.host_key().fingerprint
    }

    /// `[127.0.0.1]:PORT`, how known_hosts names this server.
    pub fn host_pattern(&self) -> String {
        format!("[127.0.0.1]:{}", self.port)
    }

    /// A known_hosts line for the ed25519 host key under `host_pattern`
    /// (`[127.0.0.1]:PORT ssh-ed25519 AAAA…`).
    pub fn host_key_line(&self, host_pattern: &str) -> String {
        self.host_key().known_hosts_line(host_pattern)
    }

    /// The known_hosts line(s) for this server at its own address: the
    /// ed25519 key, and the RSA key when it has one.
    pub fn known_hosts_lines(&self) -> String {
        let pattern = self.host_pattern();
        let mut text = self.host_key_line(&pattern);
        text.push('\n');
        if self.options.rsa_host_key {
            text.push_str(&self.rsa_host_key().known_hosts_line(&pattern));
            text.push('\n');
        }
        text
    }

    /// Stops the server, makes new host keys, and starts it again on the same
    /// port (the same authorized keys): a server whose key changed.
    pub fn restart_with_new_host_key(&mut self) {
        self.kill();
        self.make_host_keys();
        let mut last = String::new();
        // The old listener is gone once the process is reaped; give the
        // kernel a few tries all the same.
        for _ in 0..20 {
            match self.launch() {
                Ok(()) => return,
                Err(why) => last = why,
            }
            thread::sleep(Duration::from_millis(100));
        }
        panic!("sshd did not come back on port {}: {last}", self.port);
    }

    fn make_host_keys(&self) {
        generate_key(
            &self.dir.join("ssh_host_ed25519_key"),
            KeyKind::Ed25519,
            None,
        );
        if self.options.rsa_host_key {
            generate_key(&self.dir.join("ssh_host_rsa_key"), KeyKind::Rsa, None);
        }
    }

    fn write_authorized_keys(&self) {
        let mut text = self.options.authorized.join("\n");
        text.push('\n');
        write_private(&self.dir.join("authorized_keys"), &text);
    }

    fn config_text(&self) -> String {
        let dir = self.dir.path().display();
        let mut text = String::from("# a test sshd (maestro-testkit sshd.rs)\n");
        for line in &self.options.extra {
            text.push_str(line);
            text.push('\n');
        }
        text.push_str(&format!("Port {}\nListenAddress 127.0.0.1\n", self.port));
        text.push_str(&format!("HostKey {dir}/ssh_host_ed25519_key\n"));
        if self.options.rsa_host_key {
            text.push_str(&format!("HostKey {dir}/ssh_host_rsa_key\n"));
        }
        text.push_str(&format!(
            "AuthorizedKeysFile {dir}/authorized_keys
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
AllowTcpForwarding yes
AllowStreamLocalForwarding yes
PidFile none
MaxSessions 100
MaxStartups 200
LogLevel VERBOSE
"
        ));
        text
    }

    /// One start on `self.port`: Ok once the banner comes, Err (the process
    /// gone) when sshd ended or never answered.
    fn launch(&mut self) -> Result<(), String> {
        self.generation += 1;
        fs::write(self.config_path(), self.config_text())
            .map_err(|e| format!("cannot write the config: {e}"))?;
        let log = fs::File::create(self.log_path())
            .map_err(|e| format!("cannot create {}: {e}", self.log_path().display()))?;
        let child = Command::new(SSHD)
            .arg("-D")
            .arg("-e")
            .arg("-f")
            .arg(self.config_path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot run {SSHD}: {e}"))?;
        self.child = Some(child);
        let deadline = Instant::now() + READY_WITHIN;
        loop {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                self.child = None;
                return Err(format!(
                    "sshd on port {} ended ({status}); log {}:\n{}",
                    self.port,
                    self.log_path().display(),
                    self.log()
                ));
            }
            if banner(self.addr()).is_some_and(|b| b.starts_with("SSH-2.0")) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                self.kill();
                panic!(
                    "sshd on port {} gave no SSH-2.0 banner within {READY_WITHIN:?}; log {}:\n{}",
                    self.port,
                    self.log_path().display(),
                    self.log()
                );
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The first line a server at `addr` sends, if it sends one within a second.
fn banner(addr: SocketAddr) -> Option<String> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(1))).ok()?;
    let mut got = Vec::new();
    let mut byte = [0u8; 1];
    while got.len() < 256 {
        match stream.read(&mut byte) {
            Ok(1) if byte[0] == b'\n' => break,
            Ok(1) => got.push(byte[0]),
            _ => return None,
        }
    }
    // Say goodbye the way a client would, so that sshd logs no error.
    let _ = stream.write_all(b"SSH-2.0-maestro-testkit-probe\r\n");
    Some(String::from_utf8_lossy(&got).trim_end().to_owned())
}

/// A port on 127.0.0.1 that nothing listens on right now.
fn free_local_port() -> u16 {
    TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .expect("a free local port")
        .port()
}

// ----------------------------------------------------------------- agent

/// A running `ssh-agent -D -a SOCK` of a test's own. Killed when dropped.
#[derive(Debug)]
pub struct Agent {
    dir: TempDir,
    child: Option<Child>,
}

impl Agent {
    /// Starts an agent and waits until it answers on its socket.
    pub fn start() -> Agent {
        let dir = TempDir::new("agent");
        let sock = dir.join("agent.sock");
        let child = Command::new("ssh-agent")
            .arg("-D")
            .arg("-a")
            .arg(&sock)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run ssh-agent: {e}"));
        let mut agent = Agent {
            dir,
            child: Some(child),
        };
        let deadline = Instant::now() + READY_WITHIN;
        loop {
            // `ssh-add -l`: 0 keys listed, 1 none, 2 no agent to talk to.
            if sock.exists() && matches!(agent.ssh_add(&["-l"]).status.code(), Some(0 | 1)) {
                return agent;
            }
            if let Some(status) = agent
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!("ssh-agent ended at once ({status})");
            }
            assert!(
                Instant::now() < deadline,
                "ssh-agent did not answer on {} within {READY_WITHIN:?}",
                sock.display()
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// The agent's socket, for `SSH_AUTH_SOCK`.
    pub fn sock(&self) -> PathBuf {
        self.dir.join("agent.sock")
    }

    /// The agent's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).expect("the agent runs")
    }

    /// Adds an unencrypted key (`ssh-add KEY`).
    pub fn add(&self, key: &Path) {
        let out = self.ssh_add(&[key.to_str().expect("a UTF-8 key path")]);
        assert!(
            out.status.success(),
            "ssh-add {} failed: {}",
            key.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Adds a key encrypted with `passphrase` (given to `ssh-add` through an
    /// `SSH_ASKPASS` program).
    pub fn add_encrypted(&self, key: &Path, passphrase: &str) {
        let askpass = self.dir.join("askpass");
        fs::write(
            &askpass,
            format!(
                "#!/bin/sh\nprintf '%s\\n' '{}'\n",
                passphrase.replace('\'', "'\\''")
            ),
        )
        .expect("the askpass script is written");
        fs::set_permissions(&askpass, fs::Permissions::from_mode(0o700))
            .expect("the askpass script is made executable");
        let out = Command::new("ssh-add")
            .arg(key)
            .env("SSH_AUTH_SOCK", self.sock())
            .env("SSH_ASKPASS", &askpass)
            .env("SSH_ASKPASS_REQUIRE", "force")
            .env("DISPLAY", ":0")
            .stdin(Stdio::null())
            .output()
            .expect("ssh-add runs");
        assert!(
            out.status.success(),
            "ssh-add {} (with a passphrase) failed: {}",
            key.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The `SHA256:` fingerprints of the keys the agent holds.
    pub fn fingerprints(&self) -> Vec<String> {
        let out = self.ssh_add(&["-l"]);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(parse_fingerprint)
            .collect()
    }

    fn ssh_add(&self, args: &[&str]) -> Output {
        Command::new("ssh-add")
            .args(args)
            .env("SSH_AUTH_SOCK", self.sock())
            .stdin(Stdio::null())
            .output()
            .expect("ssh-add runs")
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

// ------------------------------------------------------- listening ports

/// A listening TCP socket and the processes that hold it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listening {
    /// The local address as `ss` prints it (`127.0.0.1:2222`, `[::]:80`, `*:22`).
    pub local: String,
    pub port: u16,
    /// (command name, pid) of each process holding the socket.
    pub processes: Vec<(String, u32)>,
}

/// Parses `ss -ltnpH` output (one socket per line:
/// `LISTEN 0 128 127.0.0.1:22 0.0.0.0:* users:(("sshd",pid=7,fd=3))`).
pub fn parse_ss_listening(text: &str) -> Vec<Listening> {
    text.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // State, Recv-Q, Send-Q, Local, Peer, [Process].
            if fields.len() < 5 {
                return None;
            }
            let local = fields[3].to_owned();
            let port = local.rsplit_once(':')?.1.parse().ok()?;
            let processes = fields
                .get(5..)
                .map(|rest| parse_ss_users(&rest.join(" ")))
                .unwrap_or_default();
            Some(Listening {
                local,
                port,
                processes,
            })
        })
        .collect()
}

/// The (name, pid) pairs of an `ss -p` process column:
/// `users:(("sshd",pid=7,fd=3),("sshd",pid=9,fd=3))` (a name may hold
/// commas and parentheses: each entry is found by its `",pid=`).
pub fn parse_ss_users(text: &str) -> Vec<(String, u32)> {
    const MARK: &str = "\",pid=";
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(at) = text[from..].find(MARK).map(|i| i + from) {
        let digits: String = text[at + MARK.len()..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        let name = text[..at]
            .rfind("(\"")
            .map(|start| text[start + 2..at].to_owned());
        if let (Some(name), Ok(pid)) = (name, digits.parse()) {
            found.push((name, pid));
        }
        from = at + MARK.len();
    }
    found
}

/// The parent pid in a `/proc/PID/stat` line (`PID (COMM) STATE PPID …`;
/// the command may hold spaces and parentheses).
pub fn parse_stat_ppid(stat: &str) -> Option<u32> {
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(1)?.parse().ok()
}

/// `pid` and every process descending from it, now.
pub fn process_tree(pid: u32) -> BTreeSet<u32> {
    let mut parents: Vec<(u32, u32)> = Vec::new();
    if let Ok(entries) = fs::read_dir("/proc") {
        for entry in entries.filter_map(Result::ok) {
            let Some(child) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
                continue;
            };
            if let Some(ppid) = fs::read_to_string(entry.path().join("stat"))
                .ok()
                .as_deref()
                .and_then(parse_stat_ppid)
            {
                parents.push((child, ppid));
            }
        }
    }
    tree_from(pid, &parents)
}

/// `root` and its descendants by (child, parent) pairs.
fn tree_from(root: u32, parents: &[(u32, u32)]) -> BTreeSet<u32> {
    let mut tree = BTreeSet::from([root]);
    loop {
        let before = tree.len();
        for (child, parent) in parents {
            if tree.contains(parent) {
                tree.insert(*child);
            }
        }
        if tree.len() == before {
            return tree;
        }
    }
}

/// The listening TCP sockets (IPv4 and IPv6) held by `pid` or any of its
/// descendants, from `ss -ltnpH` (run as root, which sees every process).
pub fn listening_tcp_ports_of(pid: u32) -> Vec<Listening> {
    let tree = process_tree(pid);
    let out = run_ok(Command::new("ss").arg("-ltnpH"));
    parse_ss_listening(&String::from_utf8_lossy(&out.stdout))
        .into_iter()
        .filter(|l| l.processes.iter().any(|(_, p)| tree.contains(p)))
        .collect()
}

// ------------------------------------------------------------- programs

/// Runs a program to its end; panics with its stderr when it fails.
fn run_ok(command: &mut Command) -> Output {
    let out = command
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    assert!(
        out.status.success(),
        "{command:?} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader};
    use std::os::unix::net::{UnixListener, UnixStream};

    // ------------------------------------------------------ pure parts

    #[test]
    fn ss_lines_give_address_port_and_processes() {
        let text = "\
LISTEN 0      128        127.0.0.1:2222      0.0.0.0:*    users:((\"sshd\",pid=7,fd=3))
LISTEN 0      4096            [::]:8080         [::]:*    users:((\"docker-proxy\",pid=12,fd=4),(\"docker-proxy\",pid=13,fd=4))
LISTEN 0      5                 *:9000            *:*
LISTEN 0      5   [::ffff:127.0.0.1]:631          *:*    users:((\"odd name, (x)\",pid=99,fd=5))
garbage
";
        let found = parse_ss_listening(text);
        assert_eq!(found.len(), 4, "{found:#?}");
        assert_eq!(found[0].local, "127.0.0.1:2222");
        assert_eq!(found[0].port, 2222);
        assert_eq!(found[0].processes, vec![("sshd".to_owned(), 7)]);
        assert_eq!(found[1].port, 8080);
        assert_eq!(
            found[1].processes,
            vec![
                ("docker-proxy".to_owned(), 12),
                ("docker-proxy".to_owned(), 13)
            ]
        );
        assert_eq!(found[2].port, 9000);
        assert!(found[2].processes.is_empty());
        assert_eq!(found[3].port, 631);
        assert_eq!(found[3].processes.len(), 1, "{:?}", found[3]);
        assert_eq!(found[3].processes[0].1, 99);
    }

    #[test]
    fn stat_lines_give_the_parent_even_with_odd_command_names() {
        assert_eq!(parse_stat_ppid("42 (maestro) S 7 42 42 0 -1"), Some(7));
        assert_eq!(parse_stat_ppid("43 (a b) (c)) R 42 1 1"), Some(42));
        assert_eq!(parse_stat_ppid("garbage"), None);
    }

    #[test]
    fn the_tree_holds_the_root_and_every_descendant_only() {
        let parents = [(2, 1), (3, 2), (4, 3), (5, 1), (6, 99), (1, 0)];
        assert_eq!(tree_from(2, &parents), BTreeSet::from([2, 3, 4]));
        assert_eq!(tree_from(1, &parents), BTreeSet::from([1, 2, 3, 4, 5]));
        assert_eq!(tree_from(77, &parents), BTreeSet::from([77]));
    }

    #[test]
    fn fingerprints_are_read_from_ssh_keygen_lines() {
        assert_eq!(
            parse_fingerprint("256 SHA256:AbC+/def0 root@x (ED25519)").as_deref(),
            Some("SHA256:AbC+/def0")
        );
        assert_eq!(parse_fingerprint("SHA256: nothing"), None);
    }

    // --------------------------------------- the harness, for real

    /// `ssh -F /dev/null` with only the given known_hosts file, in batch mode.
    fn ssh(known_hosts: &Path, agent: Option<&Agent>) -> Command {
        let mut command = Command::new("ssh");
        command
            .arg("-F")
            .arg("/dev/null")
            .arg("-o")
            .arg(format!("UserKnownHostsFile={}", known_hosts.display()))
            .args([
                "-o",
                "GlobalKnownHostsFile=/dev/null",
                "-o",
                "StrictHostKeyChecking=yes",
                "-o",
                "BatchMode=yes",
                "-o",
                "ConnectTimeout=10",
            ])
            .stdin(Stdio::null());
        match agent {
            Some(agent) => command.env("SSH_AUTH_SOCK", agent.sock()),
            None => command.env_remove("SSH_AUTH_SOCK"),
        };
        command
    }

    #[test]
    fn the_system_ssh_logs_in_with_a_key_only_the_agent_holds() {
        let keys = TempDir::new("keys");
        let key = generate_key(&keys.join("id"), KeyKind::Ed25519, None);
        let agent = Agent::start();
        agent.add(&key.private);
        assert_eq!(agent.fingerprints(), vec![key.fingerprint.clone()]);
        let sshd = Sshd::start(SshdOptions::new().authorize(&key).rsa_host_key());
        let home = SshHome::new();
        let mode = fs::metadata(home.ssh_dir()).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        home.write_known_hosts(&sshd.known_hosts_lines());

        let out = ssh(&home.known_hosts_path(), Some(&agent))
            .args([
                "-p",
                &sshd.port().to_string(),
                "root@127.0.0.1",
                "echo",
                "hi",
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "ssh failed: {}\nsshd log:\n{}",
            String::from_utf8_lossy(&out.stderr),
            sshd.log()
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "hi");
        let logins = sshd.accepted_logins();
        assert_eq!(logins.len(), 1, "{}", sshd.log());
        assert!(logins[0].contains(&key.fingerprint), "{logins:?}");

        // Without the agent, there is no key: refused.
        let out = ssh(&home.known_hosts_path(), None)
            .args(["-p", &sshd.port().to_string(), "root@127.0.0.1", "true"])
            .output()
            .unwrap();
        assert!(!out.status.success());
    }

    #[test]
    fn host_key_lines_and_fingerprints_match_what_the_server_shows() {
        let sshd = Sshd::start(SshdOptions::new().rsa_host_key());
        let line = sshd.host_key_line(&sshd.host_pattern());
        assert!(
            line.starts_with(&format!("[127.0.0.1]:{} ssh-ed25519 AAAA", sshd.port())),
            "{line}"
        );
        let scanned = Command::new("ssh-keyscan")
            .args(["-t", "ed25519", "-p", &sshd.port().to_string(), "127.0.0.1"])
            .output()
            .unwrap();
        let scanned = String::from_utf8_lossy(&scanned.stdout);
        assert!(scanned.lines().any(|l| l == line), "{scanned:?} vs {line}");
        let rsa = sshd.rsa_host_key();
        assert_eq!(rsa.key_type(), "ssh-rsa");
        assert!(sshd.known_hosts_lines().contains(&rsa.public_line));
        assert!(sshd.fingerprint().starts_with("SHA256:"));
        assert_ne!(sshd.fingerprint(), rsa.fingerprint);
    }

    #[test]
    fn a_restart_with_a_new_host_key_is_refused_by_the_old_known_hosts() {
        let keys = TempDir::new("keys");
        let key = generate_key(&keys.join("id"), KeyKind::Ed25519, Some("secret words"));
        let agent = Agent::start();
        agent.add_encrypted(&key.private, "secret words");
        assert_eq!(agent.fingerprints(), vec![key.fingerprint.clone()]);
        let mut sshd = Sshd::start(SshdOptions::new().authorize(&key));
        let home = SshHome::new();
        home.add_known_host(&sshd.host_key_line(&sshd.host_pattern()));
        let login = |sshd: &Sshd| {
            ssh(&home.known_hosts_path(), Some(&agent))
                .args(["-p", &sshd.port().to_string(), "root@127.0.0.1", "true"])
                .output()
                .unwrap()
        };
        assert!(login(&sshd).status.success(), "{}", sshd.log());

        let (port, old) = (sshd.port(), sshd.fingerprint());
        sshd.restart_with_new_host_key();
        assert_eq!(sshd.port(), port);
        assert_ne!(sshd.fingerprint(), old);
        let out = login(&sshd);
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("HOST IDENTIFICATION HAS CHANGED"),
            "{stderr}"
        );
        assert!(stderr.contains(&sshd.fingerprint()), "{stderr}");

        home.write_known_hosts(&sshd.known_hosts_lines());
        assert!(login(&sshd).status.success(), "{}", sshd.log());
    }

    /// `ssh -J bastion -L LOCAL.sock:REMOTE.sock`: a jump through a second
    /// server and stream-local forwarding to a unix socket, the two things an
    /// `ssh://` ship behind a bastion needs.
    #[test]
    fn a_jump_through_a_bastion_forwards_to_a_unix_socket() {
        let keys = TempDir::new("keys");
        let key = generate_key(&keys.join("id"), KeyKind::Ed25519, None);
        let agent = Agent::start();
        agent.add(&key.private);
        let target = Sshd::start(SshdOptions::new().authorize(&key));
        let bastion = Sshd::start(SshdOptions::new().authorize(&key));
        let home = SshHome::new();
        home.write_known_hosts(&(target.known_hosts_lines() + &bastion.known_hosts_lines()));

        // A unix socket server that answers one line with `pong LINE`.
        let far = keys.join("far.sock");
        let listener = UnixListener::bind(&far).unwrap();
        let server = thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut line = String::new();
            BufReader::new(&stream).read_line(&mut line).unwrap();
            (&stream)
                .write_all(format!("pong {line}").as_bytes())
                .unwrap();
        });

        let near = keys.join("near.sock");
        let known_hosts = home.known_hosts_path();
        let mut tunnel = ssh(&known_hosts, Some(&agent))
            .arg("-o")
            .arg(format!(
                "ProxyCommand=ssh -F /dev/null -o UserKnownHostsFile={} -o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes -o BatchMode=yes -W %h:%p -p {} root@127.0.0.1",
                known_hosts.display(),
                bastion.port()
            ))
            .arg("-N")
            .arg("-L")
            .arg(format!("{}:{}", near.display(), far.display()))
            .args(["-p", &target.port().to_string(), "root@127.0.0.1"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        let stream = loop {
            if let Ok(stream) = UnixStream::connect(&near) {
                break stream;
            }
            if let Some(status) = tunnel.try_wait().unwrap() {
                let mut err = String::new();
                tunnel
                    .stderr
                    .take()
                    .unwrap()
                    .read_to_string(&mut err)
                    .unwrap();
                panic!(
                    "the tunnel ended ({status}): {err}\ntarget log:\n{}\nbastion log:\n{}",
                    target.log(),
                    bastion.log()
                );
            }
            assert!(Instant::now() < deadline, "the tunnel did not come up");
            thread::sleep(Duration::from_millis(20));
        };
        (&stream).write_all(b"ping\n").unwrap();
        let mut reply = String::new();
        BufReader::new(&stream).read_line(&mut reply).unwrap();
        assert_eq!(reply, "pong ping\n");
        server.join().unwrap();

        // Both servers saw the login; ssh listens on no TCP port (-L to a socket).
        assert_eq!(target.accepted_logins().len(), 1, "{}", target.log());
        assert_eq!(bastion.accepted_logins().len(), 1, "{}", bastion.log());
        assert!(listening_tcp_ports_of(tunnel.id()).is_empty());
        let _ = tunnel.kill();
        let _ = tunnel.wait();
    }

    #[test]
    fn the_listening_ports_of_a_process_tree_are_found() {
        let sshd = Sshd::start(SshdOptions::new());
        let found = listening_tcp_ports_of(sshd.pid());
        assert!(
            found.iter().any(|l| l.port == sshd.port()),
            "sshd's port {} not among {found:?}",
            sshd.port()
        );
        // A shell whose child listens: found through the parent.
        let port = free_local_port();
        let mut shell = Command::new("sh")
            .arg("-c")
            .arg(format!("busybox nc -l -p {port} & wait"))
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + READY_WITHIN;
        loop {
            let found = listening_tcp_ports_of(shell.id());
            if found.iter().any(|l| l.port == port) {
                assert!(found
                    .iter()
                    .all(|l| l.processes.iter().all(|(_, p)| *p != shell.id())));
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the shell's child never listened on {port}"
            );
            thread::sleep(Duration::from_millis(20));
        }
        assert!(process_tree(shell.id()).len() >= 2);
        // End the shell's children (by their ids), then the shell.
        for pid in process_tree(shell.id()) {
            if pid != shell.id() {
                let _ = Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .status();
            }
        }
        let _ = shell.kill();
        let _ = shell.wait();
        // This test process listens on nothing it did not open.
        let own = TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let port = own.local_addr().unwrap().port();
        assert!(listening_tcp_ports_of(std::process::id())
            .iter()
            .any(|l| l.port == port));
    }
}
