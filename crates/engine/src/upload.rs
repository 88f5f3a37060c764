//! One file put into a container (`PUT /containers/{name}/archive`): a plain
//! request on whatever transport the ship uses, no exec and no shell needed
//! in the container. The archive is a one-entry tar made here.

use crate::{Engine, EngineError};

/// The longest file name a plain tar header holds.
const TAR_NAME_MAX: usize = 100;

impl Engine {
    /// Writes `contents` to the absolute `path` inside container `name`
    /// (owned by root, with `mode`), replacing a file there. Its directory
    /// must exist; a missing container or directory is the engine's 404.
    pub async fn put_file(
        &self,
        name: &str,
        path: &str,
        contents: &[u8],
        mode: u32,
    ) -> Result<(), EngineError> {
        let action = format!("write {path} in {name}");
        let container = self.segment(&action, name)?;
        let (dir, file) = match path.rsplit_once('/') {
            Some((dir, file)) if path.starts_with('/') => {
                (if dir.is_empty() { "/" } else { dir }, file)
            }
            _ => return Err(self.bad_path(&action, path)),
        };
        if file.is_empty() || file == "." || file == ".." || file.len() >= TAR_NAME_MAX {
            return Err(self.bad_path(&action, path));
        }
        let archive = tar_of_one(file, contents, mode);
        let options = bollard::query_parameters::UploadToContainerOptions {
            path: dir.to_owned(),
            ..Default::default()
        };
        let body = bollard::body_full(hyper::body::Bytes::from(archive));
        let call = self
            .docker
            .upload_to_container(&container, Some(options), body);
        self.bounded(&action, call, self.timeout).await
    }

    fn bad_path(&self, action: &str, path: &str) -> EngineError {
        EngineError::BadName {
            ship: self.ship.clone(),
            action: action.to_owned(),
            name: path.to_owned(),
        }
    }
}

/// A tar archive of one regular file `name` (shorter than 100 bytes), as
/// POSIX ustar writes it: a 512-byte header, the data padded to 512 bytes,
/// two zero blocks.
fn tar_of_one(name: &str, contents: &[u8], mode: u32) -> Vec<u8> {
    let mut header = [0u8; 512];
    let mut field = |at: usize, bytes: &[u8]| header[at..at + bytes.len()].copy_from_slice(bytes);
    field(0, name.as_bytes());
    field(100, format!("{:07o}\0", mode & 0o7777).as_bytes());
    field(108, b"0000000\0"); // uid
    field(116, b"0000000\0"); // gid
    field(124, format!("{:011o}\0", contents.len()).as_bytes());
    field(136, b"00000000000\0"); // mtime
    field(148, b"        "); // the checksum, as spaces while it is summed
    field(156, b"0"); // a regular file
    field(257, b"ustar\0");
    field(263, b"00");
    let sum: u32 = header.iter().map(|&b| u32::from(b)).sum();
    header[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    let padded = contents.len().div_ceil(512) * 512;
    let mut out = Vec::with_capacity(512 + padded + 1024);
    out.extend_from_slice(&header);
    out.extend_from_slice(contents);
    out.resize(512 + padded + 1024, 0);
    out
}

#[cfg(test)]
mod tests {
    use super::tar_of_one;

    #[test]
    fn a_tar_of_one_file_is_read_back_by_tar() {
        let dir = std::env::temp_dir().join(format!("maestro-tar-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a scratch directory");
        let archive = dir.join("one.tar");
        let text = "{\"apps\": {}}\n".repeat(100);
        std::fs::write(&archive, tar_of_one("maestro.json", text.as_bytes(), 0o640))
            .expect("the archive is written");
        let status = std::process::Command::new("tar")
            .arg("-xf")
            .arg(&archive)
            .arg("-C")
            .arg(&dir)
            .status()
            .expect("tar runs");
        assert!(status.success());
        let back = std::fs::read_to_string(dir.join("maestro.json")).expect("the file came out");
        assert_eq!(back, text);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_archive_is_whole_blocks() {
        for len in [0, 1, 511, 512, 513] {
            let archive = tar_of_one("f", &vec![b'x'; len], 0o644);
            assert_eq!(archive.len() % 512, 0);
            assert_eq!(archive.len(), 512 + len.div_ceil(512) * 512 + 1024);
        }
    }
}
