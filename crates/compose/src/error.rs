//! Errors and warnings of reading a Compose project: each names the file, the
//! line and column, the key path (`services/web/ports[1]`) and what was wrong,
//! as one sentence. A leaf of the crate.

use std::fmt;

/// A place in a source file; both numbers start at 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Mark {
    pub line: usize,
    pub column: usize,
}

/// Where a value came from: the file as the caller named it (or as an
/// `include`, `extends` or `env_file` named it), its place, its key path.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Loc {
    pub file: String,
    pub mark: Option<Mark>,
    /// Keys and indexes from the top of the file: `services/web/ports[1]`.
    pub path: String,
}

impl Loc {
    pub fn new(file: &str, mark: Mark, path: &str) -> Self {
        Loc {
            file: file.to_string(),
            mark: Some(mark),
            path: path.to_string(),
        }
    }
}

impl fmt::Display for Loc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(m) = self.mark {
            write!(f, ":{}:{}", m.line, m.column)?;
        }
        if !self.path.is_empty() {
            write!(f, ": {}", self.path)?;
        }
        Ok(())
    }
}

/// One problem that stops the project from loading.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{loc}: {message}")]
pub struct ComposeError {
    pub loc: Loc,
    /// What was found and what was expected, as one sentence.
    pub message: String,
}

impl ComposeError {
    pub fn at(loc: Loc, message: impl Into<String>) -> Self {
        ComposeError {
            loc,
            message: message.into(),
        }
    }

    /// An error about a whole file (unreadable, missing).
    pub fn in_file(file: &str, message: impl Into<String>) -> Self {
        ComposeError {
            loc: Loc {
                file: file.to_string(),
                ..Loc::default()
            },
            message: message.into(),
        }
    }
}

/// Something read but not used, or deprecated: the project still loads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub loc: Loc,
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.loc, self.message)
    }
}
