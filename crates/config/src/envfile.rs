//! Docker env files: `KEY=VALUE` lines, `#` comments and blank lines skipped,
//! the value being everything after the first `=`.

use std::path::Path;

/// Most bytes an env file may have.
const MAX_ENVFILE_BYTES: u64 = 16 * 1024 * 1024;

/// Why an env file cannot be used, in a few words.
#[derive(Debug, thiserror::Error)]
pub enum EnvFileError {
    #[error("no such file")]
    NotFound,
    #[error("permission denied")]
    PermissionDenied,
    #[error("{0}")]
    Io(std::io::Error),
    #[error("it is a directory")]
    Directory,
    #[error("it is larger than {} MiB", MAX_ENVFILE_BYTES / 1024 / 1024)]
    TooLarge,
    #[error("it is not UTF-8 text")]
    NotUtf8,
    #[error(transparent)]
    BadLine(#[from] BadLine),
}

impl EnvFileError {
    fn io(e: std::io::Error) -> EnvFileError {
        match e.kind() {
            std::io::ErrorKind::NotFound => EnvFileError::NotFound,
            std::io::ErrorKind::PermissionDenied => EnvFileError::PermissionDenied,
            _ => EnvFileError::Io(e),
        }
    }
}

/// A line of an env file that is not `KEY=VALUE`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line} is not KEY=VALUE: `{text}`")]
pub struct BadLine {
    /// From 1.
    pub line: usize,
    /// The line as written, cut at 60 characters.
    pub text: String,
}

/// Reads one env file.
pub fn read(path: &Path) -> Result<Vec<(String, String)>, EnvFileError> {
    let meta = std::fs::metadata(path).map_err(EnvFileError::io)?;
    if meta.is_dir() {
        return Err(EnvFileError::Directory);
    }
    if meta.len() > MAX_ENVFILE_BYTES {
        return Err(EnvFileError::TooLarge);
    }
    let bytes = match crate::read_capped(path, MAX_ENVFILE_BYTES) {
        Ok(bytes) => bytes,
        Err(crate::Capped::Io(e)) => return Err(EnvFileError::io(e)),
        Err(crate::Capped::TooLarge) => return Err(EnvFileError::TooLarge),
    };
    let text = String::from_utf8(bytes).map_err(|_| EnvFileError::NotUtf8)?;
    Ok(parse(&text)?)
}

/// Parses env file text.
pub fn parse(text: &str) -> Result<Vec<(String, String)>, BadLine> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim_start();
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        match line.split_once('=') {
            Some((key, value)) if !key.trim().is_empty() => {
                out.push((key.trim_end().to_string(), value.trim_end().to_string()))
            }
            _ => {
                return Err(BadLine {
                    line: i + 1,
                    text: raw.chars().take(60).collect(),
                })
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The assertions below compare an error with its message.
    impl PartialEq<&str> for BadLine {
        fn eq(&self, other: &&str) -> bool {
            let text = self.to_string();
            text == *other
        }
    }

    #[test]
    fn docker_env_file() {
        let vars = parse("# comment\nA=1\n\nB=x=y\n  C=  spaced\n").unwrap();
        assert_eq!(
            vars,
            vec![
                ("A".into(), "1".into()),
                ("B".into(), "x=y".into()),
                ("C".into(), "  spaced".into())
            ]
        );
        assert_eq!(
            parse("A=1\nnovalue\n").unwrap_err(),
            "line 2 is not KEY=VALUE: `novalue`"
        );
    }
}
