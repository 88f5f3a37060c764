//! Errors of loading an environment: each names the file, the line and column
//! of the offending value, what was found and what was expected.

use std::fmt;

/// A place in a source file; both numbers start at 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Mark {
    pub line: usize,
    pub column: usize,
}

/// One problem with the environment description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file as the user named it (`maestro.yaml`, `<stdin>`).
    pub file: String,
    /// Where in the file, when known.
    pub mark: Option<Mark>,
    /// What was found and what was expected, as one sentence.
    pub message: String,
}

impl ConfigError {
    pub fn at(file: &str, mark: Mark, message: impl Into<String>) -> Self {
        ConfigError {
            file: file.to_string(),
            mark: Some(mark),
            message: message.into(),
        }
    }

    pub fn in_file(file: &str, message: impl Into<String>) -> Self {
        ConfigError {
            file: file.to_string(),
            mark: None,
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.mark {
            Some(m) => write!(f, "{}:{}:{}: {}", self.file, m.line, m.column, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

impl std::error::Error for ConfigError {}

/// Every problem found while loading, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError {
    pub errors: Vec<ConfigError>,
}

impl From<ConfigError> for LoadError {
    fn from(e: ConfigError) -> Self {
        LoadError { errors: vec![e] }
    }
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for LoadError {}
