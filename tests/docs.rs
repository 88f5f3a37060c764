//! The documentation against the code: every key the loader accepts is in
//! the reference (docs/reference.md), and the README's first environment
//! file runs as written on the local engine, with the commands the README
//! gives after it, each doing what its comment says.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::time::Duration;

use crate::engine_support::{assert_code, local, running};
use crate::testbed::{inspect, Cleanup};
use crate::util::{workspace_root, Dir, Output, TestCommand};

fn read(relative: &str) -> String {
    let path = workspace_root().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// The body of the first fenced block of `lang` in `text`, after `from`.
fn fenced<'t>(text: &'t str, lang: &str, from: usize) -> Option<(&'t str, usize)> {
    let open = format!("```{lang}\n");
    let start = text[from..].find(&open)? + from + open.len();
    let end = text[start..].find("```")? + start;
    Some((&text[start..end], end))
}

#[test]
fn every_key_the_loader_accepts_is_in_the_reference() {
    let reference = read("docs/reference.md");
    let mut missing: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (section, keys) in maestro_config::keys::SECTIONS {
        for key in *keys {
            if !reference.contains(&format!("`{key}`")) {
                missing.entry(section).or_default().push(key);
            }
        }
    }
    assert!(
        missing.is_empty(),
        "keys the loader accepts that docs/reference.md does not name (as `key`): {missing:?}"
    );
}

#[test]
fn the_docs_index_links_every_doc() {
    let index = read("docs/README.md");
    let dir = workspace_root().join("docs");
    for entry in std::fs::read_dir(&dir)
        .expect("docs/ is readable")
        .flatten()
    {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".md") && name != "README.md" {
            assert!(
                index.contains(&format!("({name})")),
                "docs/README.md does not link {name}"
            );
        }
    }
}

/// The containers of the README's first example.
const FIRST: &[&str] = &["first-db-1", "first-web-1"];

/// One command line of the README's shell block: its environment
/// assignments, its words, and what its comment says.
struct Line {
    env: Vec<(String, String)>,
    words: Vec<String>,
    comment: String,
}

fn lines_of(block: &str) -> Vec<Line> {
    block
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (command, comment) = l.split_once('#').unwrap_or((l, ""));
            let mut env = Vec::new();
            let mut words = Vec::new();
            for word in command.split_whitespace() {
                match word.split_once('=') {
                    Some((k, v))
                        if words.is_empty()
                            && k.chars().all(|c| c.is_ascii_uppercase() || c == '_') =>
                    {
                        env.push((k.to_owned(), v.to_owned()))
                    }
                    _ => words.push(word.to_owned()),
                }
            }
            Line {
                env,
                words,
                comment: comment.trim().to_owned(),
            }
        })
        .collect()
}

fn run(dir: &Dir, line: &Line) -> Output {
    let mut command = TestCommand::maestro();
    command
        .current_dir(dir.path())
        .args(&line.words[1..])
        .env("NO_COLOR", "1")
        .env_remove("DOCKER_HOST")
        .env_remove("DOCKER_CONTEXT")
        .env_remove("GREETING")
        .timeout(Duration::from_secs(120));
    for (k, v) in &line.env {
        command.env(k, v);
    }
    command.run()
}

/// What `http://127.0.0.1:PORT/` serves.
fn get(url: &str) -> String {
    let rest = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let mut stream = std::net::TcpStream::connect(&rest)
        .unwrap_or_else(|e| panic!("cannot connect to {rest}: {e}"));
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("a read timeout");
    write!(stream, "GET / HTTP/1.0\r\nHost: {rest}\r\n\r\n").expect("the request is sent");
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer
}

#[test]
fn the_readme_first_example_runs_as_written() {
    let _cleanup = Cleanup::new(FIRST);
    let readme = read("README.md");
    let (yaml, after) = fenced(&readme, "yaml", 0).expect("the README has a yaml example");
    let (shell, _) = fenced(&readme, "sh", after).expect("commands follow the example");
    let dir = Dir::new();
    dir.write("maestro.yaml", yaml);
    let lines = lines_of(shell);
    assert!(lines.len() >= 5, "{shell}");
    for line in &lines {
        match line.words.first().map(String::as_str) {
            Some("maestro") => {
                let out = run(&dir, line);
                let expected = if line.comment.contains("exit status 3") {
                    3
                } else {
                    0
                };
                assert_code(&out, expected);
                // Each comment's words in backticks or names the output shows.
                for name in FIRST {
                    if line.comment.contains(name) && line.words[1] != "plan" {
                        assert!(
                            out.stdout().contains(name),
                            "{:?}: {}",
                            line.words,
                            out.report()
                        );
                    }
                }
                if line.words[1] == "start" {
                    for name in FIRST {
                        assert!(running(&local(), name), "{}", out.report());
                    }
                }
                if line.words[1] == "plan" {
                    assert!(
                        out.stdout().contains("recreate (env GREETING changed)"),
                        "{}",
                        out.report()
                    );
                }
            }
            Some("curl") => {
                let url = line
                    .words
                    .iter()
                    .find(|w| w.starts_with("http://"))
                    .expect("curl names a URL");
                let page = get(url);
                for said in line.comment.split(", ").filter(|s| s.contains('=')) {
                    assert!(page.contains(said), "`{said}` not served:\n{page}");
                }
            }
            other => panic!("unexpected command in the README: {other:?}"),
        }
    }
    // The last commands stopped and cleaned up everything, the kept one too.
    for name in FIRST {
        assert!(inspect(&local(), name).is_none(), "{name} is left");
        let kept = format!("{name}.previous");
        assert!(inspect(&local(), &kept).is_none(), "{kept} is left");
    }
}

/// The README is a front page: what comes before its links to the rest
/// (`## Read on`) is under 150 lines.
#[test]
fn the_readme_front_page_is_under_150_lines() {
    let readme = read("README.md");
    let before = readme
        .split("\n## Read on")
        .next()
        .expect("some text")
        .lines()
        .count();
    assert!(
        readme.contains("\n## Read on"),
        "the README has no `## Read on` section"
    );
    assert!(before < 150, "{before} lines before `## Read on`");
}
