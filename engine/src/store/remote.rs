//! A source over object storage (S3, GCS, Azure, HTTP, local files), through the
//! `object_store` crate: the `object-store` cargo feature.
//!
//! Every request is a network round trip, so the source reads as few times as the
//! format allows: the open is one suffix request (no HEAD) that brings the footer, the
//! root and the tail copies of the top index nodes; each later read is one ranged GET,
//! pinned to the object's ETag (and version, where the store has versions) seen at open,
//! so that an object replaced while open gives [`Error::Changed`](crate::Error::Changed)
//! rather than bytes of another file. Bulk reads send their ranges concurrently, a
//! bounded number in flight.
//!
//! `object_store` is asynchronous; this source keeps the synchronous API by running its
//! requests on a small runtime of its own (two threads, shared by every remote source of
//! the process) and waiting on a channel. It works the same when called from inside
//! another tokio runtime.

use bytes::Bytes;
use object_store::path::Path as ObjectPath;
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt, ObjectStoreScheme, RetryConfig};
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

/// Bytes at the end of an object that the open reads, in its one request: the footer,
/// the root chunk and the tail copies (at most 192 KiB) of a usual file.
pub const REMOTE_TAIL_LEN: u64 = 256 << 10;

/// The most requests one bulk read keeps in flight.
const IN_FLIGHT: usize = 32;

/// Retries of a failed request (transient failures: timeouts, 5xx, connection resets),
/// with exponential backoff, for stores built from a URL.
const RETRIES: usize = 3;

/// A source whose bytes are an object in an object store (S3, GCS, Azure, HTTP, local
/// files), through the `object_store` crate.
///
/// Every request is a network round trip, so the source reads as few times as the
/// format allows: the open is one suffix request (no HEAD) of [`REMOTE_TAIL_LEN`]
/// bytes that brings the footer, the root and the tail copies of the top index nodes;
/// each later read is one ranged GET, pinned to the object's ETag (and version, where
/// the store keeps versions) seen at open, so that an object replaced while open gives
/// [`Error::Changed`](crate::Error::Changed) rather than bytes of another file. Bulk
/// reads send their ranges concurrently, at most 32 in flight.
///
/// `object_store` is asynchronous; this source keeps the synchronous API by running
/// its requests on a small runtime of its own (two threads, shared by every remote
/// source of the process) and waiting on a channel, so it works the same when called
/// from inside another tokio runtime.
pub struct ObjectSource {
    store: Arc<dyn ObjectStore>,
    path: ObjectPath,
    /// What the object was at open: its length, ETag and version.
    size: u64,
    e_tag: Option<String>,
    version: Option<String>,
    /// The object's last bytes, read at open.
    tail_start: u64,
    tail: Bytes,
    /// Why reads fail, once a request found the object changed.
    replaced: Mutex<Option<String>>,
    requests: AtomicU64,
    bytes_read: AtomicU64,
}

impl std::fmt::Debug for ObjectSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectSource")
            .field("store", &self.store.to_string())
            .field("path", &self.path.as_ref())
            .field("size", &self.size)
            .field("e_tag", &self.e_tag)
            .finish_non_exhaustive()
    }
}

impl ObjectSource {
    /// Opens the object `path` of `store`: one request for its last bytes (a little
    /// more than [`REMOTE_TAIL_LEN`]), which also gives its length and ETag.
    ///
    /// # Errors
    /// The request's failure ([`io::ErrorKind::NotFound`] for a missing object), or a
    /// response that does not hold the object's tail.
    pub fn open(store: Arc<dyn ObjectStore>, path: &str) -> io::Result<Self> {
        let path = ObjectPath::parse(path).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        // 16 bytes more than the store asks for: it starts its tail read at a multiple
        // of 16, which may lie up to 15 bytes before `size - REMOTE_TAIL_LEN`.
        let suffix = REMOTE_TAIL_LEN + crate::format::CHUNK_ALIGN;
        let options = GetOptions { range: Some(GetRange::Suffix(suffix)), ..GetOptions::default() };
        let (s, p) = (Arc::clone(&store), path.clone());
        let (meta, range, tail) = block_on(async move {
            let got = s.get_opts(&p, options).await?;
            let (meta, range) = (got.meta.clone(), got.range.clone());
            Ok::<_, object_store::Error>((meta, range, got.bytes().await?))
        })?
        .map_err(|e| to_io(&e))?;
        if range.end != meta.size || range.end.checked_sub(range.start) != Some(tail.len() as u64) {
            return Err(wrong_range(&format!("the last {suffix} bytes"), &range, tail.len(), meta.size));
        }
        let received = tail.len() as u64;
        Ok(Self {
            store,
            path,
            size: meta.size,
            e_tag: meta.e_tag,
            version: meta.version,
            tail_start: range.start,
            tail,
            replaced: Mutex::new(None),
            requests: AtomicU64::new(1),
            bytes_read: AtomicU64::new(received),
        })
    }

    /// Opens the object a URL names: `s3://bucket/key`, `gs://bucket/key`,
    /// `az://container/key` (and the other forms `object_store` parses),
    /// `http(s)://host/path`, `file:///path`. The store is configured from the
    /// environment as each cloud's tools do (`AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`,
    /// `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, `AWS_ALLOW_HTTP`, ...; `GOOGLE_*`;
    /// `AZURE_*`), with a few retries with backoff for transient failures.
    ///
    /// # Errors
    /// A URL that names no supported store, a store that cannot be built from the
    /// environment, and the errors of [`open`](Self::open).
    pub fn open_url(url: &str) -> io::Result<Self> {
        let (store, path) = store_for(url)?;
        Self::open(store, path.as_ref())
    }

    /// Requests sent so far (the open's included).
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Bytes received so far.
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read.load(Ordering::Relaxed)
    }

    /// Options of a ranged GET pinned to the object seen at open.
    fn pinned(&self, range: std::ops::Range<u64>) -> GetOptions {
        GetOptions {
            range: Some(GetRange::Bounded(range)),
            if_match: self.e_tag.clone(),
            version: self.version.clone(),
            ..GetOptions::default()
        }
    }

    /// The bytes of `ranges`, each fetched with one pinned request, at most
    /// [`IN_FLIGHT`] at a time.
    fn fetch(&self, ranges: Vec<std::ops::Range<u64>>) -> io::Result<Vec<Bytes>> {
        let n = ranges.len() as u64;
        let requests: Vec<(std::ops::Range<u64>, GetOptions)> =
            ranges.into_iter().map(|r| (r.clone(), self.pinned(r))).collect();
        let (store, path) = (Arc::clone(&self.store), self.path.clone());
        let fetched = block_on(async move {
            let limit = Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT));
            let tasks: Vec<_> = requests
                .into_iter()
                .map(|(range, options)| {
                    let (store, path, limit) = (Arc::clone(&store), path.clone(), Arc::clone(&limit));
                    tokio::spawn(async move {
                        let _permit = limit.acquire_owned().await;
                        let got = store.get_opts(&path, options).await?;
                        let answered = got.range.clone();
                        Ok::<_, object_store::Error>((range, answered, got.bytes().await?))
                    })
                })
                .collect();
            let mut out = Vec::with_capacity(tasks.len());
            for t in tasks {
                out.push(t.await);
            }
            out
        })?;
        self.requests.fetch_add(n, Ordering::Relaxed);
        let mut out = Vec::with_capacity(fetched.len());
        for f in fetched {
            let (asked, answered, bytes) = f.map_err(io::Error::other)?.map_err(|e| self.failed(&e))?;
            if answered != asked || bytes.len() as u64 != asked.end - asked.start {
                return Err(wrong_range("a range", &asked, bytes.len(), self.size));
            }
            self.bytes_read.fetch_add(bytes.len() as u64, Ordering::Relaxed);
            out.push(bytes);
        }
        Ok(out)
    }

    /// The I/O error for a failed request; a failed precondition (another ETag) or a
    /// missing object is remembered, for
    /// [`Source::changed`](super::source::Source::changed).
    fn failed(&self, e: &object_store::Error) -> io::Error {
        let what = match e {
            object_store::Error::Precondition { .. } => Some(format!(
                "the object {} was replaced since it was opened (its ETag is no longer {})",
                self.path,
                self.e_tag.as_deref().unwrap_or("?")
            )),
            object_store::Error::NotFound { .. } => {
                Some(format!("the object {} was deleted since it was opened", self.path))
            }
            _ => None,
        };
        if let Some(what) = what {
            *self.replaced.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(what);
        }
        to_io(e)
    }

    /// The part of the tail read at open that holds `offset..offset + len`.
    fn in_tail(&self, offset: u64, len: usize) -> Option<&[u8]> {
        let from = usize::try_from(offset.checked_sub(self.tail_start)?).ok()?;
        self.tail.get(from..from.checked_add(len)?)
    }
}

impl super::source::Source for ObjectSource {
    fn size(&self) -> u64 {
        self.size
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        if let Some(bytes) = self.in_tail(offset, buf.len()) {
            buf.copy_from_slice(bytes);
            return Ok(());
        }
        self.read_ranges(&mut [(offset, buf)])
    }

    fn read_ranges(&self, ranges: &mut [(u64, &mut [u8])]) -> io::Result<()> {
        let mut wanted = Vec::new();
        for (offset, buf) in ranges.iter_mut() {
            match self.in_tail(*offset, buf.len()) {
                Some(bytes) => buf.copy_from_slice(bytes),
                None => {
                    let end = offset.checked_add(buf.len() as u64).filter(|&e| e <= self.size);
                    let end = end.ok_or_else(|| io::Error::from(io::ErrorKind::UnexpectedEof))?;
                    wanted.push(*offset..end);
                }
            }
        }
        if wanted.is_empty() {
            return Ok(());
        }
        let fetched = self.fetch(wanted)?;
        let mut fetched = fetched.into_iter();
        for (offset, buf) in ranges.iter_mut() {
            if self.in_tail(*offset, buf.len()).is_none() {
                let bytes = fetched.next().ok_or_else(|| io::Error::other("a fetched range is missing"))?;
                buf.copy_from_slice(&bytes);
            }
        }
        Ok(())
    }

    fn changed(&self) -> Option<String> {
        self.replaced.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    fn tail_len(&self) -> u64 {
        REMOTE_TAIL_LEN
    }

    fn remote(&self) -> bool {
        true
    }
}

/// The store and the object path a URL names, configured from the environment.
pub(crate) fn store_for(url: &str) -> io::Result<(Arc<dyn ObjectStore>, ObjectPath)> {
    let invalid = |e: String| io::Error::new(io::ErrorKind::InvalidInput, format!("{url}: {e}"));
    let parsed = url::Url::parse(url).map_err(|e| invalid(e.to_string()))?;
    let (scheme, path) = ObjectStoreScheme::parse(&parsed).map_err(|e| invalid(e.to_string()))?;
    let retry = RetryConfig { max_retries: RETRIES, ..RetryConfig::default() };
    let built = |e: object_store::Error| invalid(e.to_string());
    let store: Arc<dyn ObjectStore> = match scheme {
        ObjectStoreScheme::AmazonS3 => Arc::new(
            object_store::aws::AmazonS3Builder::from_env().with_url(url).with_retry(retry).build().map_err(built)?,
        ),
        ObjectStoreScheme::GoogleCloudStorage => Arc::new(
            object_store::gcp::GoogleCloudStorageBuilder::from_env()
                .with_url(url)
                .with_retry(retry)
                .build()
                .map_err(built)?,
        ),
        ObjectStoreScheme::MicrosoftAzure => Arc::new(
            object_store::azure::MicrosoftAzureBuilder::from_env()
                .with_url(url)
                .with_retry(retry)
                .build()
                .map_err(built)?,
        ),
        ObjectStoreScheme::Http => {
            let base = parsed.origin().ascii_serialization();
            // A plain `http://` URL asks for plain HTTP.
            let client = object_store::ClientOptions::new().with_allow_http(parsed.scheme() == "http");
            Arc::new(
                object_store::http::HttpBuilder::new()
                    .with_url(base)
                    .with_retry(retry)
                    .with_client_options(client)
                    .build()
                    .map_err(built)?,
            )
        }
        _ => Arc::from(object_store::parse_url(&parsed).map_err(built)?.0),
    };
    let path = ObjectPath::parse(path.as_ref()).map_err(|e| invalid(e.to_string()))?;
    Ok((store, path))
}

/// Runs `f` on the remote sources' runtime and waits for it on this thread (which may
/// belong to another runtime: it only waits on a channel).
fn block_on<F>(f: F) -> io::Result<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    runtime()?.spawn(async move {
        let _ = tx.send(f.await);
    });
    rx.recv().map_err(|_| io::Error::other("an object-store request stopped without an answer"))
}

/// The runtime every remote source's requests run on, started on first use.
fn runtime() -> io::Result<&'static tokio::runtime::Runtime> {
    static RUNTIME: OnceLock<Result<tokio::runtime::Runtime, String>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("strata-object-store")
                .enable_all()
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| io::Error::other(format!("the object-store runtime did not start: {e}")))
}

fn to_io(e: &object_store::Error) -> io::Error {
    let kind = match e {
        object_store::Error::NotFound { .. } => io::ErrorKind::NotFound,
        object_store::Error::Precondition { .. } => io::ErrorKind::StaleNetworkFileHandle,
        _ => io::ErrorKind::Other,
    };
    io::Error::new(kind, e.to_string())
}

fn wrong_range(what: &str, asked: &std::ops::Range<u64>, got: usize, size: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!(
            "the server answered a request for {what} ({}..{} of an object of {size} bytes) with {got} bytes",
            asked.start, asked.end
        ),
    )
}

/// Bytes of one part of an upload: with S3's limit of 10,000 parts, objects up to
/// 160 GB.
const PART_LEN: usize = 16 << 20;

/// Parts of an upload in flight at once (with the part being filled, the upload holds
/// at most five parts of memory).
const PARTS_IN_FLIGHT: usize = 4;

/// An upload to object storage that is written like a file: a multipart upload whose
/// parts go out while the writer keeps writing.
pub(crate) struct Upload {
    parts: Option<object_store::WriteMultipart>,
    /// Bytes written since the upload last waited for parts in flight.
    unwaited: usize,
}

impl Upload {
    /// Starts a multipart upload of `path` in `store`.
    pub(crate) fn start(store: Arc<dyn ObjectStore>, path: &str) -> io::Result<Self> {
        let path = ObjectPath::parse(path).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let upload = block_on(async move { store.put_multipart(&path).await })?.map_err(|e| to_io(&e))?;
        Ok(Self { parts: Some(object_store::WriteMultipart::new_with_chunk_size(upload, PART_LEN)), unwaited: 0 })
    }

    /// Completes the upload: the object appears, whole.
    pub(crate) fn finish(mut self) -> io::Result<()> {
        let parts = self.parts.take().ok_or_else(|| io::Error::other("the upload failed earlier"))?;
        block_on(async move { parts.finish().await })?.map(|_| ()).map_err(|e| to_io(&e))
    }
}

impl io::Write for Upload {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut parts = self.parts.take().ok_or_else(|| io::Error::other("the upload failed earlier"))?;
        // A part goes out every PART_LEN bytes: waiting once per part bounds the parts
        // in flight without a round trip to the runtime on every write.
        if self.unwaited >= PART_LEN {
            self.unwaited = 0;
            let waited;
            (parts, waited) = block_on(async move {
                let waited = parts.wait_for_capacity(PARTS_IN_FLIGHT).await;
                (parts, waited)
            })?;
            if let Err(e) = waited {
                let _ = block_on(async move { parts.abort().await });
                return Err(to_io(&e));
            }
        }
        self.unwaited = self.unwaited.saturating_add(buf.len());
        {
            // `write` sends full parts as tasks of the current runtime: ours.
            let _context = runtime()?.enter();
            parts.write(buf);
        }
        self.parts = Some(parts);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for Upload {
    /// An upload not finished (a failed save) is aborted: its parts are removed and no
    /// object appears.
    fn drop(&mut self) {
        if let Some(parts) = self.parts.take() {
            let _ = block_on(async move { parts.abort().await });
        }
    }
}
