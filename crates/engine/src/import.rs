//! An image made on the engine itself from an empty file system (`docker
//! import` of an empty archive): something to create a container from that
//! never runs (the deploy lock's), with nothing to pull.

use futures_util::StreamExt;

use crate::{Engine, EngineError};

/// An empty tar archive: two blocks of zeros, padded to the usual 10 KiB.
const EMPTY_TAR: [u8; 10240] = [0; 10240];

impl Engine {
    /// Makes `repo:tag` an image with an empty file system (bounded by the
    /// ship's timeout).
    pub async fn import_empty_image(&self, repo: &str, tag: &str) -> Result<(), EngineError> {
        let action = format!("create the empty image {repo}:{tag}");
        let options = bollard::query_parameters::CreateImageOptions {
            from_src: Some("-".into()),
            repo: Some(repo.to_owned()),
            tag: Some(tag.to_owned()),
            ..Default::default()
        };
        let body = bollard::body_full(hyper::body::Bytes::from_static(&EMPTY_TAR));
        let call = async {
            let mut stream = Box::pin(self.docker.create_image(Some(options), Some(body), None));
            while let Some(item) = stream.next().await {
                let info = item?;
                if let Some(message) = info.error_detail.and_then(|d| d.message) {
                    return Err(bollard::errors::Error::DockerStreamError { error: message });
                }
            }
            Ok(())
        };
        self.bounded(&action, || call, self.timeout).await
    }
}
