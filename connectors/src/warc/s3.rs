//! WARC files on S3 (`path = "s3://bucket/prefix"`, or one object): listed under the prefix
//! and read with one ranged GET from the checkpoint's offset, streamed into the same
//! reader as local files. Credentials, region and endpoint come from the standard AWS
//! environment (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`,
//! `AWS_ENDPOINT_URL`; a plain-http endpoint is allowed, as for datasets), through
//! `object_store`, the crate the dataset's storage already uses.

use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use object_store::path::Path as Key;
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt};
use std::io::Read;
use std::sync::Arc;
use url::Url;

/// A bucket and the key prefix (or object) a source names.
pub(super) struct Bucket {
    pub store: Arc<dyn ObjectStore>,
    pub url: Url,
    pub key: Key,
}

/// One object found: its key, its name relative to the source's prefix, its size.
#[derive(Debug, Clone)]
pub(super) struct Object {
    pub key: Key,
    pub rel: String,
    pub size: u64,
}

pub(super) fn is_s3(path: &std::path::Path) -> bool {
    path.to_str().is_some_and(|p| p.starts_with("s3://"))
}

pub(super) fn bucket(path: &str) -> Result<Bucket, String> {
    let url = Url::parse(path).map_err(|e| format!("{path}: not an s3:// URL: {e}"))?;
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("{path}: no bucket; write s3://bucket/prefix"));
    }
    let mut b = object_store::aws::AmazonS3Builder::from_env().with_url(url.as_str());
    if std::env::var("AWS_ENDPOINT_URL").is_ok_and(|e| e.starts_with("http://")) {
        b = b.with_allow_http(true);
    }
    let store = b
        .build()
        .map_err(|e| format!("{path}: cannot reach the bucket: {e}"))?;
    let key = Key::from_url_path(url.path()).map_err(|e| format!("{path}: {e}"))?;
    Ok(Bucket {
        store: Arc::new(store),
        url,
        key,
    })
}

impl Bucket {
    /// The WARC objects under the prefix, or the one object the URL names.
    pub async fn list(&self, is_warc: impl Fn(&str) -> bool) -> Result<Vec<Object>, String> {
        let mut out = Vec::new();
        let prefix = self.key.as_ref();
        let mut listing = self.store.list(Some(&self.key));
        while let Some(meta) = listing.next().await {
            let meta = meta.map_err(|e| format!("{}: cannot list it: {e}", self.url))?;
            let full = meta.location.as_ref();
            let rel = full
                .strip_prefix(prefix)
                .unwrap_or(full)
                .trim_start_matches('/')
                .to_owned();
            let hidden = rel.split('/').any(|part| part.starts_with('.'));
            if !hidden && is_warc(&rel) {
                out.push(Object {
                    key: meta.location,
                    rel,
                    size: meta.size,
                });
            }
        }
        if out.is_empty() && !prefix.is_empty() {
            // The URL may name one object rather than a prefix.
            if let Ok(meta) = self.store.head(&self.key).await {
                let name = prefix.rsplit('/').next().unwrap_or(prefix).to_owned();
                if is_warc(&name) {
                    out.push(Object {
                        key: meta.location,
                        rel: name,
                        size: meta.size,
                    });
                }
            }
        }
        Ok(out)
    }

    /// The object's URL, for messages and record URIs.
    pub fn object_url(&self, key: &Key) -> String {
        format!("s3://{}/{}", self.url.host_str().unwrap_or_default(), key)
    }

    /// The first `n` bytes of an object (fewer when it is shorter).
    pub async fn head_bytes(&self, o: &Object, n: u64) -> Result<Bytes, String> {
        if o.size == 0 {
            return Ok(Bytes::new());
        }
        self.store
            .get_range(&o.key, 0..n.min(o.size))
            .await
            .map_err(|e| format!("{}: cannot read it: {e}", self.object_url(&o.key)))
    }

    /// A blocking reader of the object from `offset` to its end, for a thread of the
    /// runtime's blocking pool (the reader's).
    pub fn open_at(&self, o: &Object, offset: u64) -> Result<Body, String> {
        let handle = &tokio::runtime::Handle::current();
        if offset >= o.size {
            return Ok(Body {
                handle: handle.clone(),
                stream: None,
                chunk: Bytes::new(),
            });
        }
        let opts = GetOptions {
            range: Some(GetRange::Offset(offset)),
            ..Default::default()
        };
        let got = handle
            .block_on(self.store.get_opts(&o.key, opts))
            .map_err(|e| format!("{}: cannot read it: {e}", self.object_url(&o.key)))?;
        Ok(Body {
            handle: handle.clone(),
            stream: Some(got.into_stream()),
            chunk: Bytes::new(),
        })
    }
}

/// An object's bytes as a blocking `Read`, chunk by chunk as the GET delivers them.
pub(super) struct Body {
    handle: tokio::runtime::Handle,
    stream: Option<BoxStream<'static, object_store::Result<Bytes>>>,
    chunk: Bytes,
}

impl Read for Body {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.chunk.is_empty() {
            let Some(stream) = self.stream.as_mut() else {
                return Ok(0);
            };
            match self.handle.block_on(stream.next()) {
                Some(Ok(c)) => self.chunk = c,
                Some(Err(e)) => return Err(std::io::Error::other(e)),
                None => {
                    self.stream = None;
                    return Ok(0);
                }
            }
        }
        let n = buf.len().min(self.chunk.len());
        buf[..n].copy_from_slice(&self.chunk[..n]);
        self.chunk = self.chunk.slice(n..);
        Ok(n)
    }
}
