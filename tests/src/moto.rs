//! A real S3-compatible server for the remote tests: moto's server (Python package
//! `moto[server]`, installed with pip when missing), started on a free loopback port
//! and stopped when dropped. Its request log (one line per request on its standard
//! error) counts round trips.

use object_store::aws::{AmazonS3, AmazonS3Builder};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The bucket every test uses.
pub const BUCKET: &str = "strata-test";

/// A running `moto_server`.
pub struct Moto {
    child: Child,
    port: u16,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Moto {
    /// Starts a server on a free loopback port and creates [`BUCKET`]; installs
    /// `moto[server]` with pip first when Python cannot import it.
    #[must_use]
    pub fn start() -> Self {
        install();
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("moto.log");
        let child = Command::new(python())
            .args(["-m", "moto.server", "-H", "127.0.0.1", "-p", &port.to_string()])
            .env("PYTHONUNBUFFERED", "1")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("the moto server did not start ({e}): install it with `pip install 'moto[server]'`")
            });
        let moto = Self { child, port, log, _dir: dir };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "moto_server did not accept connections within 30 s");
            std::thread::sleep(Duration::from_millis(50));
        }
        moto.raw("PUT", &format!("/{BUCKET}"));
        moto
    }

    /// The server's endpoint URL (`http://127.0.0.1:PORT`).
    #[must_use]
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The environment a process needs to reach the server with `s3://` URLs.
    #[must_use]
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint()),
            ("AWS_ACCESS_KEY_ID", "test".into()),
            ("AWS_SECRET_ACCESS_KEY", "test".into()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ALLOW_HTTP", "true".into()),
        ]
    }

    /// A store over [`BUCKET`].
    #[must_use]
    pub fn store(&self) -> AmazonS3 {
        AmazonS3Builder::new()
            .with_endpoint(self.endpoint())
            .with_allow_http(true)
            .with_bucket_name(BUCKET)
            .with_access_key_id("test")
            .with_secret_access_key("test")
            .with_region("us-east-1")
            .build()
            .unwrap()
    }

    /// GET requests for objects of the bucket the server has answered so far (requests
    /// for the bucket itself, such as its creation, are not counted).
    #[must_use]
    pub fn gets(&self) -> usize {
        // The log line of a request is written after its response: give it a moment.
        std::thread::sleep(Duration::from_millis(100));
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let prefix = format!("\"GET /{BUCKET}/");
        log.lines().filter(|l| l.contains(&prefix)).count()
    }

    /// Stops the server (requests then fail to connect).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// One bodiless request on a fresh connection; panics unless the answer is 2xx.
    fn raw(&self, method: &str, path: &str) {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.port
        )
        .unwrap();
        let mut answer = String::new();
        s.read_to_string(&mut answer).unwrap();
        assert!(answer.starts_with("HTTP/1.1 2") || answer.starts_with("HTTP/1.0 2"), "{method} {path}: {answer}");
    }
}

/// The Python interpreter: `python3`, or `python` where there is no `python3`.
fn python() -> &'static str {
    static PYTHON: std::sync::OnceLock<&'static str> = std::sync::OnceLock::new();
    PYTHON.get_or_init(|| {
        let works = |p: &str| Command::new(p).arg("--version").output().is_ok_and(|o| o.status.success());
        if works("python3") { "python3" } else { "python" }
    })
}

/// Installs `moto[server]` with pip when Python cannot import its server (once per
/// process).
fn install() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        let importable = |p: &str| {
            Command::new(p).args(["-c", "import moto.server, flask"]).output().is_ok_and(|o| o.status.success())
        };
        if importable(python()) {
            return;
        }
        let status = Command::new(python())
            .args(["-m", "pip", "install", "--quiet", "moto[server]"])
            .status()
            .unwrap_or_else(|e| panic!("pip did not run ({e}): install moto with `pip install 'moto[server]'`"));
        assert!(status.success() && importable(python()), "`pip install 'moto[server]'` failed");
    });
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
