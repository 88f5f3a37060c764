//! What a simulated container's main process does, read from its command
//! (entrypoint + cmd), so that an environment file written for a real engine
//! behaves alike on the simulator: when it exits on its own and with what
//! status, what it prints, and what SIGTERM does to it.
//!
//! Understood, as `sh -c SCRIPT` (or `bash -c`), statement by statement
//! (`;`, `&&`, newlines; quotes respected):
//!
//! * `echo WORDS` (optionally `>&2`): a log line on stdout (stderr);
//! * `sleep N` in the foreground: N seconds pass; `sleep N &` starts a job
//!   that `wait` waits for;
//! * `exit [N]`: the process ends with N (default: the last status);
//! * `true`, `false`, `:`: set the last status;
//! * `trap 'exit N' TERM` (also `SIGTERM`, `15`): SIGTERM ends the process
//!   with N; without such a trap the shell is PID 1 and ignores SIGTERM, so a
//!   stop waits for its grace period and kills (exit status 137);
//! * `exec CMD…`: the rest of the process is CMD.
//!
//! Any other statement is a program that runs until it is stopped. Outside a
//! shell: `sh`/`bash` without `-c` (no input: exits 0 at once), `true`,
//! `false`, `echo`, `sleep N` (ignores SIGTERM, as PID 1 does); anything else
//! is a well-behaved server: runs until stopped and exits 0 on SIGTERM.

use std::time::Duration;

/// What a container's main process does once started.
#[derive(Debug, Clone, PartialEq)]
pub struct Behaviour {
    /// Lines it writes, each with when (after the start) and on which stream.
    pub output: Vec<OutputLine>,
    /// When (after the start) it ends on its own, and with what status.
    pub exits: Option<(Duration, i64)>,
    /// What SIGTERM does to it.
    pub on_term: OnTerm,
}

/// One line of a process's output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputLine {
    pub after: Duration,
    pub stderr: bool,
    pub text: String,
}

/// What SIGTERM does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnTerm {
    /// The process ends at once with this status.
    Exit(i64),
    /// Nothing (PID 1 without a handler): a stop kills it after its grace period.
    Ignore,
}

impl Behaviour {
    /// A process that runs until stopped and exits 0 on SIGTERM.
    pub fn server() -> Behaviour {
        Behaviour {
            output: Vec::new(),
            exits: None,
            on_term: OnTerm::Exit(0),
        }
    }
}

/// The behaviour of `argv` (the container's entrypoint followed by its cmd).
pub fn behaviour(argv: &[String]) -> Behaviour {
    let mut run = Run::default();
    run.command(argv);
    run.finish()
}

/// The status an exec of `argv` ends with, and how long it runs.
pub fn exec_outcome(argv: &[String]) -> (Duration, i64) {
    let b = behaviour(argv);
    b.exits.unwrap_or((Duration::ZERO, 0))
}

/// The interpreter's state while reading a command.
#[derive(Default)]
struct Run {
    clock: Duration,
    /// When the latest background job ends.
    background: Duration,
    last_status: i64,
    output: Vec<OutputLine>,
    /// `Some(None)`: runs forever from here; `Some(Some(code))`: exited.
    ended: Option<Option<i64>>,
    trap_term: Option<OnTerm>,
    /// Whether a shell is PID 1 (for what an untrapped SIGTERM does).
    in_shell: bool,
    /// What SIGTERM does to a non-shell program.
    program_term: Option<OnTerm>,
}

impl Run {
    fn finish(self) -> Behaviour {
        let on_term = match (self.trap_term, self.program_term) {
            (Some(trap), _) => trap,
            (None, Some(program)) if !self.in_shell => program,
            (None, _) if self.in_shell => OnTerm::Ignore,
            (None, program) => program.unwrap_or(OnTerm::Exit(0)),
        };
        let exits = match self.ended {
            Some(Some(code)) => Some((self.clock, code)),
            Some(None) => None,
            None => Some((self.clock, self.last_status)),
        };
        Behaviour {
            output: self.output,
            exits,
            on_term,
        }
    }

    /// Runs a program (outside a script, or `exec` inside one).
    fn command(&mut self, argv: &[String]) {
        let Some(program) = argv.first() else {
            self.ended = Some(Some(0));
            return;
        };
        let base = program.rsplit('/').next().unwrap_or(program);
        let args = &argv[1..];
        match base {
            "sh" | "bash" | "ash" | "dash" => {
                self.in_shell = true;
                match args.iter().position(|a| a == "-c") {
                    Some(at) => match args.get(at + 1) {
                        Some(script) => self.script(script),
                        None => self.ended = Some(Some(2)),
                    },
                    // No script and no input: reads EOF and ends.
                    None => self.ended = Some(Some(0)),
                }
            }
            _ => {
                self.in_shell = false;
                self.simple(base, args, false);
                if self.ended.is_none() {
                    self.ended = Some(Some(self.last_status));
                }
            }
        }
    }

    /// One simple command; `background` for `cmd &`.
    fn simple(&mut self, program: &str, args: &[String], background: bool) {
        match program {
            "true" | ":" => self.last_status = 0,
            "false" => self.last_status = 1,
            "echo" => {
                let (words, stderr) = redirect(args);
                self.output.push(OutputLine {
                    after: self.clock,
                    stderr,
                    text: words.join(" "),
                });
                self.last_status = 0;
            }
            "sleep" => {
                let seconds = args
                    .first()
                    .and_then(|a| parse_seconds(a))
                    .unwrap_or(Duration::ZERO);
                if background {
                    self.background = self.background.max(self.clock + seconds);
                } else {
                    self.clock += seconds;
                    self.last_status = 0;
                    // A lone `sleep` as PID 1 ignores SIGTERM.
                    self.program_term.get_or_insert(OnTerm::Ignore);
                }
            }
            "wait" => {
                self.clock = self.clock.max(self.background);
                self.last_status = 0;
            }
            "exit" => {
                let code = args
                    .first()
                    .and_then(|a| a.parse::<i64>().ok())
                    .unwrap_or(self.last_status);
                self.ended = Some(Some(code & 0xff));
            }
            "trap" => {
                if let Some((action, signals)) = args.split_first() {
                    if signals.iter().any(|s| is_term(s)) {
                        self.trap_term = Some(trap_action(action));
                    }
                }
            }
            "exec" => {
                if !args.is_empty() {
                    self.in_shell = false;
                    self.trap_term = None;
                    self.command(args);
                }
            }
            _ if background => {}
            // A program we cannot read: it serves until stopped.
            _ => {
                self.ended = Some(None);
                self.program_term.get_or_insert(OnTerm::Exit(0));
            }
        }
    }

    fn script(&mut self, script: &str) {
        for statement in statements(script) {
            if self.ended.is_some() {
                return;
            }
            let (words, background) = statement;
            if let Some((program, args)) = words.split_first() {
                self.simple(program, args, background);
            }
        }
    }
}

/// `echo a b >&2` → (`[a, b]`, stderr).
fn redirect(args: &[String]) -> (Vec<String>, bool) {
    let mut stderr = false;
    let mut words = Vec::new();
    for arg in args {
        match arg.as_str() {
            ">&2" | "1>&2" => stderr = true,
            ">&1" | "2>&1" => {}
            _ => words.push(arg.clone()),
        }
    }
    (words, stderr)
}

fn is_term(signal: &str) -> bool {
    matches!(signal, "TERM" | "SIGTERM" | "15")
}

/// What `trap ACTION TERM` does on SIGTERM: `exit N` ends with N; an action
/// without `exit` leaves the process running (as if ignored).
fn trap_action(action: &str) -> OnTerm {
    for (words, _) in statements(action) {
        if words.first().map(String::as_str) == Some("exit") {
            let code = words
                .get(1)
                .and_then(|c| c.parse::<i64>().ok())
                .unwrap_or(143);
            return OnTerm::Exit(code & 0xff);
        }
    }
    OnTerm::Ignore
}

fn parse_seconds(text: &str) -> Option<Duration> {
    if text == "infinity" {
        return Some(Duration::from_secs(u64::from(u32::MAX)));
    }
    let (number, unit) = match text.char_indices().find(|(_, c)| c.is_ascii_alphabetic()) {
        Some((at, _)) => text.split_at(at),
        None => (text, ""),
    };
    let value: f64 = number.parse().ok()?;
    let scale = match unit {
        "" | "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        "d" => 86_400.0,
        _ => return None,
    };
    let seconds = value * scale;
    (seconds.is_finite() && seconds >= 0.0)
        .then(|| Duration::from_secs_f64(seconds.min(f64::from(u32::MAX))))
}

/// The statements of a shell script as words, each with whether it ends in
/// `&`. Splits on `;`, `&&`, `||`, `&` and newlines outside quotes; single
/// and double quotes group words (no expansions).
fn statements(script: &str) -> Vec<(Vec<String>, bool)> {
    let mut out = Vec::new();
    let mut words: Vec<String> = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = script.chars().peekable();
    let end_word = |word: &mut String, in_word: &mut bool, words: &mut Vec<String>| {
        if *in_word {
            words.push(std::mem::take(word));
            *in_word = false;
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                for q in chars.by_ref() {
                    if q == '\'' {
                        break;
                    }
                    word.push(q);
                }
            }
            '"' => {
                in_word = true;
                while let Some(q) = chars.next() {
                    match q {
                        '"' => break,
                        '\\' => {
                            if let Some(next) = chars.next() {
                                word.push(next);
                            }
                        }
                        _ => word.push(q),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(next) = chars.next() {
                    word.push(next);
                }
            }
            ';' | '\n' => {
                end_word(&mut word, &mut in_word, &mut words);
                out.push((std::mem::take(&mut words), false));
            }
            '&' if chars.peek() == Some(&'&') => {
                chars.next();
                end_word(&mut word, &mut in_word, &mut words);
                out.push((std::mem::take(&mut words), false));
            }
            '&' if in_word && word.ends_with('>') => word.push('&'),
            '&' if !in_word && chars.peek().is_some_and(|n| n.is_ascii_digit()) => {
                // `>&2` written apart from its `>`.
                word.push('&');
                in_word = true;
            }
            '&' => {
                end_word(&mut word, &mut in_word, &mut words);
                out.push((std::mem::take(&mut words), true));
            }
            '|' if chars.peek() == Some(&'|') => {
                chars.next();
                end_word(&mut word, &mut in_word, &mut words);
                out.push((std::mem::take(&mut words), false));
            }
            c if c.is_whitespace() => end_word(&mut word, &mut in_word, &mut words),
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    end_word(&mut word, &mut in_word, &mut words);
    out.push((words, false));
    out.retain(|(words, _)| !words.is_empty());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn sh(script: &str) -> Behaviour {
        behaviour(&argv(&["sh", "-c", script]))
    }

    #[test]
    fn an_idle_shell_with_a_trap_runs_until_terminated() {
        let b = sh("trap 'exit 0' TERM; sleep 3600 & wait");
        assert_eq!(b.on_term, OnTerm::Exit(0));
        assert_eq!(b.exits, Some((Duration::from_secs(3600), 0)));
        assert!(b.output.is_empty());
        let b = sh("trap \"exit 3\" SIGTERM INT; while true; do sleep 1; done");
        assert_eq!(b.on_term, OnTerm::Exit(3));
    }

    #[test]
    fn a_failing_script_exits_with_its_status_after_its_output() {
        let b = sh("echo starting; echo 'no database' >&2; exit 3");
        assert_eq!(b.exits, Some((Duration::ZERO, 3)));
        assert_eq!(
            b.output,
            vec![
                OutputLine {
                    after: Duration::ZERO,
                    stderr: false,
                    text: "starting".into()
                },
                OutputLine {
                    after: Duration::ZERO,
                    stderr: true,
                    text: "no database".into()
                },
            ]
        );
        let b = sh("sleep 0.5; echo late && false");
        assert_eq!(b.exits, Some((Duration::from_millis(500), 1)));
        assert_eq!(b.output[0].after, Duration::from_millis(500));
    }

    #[test]
    fn a_shell_without_trap_ignores_sigterm() {
        let b = sh("sleep 3600");
        assert_eq!(b.on_term, OnTerm::Ignore);
        assert_eq!(b.exits, Some((Duration::from_secs(3600), 0)));
        let b = sh("my-daemon --foreground");
        assert_eq!(b.on_term, OnTerm::Ignore);
        assert_eq!(b.exits, None);
        let b = sh("exec my-daemon");
        assert_eq!(b.on_term, OnTerm::Exit(0));
        assert_eq!(b.exits, None);
    }

    #[test]
    fn programs_outside_a_shell() {
        assert_eq!(
            behaviour(&argv(&["/bin/sh"])).exits,
            Some((Duration::ZERO, 0))
        );
        assert_eq!(
            behaviour(&argv(&["false"])).exits,
            Some((Duration::ZERO, 1))
        );
        let b = behaviour(&argv(&["sleep", "2m"]));
        assert_eq!(b.exits, Some((Duration::from_secs(120), 0)));
        assert_eq!(b.on_term, OnTerm::Ignore);
        let b = behaviour(&argv(&["nginx", "-g", "daemon off;"]));
        assert_eq!(b, Behaviour::server());
        assert_eq!(behaviour(&[]).exits, Some((Duration::ZERO, 0)));
        let b = behaviour(&argv(&["echo", "hi", "there"]));
        assert_eq!(b.output[0].text, "hi there");
        assert_eq!(b.exits, Some((Duration::ZERO, 0)));
    }

    #[test]
    fn execs_end_with_their_status() {
        assert_eq!(exec_outcome(&argv(&["true"])), (Duration::ZERO, 0));
        assert_eq!(exec_outcome(&argv(&["false"])), (Duration::ZERO, 1));
        assert_eq!(
            exec_outcome(&argv(&["sh", "-c", "exit 7"])),
            (Duration::ZERO, 7)
        );
        assert_eq!(exec_outcome(&argv(&["my-check"])), (Duration::ZERO, 0));
    }

    #[test]
    fn statements_split_like_a_shell() {
        let words = |s: &str| -> Vec<(Vec<String>, bool)> { statements(s) };
        assert_eq!(
            words("trap 'exit 0' TERM; sleep 3600 & wait"),
            vec![
                (argv(&["trap", "exit 0", "TERM"]), false),
                (argv(&["sleep", "3600"]), true),
                (argv(&["wait"]), false),
            ]
        );
        assert_eq!(
            words("echo \"a;b\" >&2 && exit 1\n"),
            vec![
                (argv(&["echo", "a;b", ">&2"]), false),
                (argv(&["exit", "1"]), false),
            ]
        );
        assert_eq!(
            words("echo x 1>&2"),
            vec![(argv(&["echo", "x", "1>&2"]), false)]
        );
        assert!(words("  ;; ").is_empty());
    }
}
