//! Docker env files: `KEY=VALUE` lines, `#` comments and blank lines skipped,
//! the value being everything after the first `=`.

use std::path::Path;

/// Most bytes an env file may have.
const MAX_ENVFILE_BYTES: u64 = 16 * 1024 * 1024;

/// Reads one env file; the error says why in a few words.
pub fn read(path: &Path) -> Result<Vec<(String, String)>, String> {
    let meta = std::fs::metadata(path).map_err(|e| io_reason(&e))?;
    if meta.is_dir() {
        return Err("it is a directory".into());
    }
    if meta.len() > MAX_ENVFILE_BYTES {
        return Err(format!(
            "it is larger than {} MiB",
            MAX_ENVFILE_BYTES / 1024 / 1024
        ));
    }
    let bytes = match crate::read_capped(path, MAX_ENVFILE_BYTES) {
        Ok(bytes) => bytes,
        Err(crate::Capped::Io(e)) => return Err(io_reason(&e)),
        Err(crate::Capped::TooLarge) => {
            return Err(format!(
                "it is larger than {} MiB",
                MAX_ENVFILE_BYTES / 1024 / 1024
            ))
        }
    };
    let text = String::from_utf8(bytes).map_err(|_| "it is not UTF-8 text".to_string())?;
    parse(&text)
}

/// Parses env file text.
pub fn parse(text: &str) -> Result<Vec<(String, String)>, String> {
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
                return Err(format!(
                    "line {} is not KEY=VALUE: `{}`",
                    i + 1,
                    raw.chars().take(60).collect::<String>()
                ))
            }
        }
    }
    Ok(out)
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
