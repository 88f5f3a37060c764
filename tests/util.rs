//! Helpers shared by every integration test: scratch directories, a runner
//! for the `maestro` binary (or any other program), and the location of the
//! MaestroNG oracle virtualenv used by the differential tests.
#![allow(dead_code)]

use std::ffi::{OsStr, OsString};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The workspace root (where Cargo.toml, scripts/ and tests/ live).
pub fn workspace_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A unique, empty directory under the system temporary directory, removed
/// when dropped (kept when `MAESTRO_KEEP_TEST_DIRS` is set, for debugging).
pub struct Dir {
    path: PathBuf,
}

impl Dir {
    pub fn new() -> Dir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let path = std::env::temp_dir().join(format!(
            "maestro-test-{}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst),
            nanos
        ));
        std::fs::create_dir_all(&path)
            .unwrap_or_else(|e| panic!("cannot create test directory {}: {e}", path.display()));
        Dir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `self.path()` joined with a relative path.
    pub fn join(&self, relative: impl AsRef<Path>) -> PathBuf {
        self.path.join(relative)
    }

    /// Writes `contents` to `relative` (creating parent directories) and
    /// returns the file's absolute path.
    pub fn write(&self, relative: impl AsRef<Path>, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .unwrap_or_else(|e| panic!("cannot create {}: {e}", parent.display()));
        }
        std::fs::write(&path, contents)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        path
    }
}

impl Default for Dir {
    fn default() -> Self {
        Dir::new()
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        if std::env::var_os("MAESTRO_KEEP_TEST_DIRS").is_none() {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// A command to run in a test: by default our `maestro` binary.
///
/// Builder methods mirror `std::process::Command`. `run()` waits for the
/// process (killing it after the timeout, 60 s unless changed) and returns
/// its captured output; it never panics on a non-zero exit status.
pub struct TestCommand {
    program: OsString,
    args: Vec<OsString>,
    current_dir: Option<PathBuf>,
    env: Vec<(OsString, Option<OsString>)>,
    stdin: Option<Vec<u8>>,
    timeout: Duration,
}

impl TestCommand {
    /// Our `maestro` binary, as built by Cargo for the integration tests.
    pub fn maestro() -> TestCommand {
        TestCommand::new(env!("CARGO_BIN_EXE_maestro"))
    }

    /// Any other program.
    pub fn new(program: impl AsRef<OsStr>) -> TestCommand {
        TestCommand {
            program: program.as_ref().to_owned(),
            args: Vec::new(),
            current_dir: None,
            env: Vec::new(),
            stdin: None,
            timeout: Duration::from_secs(60),
        }
    }

    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut TestCommand {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    pub fn args<I, S>(&mut self, args: I) -> &mut TestCommand
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        for arg in args {
            self.arg(arg);
        }
        self
    }

    pub fn current_dir(&mut self, dir: impl AsRef<Path>) -> &mut TestCommand {
        self.current_dir = Some(dir.as_ref().to_owned());
        self
    }

    pub fn env(&mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> &mut TestCommand {
        self.env
            .push((key.as_ref().to_owned(), Some(value.as_ref().to_owned())));
        self
    }

    pub fn env_remove(&mut self, key: impl AsRef<OsStr>) -> &mut TestCommand {
        self.env.push((key.as_ref().to_owned(), None));
        self
    }

    /// Text written to the process's standard input (otherwise it gets none).
    pub fn stdin(&mut self, input: &str) -> &mut TestCommand {
        self.stdin = Some(input.as_bytes().to_vec());
        self
    }

    pub fn timeout(&mut self, timeout: Duration) -> &mut TestCommand {
        self.timeout = timeout;
        self
    }

    /// The command line, for messages.
    pub fn describe(&self) -> String {
        let mut text = self.program.to_string_lossy().into_owned();
        for arg in &self.args {
            text.push(' ');
            text.push_str(&arg.to_string_lossy());
        }
        text
    }

    pub fn run(&self) -> Output {
        let mut command = Command::new(&self.program);
        command
            .args(&self.args)
            .stdin(if self.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(dir) = &self.current_dir {
            command.current_dir(dir);
        }
        for (key, value) in &self.env {
            match value {
                Some(value) => command.env(key, value),
                None => command.env_remove(key),
            };
        }
        let description = self.describe();
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run `{description}`: {e}"));

        let stdin_writer = match (self.stdin.clone(), child.stdin.take()) {
            (Some(input), Some(mut pipe)) => Some(std::thread::spawn(move || {
                // The process may exit without reading everything: ignore EPIPE.
                let _ = pipe.write_all(&input);
            })),
            _ => None,
        };
        let stdout_reader = reader(child.stdout.take().expect("stdout is piped"));
        let stderr_reader = reader(child.stderr.take().expect("stderr is piped"));

        let deadline = Instant::now() + self.timeout;
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if Instant::now() >= deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "`{description}` did not finish within {:?}; killed",
                        self.timeout
                    );
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(10)),
                Err(e) => panic!("waiting for `{description}` failed: {e}"),
            }
        };
        if let Some(writer) = stdin_writer {
            let _ = writer.join();
        }
        Output {
            command: description,
            status,
            stdout: stdout_reader.join().expect("stdout reader thread"),
            stderr: stderr_reader.join().expect("stderr reader thread"),
        }
    }
}

fn reader<R: Read + Send + 'static>(mut source: R) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buffer = Vec::new();
        let _ = source.read_to_end(&mut buffer);
        buffer
    })
}

/// What a finished `TestCommand` produced.
pub struct Output {
    pub command: String,
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl Output {
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }

    /// The exit code; `None` when the process was killed by a signal.
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    pub fn success(&self) -> bool {
        self.status.success()
    }

    /// Command line, exit status, stdout and stderr, for assertion messages.
    pub fn report(&self) -> String {
        format!(
            "command: {}\nstatus: {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.command,
            self.status,
            self.stdout(),
            self.stderr()
        )
    }

    /// Panics with the full report unless the exit status is 0.
    pub fn assert_success(&self) -> &Output {
        assert!(self.success(), "command failed\n{}", self.report());
        self
    }
}

/// The MaestroNG 0.8.3 virtualenv made by `scripts/oracle-venv`:
/// `$MAESTRO_ORACLE_VENV`, or `<workspace>/target/oracle-venv`.
pub fn oracle_venv() -> PathBuf {
    match std::env::var_os("MAESTRO_ORACLE_VENV") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => workspace_root().join("target").join("oracle-venv"),
    }
}

/// The oracle virtualenv's Python, when the virtualenv is complete (has
/// MaestroNG's `maestro` script too).
pub fn oracle_python() -> Option<PathBuf> {
    let venv = oracle_venv();
    let python = venv.join("bin").join("python");
    (python.exists() && venv.join("bin").join("maestro").exists()).then_some(python)
}

/// The oracle virtualenv's MaestroNG command line tool.
pub fn oracle_maestro() -> Option<PathBuf> {
    oracle_python().map(|_| oracle_venv().join("bin").join("maestro"))
}
