//! A `moto_server` child process on a free loopback port, killed on drop.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_s3::config::{Credentials, SharedCredentialsProvider};

/// The moto version the test suite is written against.
pub const MOTO_VERSION: &str = "5.2.1";

/// How to get `moto_server` onto PATH; repeated in every "not found" error.
pub const MOTO_INSTALL_HINT: &str = "install it with `pip install 'moto[server]==5.2.1'` (or run scripts/test.sh, which installs it)";

/// Environment variable naming the `moto_server` executable, overriding the PATH lookup.
pub const MOTO_SERVER_ENV: &str = "MOTO_SERVER";

/// moto's default account id: what every request without an account header acts in.
pub const MOTO_DEFAULT_ACCOUNT: &str = "123456789012";

const READY_TIMEOUT: Duration = Duration::from_secs(30);
const POLL_INTERVAL: Duration = Duration::from_millis(50);
/// Attempts at picking a port, in case another process grabs it between probe and bind.
const PORT_ATTEMPTS: usize = 3;

/// Why a `moto_server` could not be started.
#[derive(thiserror::Error)]
pub enum MotoError {
    /// The executable is neither at `$MOTO_SERVER` nor on PATH.
    #[error("moto_server not found ({searched}): {MOTO_INSTALL_HINT}")]
    NotFound {
        /// Where we looked.
        searched: String,
    },
    /// A filesystem or process operation failed.
    #[error("{what}")]
    Io {
        /// What we were doing.
        what: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The server process exited before it became ready.
    #[error(
        "moto_server on port {port} exited with {status} before becoming ready; log tail:\n{log_tail}"
    )]
    Exited {
        /// The port it was asked to listen on.
        port: u16,
        /// Its exit status.
        status: std::process::ExitStatus,
        /// The last lines of its log.
        log_tail: String,
    },
    /// The server did not answer `GET /moto-api/` with 200 in time.
    #[error("moto_server on port {port} not ready after {timeout_secs} s; log tail:\n{log_tail}")]
    NotReady {
        /// The port it listens on.
        port: u16,
        /// How long we waited.
        timeout_secs: u64,
        /// The last lines of its log.
        log_tail: String,
    },
}

// Debug shows the message, so `MotoServer::start().expect(..)` in a test prints the install hint.
impl std::fmt::Debug for MotoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)?;
        if let MotoError::Io { source, .. } = self {
            write!(f, ": {source}")?;
        }
        Ok(())
    }
}

fn io_err(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> MotoError {
    let what = what.into();
    move |source| MotoError::Io { what, source }
}

/// A running `moto_server`; the process is killed and its log directory removed on drop.
#[derive(Debug)]
pub struct MotoServer {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl MotoServer {
    /// Starts `moto_server` on a free 127.0.0.1 port and blocks until it answers (about 1 s).
    pub fn start() -> Result<MotoServer, MotoError> {
        let exe = find_moto_server()?;
        let mut last = None;
        for _ in 0..PORT_ATTEMPTS {
            let port = free_port()?;
            match Self::spawn(&exe, port) {
                // Lost the port to someone else between probe and bind: try another one.
                Err(e @ MotoError::Exited { .. }) => last = Some(e),
                other => return other,
            }
        }
        Err(last.unwrap_or_else(|| MotoError::NotFound {
            searched: exe.display().to_string(),
        }))
    }

    fn spawn(exe: &Path, port: u16) -> Result<MotoServer, MotoError> {
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "autosub-moto-{}-{}-{}",
            std::process::id(),
            port,
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).map_err(io_err(format!("create {}", dir.display())))?;
        let log_path = dir.join("moto_server.log");
        let log =
            File::create(&log_path).map_err(io_err(format!("create {}", log_path.display())))?;
        let log_err = log
            .try_clone()
            .map_err(io_err("clone moto_server log handle"))?;
        let child = Command::new(exe)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            // Requests are recorded only after `start_recording`, each server to its own file.
            .env("MOTO_RECORDER_FILEPATH", dir.join(RECORDING))
            .env_remove("MOTO_ENABLE_RECORDING")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .map_err(io_err(format!("spawn {}", exe.display())))?;
        // From here on Drop cleans up the child and the directory, including on the error paths.
        let mut server = MotoServer { child, port, dir };
        server.wait_ready()?;
        Ok(server)
    }

    fn wait_ready(&mut self) -> Result<(), MotoError> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().map_err(io_err("poll moto_server"))? {
                return Err(MotoError::Exited {
                    port: self.port,
                    status,
                    log_tail: self.log_tail(),
                });
            }
            if probe(self.port) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(MotoError::NotReady {
                    port: self.port,
                    timeout_secs: READY_TIMEOUT.as_secs(),
                    log_tail: self.log_tail(),
                });
            }
            std::thread::sleep(POLL_INTERVAL);
        }
    }

    /// The base URL, e.g. `http://127.0.0.1:41234`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The file that receives the server's stdout and stderr (removed on drop).
    pub fn log_path(&self) -> PathBuf {
        self.dir.join("moto_server.log")
    }

    /// The last 40 lines of the server log, for failure messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// SDK config for this server in `region`: dummy credentials, one attempt per call.
    pub fn sdk_config(&self, region: &str) -> SdkConfig {
        sdk_config_for(&self.endpoint(), region)
    }

    /// From now on the server logs every request it serves (moto's recorder).
    pub async fn start_recording(&self) -> Result<(), MotoError> {
        let url = format!("{}/moto-api/recorder/start-recording", self.endpoint());
        reqwest::Client::new()
            .post(&url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| MotoError::Io {
                what: format!("POST {url}"),
                source: std::io::Error::other(e),
            })?;
        Ok(())
    }

    /// Every request served since [`start_recording`](Self::start_recording), in order.
    pub fn recorded_requests(&self) -> Result<Vec<RecordedRequest>, MotoError> {
        let path = self.dir.join(RECORDING);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(io_err(format!("read {}", path.display()))(e)),
        };
        text.lines()
            .map(|line| {
                serde_json::from_str(line).map_err(|e| MotoError::Io {
                    what: format!("parse a request recorded in {}", path.display()),
                    source: std::io::Error::other(e),
                })
            })
            .collect()
    }
}

/// Where a server's recorder writes, inside its directory.
const RECORDING: &str = "requests.jsonl";

/// One request moto served, as its recorder logs it.
#[derive(Clone, Debug, serde::Deserialize)]
pub struct RecordedRequest {
    /// `GET`, `PUT`, ...
    pub method: String,
    /// The full URL, query included.
    pub url: String,
    /// The request headers.
    pub headers: std::collections::BTreeMap<String, String>,
}

impl RecordedRequest {
    /// The access key id the request was signed with (from its SigV4 `Authorization` header).
    pub fn access_key_id(&self) -> Option<&str> {
        let auth = self.header("authorization")?;
        let credential = auth.split("Credential=").nth(1)?;
        credential.split('/').next()
    }

    /// The value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The bucket of a path-style S3 `PutBucketNotificationConfiguration`, else `None`.
    pub fn notification_write_bucket(&self) -> Option<&str> {
        if self.method != "PUT" {
            return None;
        }
        let rest = self.url.split_once("://")?.1;
        let (path, query) = rest.split_once('/')?.1.split_once('?')?;
        let path = path.trim_end_matches('/');
        let is_notification = query
            .split('&')
            .any(|p| p == "notification" || p.starts_with("notification="));
        (is_notification && !path.is_empty() && !path.contains('/')).then_some(path)
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        // Errors here mean the process is already gone; nothing useful to do about them.
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// SDK config for any moto endpoint: static credentials `test`/`test`, the endpoint override,
/// and max attempts 1, because moto answers unimplemented calls with a 500 the SDK would retry.
///
/// S3 clients additionally need `force_path_style(true)`; [`crate::estate::Clients`] sets it.
pub fn sdk_config_for(endpoint: &str, region: &str) -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region.to_owned()))
        .endpoint_url(endpoint)
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "test",
            "test",
            None,
            None,
            "autosub-testkit",
        )))
        .retry_config(RetryConfig::standard().with_max_attempts(1))
        .build()
}

fn find_moto_server() -> Result<PathBuf, MotoError> {
    if let Some(explicit) = std::env::var_os(MOTO_SERVER_ENV) {
        let path = PathBuf::from(&explicit);
        if path.is_file() {
            return Ok(path);
        }
        // Allow a bare command name in $MOTO_SERVER, resolved through PATH below.
        if let Some(found) = search_path(&explicit) {
            return Ok(found);
        }
        return Err(MotoError::NotFound {
            searched: format!("${MOTO_SERVER_ENV}={}", path.display()),
        });
    }
    search_path("moto_server".as_ref()).ok_or_else(|| MotoError::NotFound {
        searched: "PATH".to_owned(),
    })
}

fn search_path(name: &std::ffi::OsStr) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

fn free_port() -> Result<u16, MotoError> {
    let listener =
        TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(io_err("bind 127.0.0.1:0"))?;
    let port = listener
        .local_addr()
        .map_err(io_err("read local address of probe socket"))?
        .port();
    Ok(port)
}

/// One plain HTTP/1.0 `GET /moto-api/`; true when the status is 200.
fn probe(port: u16) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(500)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(2)));
    let request = format!("GET /moto-api/ HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 32];
    let mut len = 0;
    while len < head.len() {
        match stream.read(&mut head[len..]) {
            Ok(0) | Err(_) => break,
            Ok(n) => len += n,
        }
    }
    is_ok_status_line(&head[..len])
}

fn is_ok_status_line(head: &[u8]) -> bool {
    let text = String::from_utf8_lossy(head);
    let mut parts = text.split_whitespace();
    matches!(
        (parts.next(), parts.next()),
        (Some(version), Some("200")) if version.starts_with("HTTP/")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_line_parsing() {
        for (input, expected) in [
            (&b"HTTP/1.0 200 OK\r\n"[..], true),
            (b"HTTP/1.1 200 OK\r\n", true),
            (b"HTTP/1.1 404 NOT FOUND\r\n", false),
            (b"HTTP/1.1 2000", false),
            (b"", false),
            (b"garbage 200", false),
        ] {
            assert_eq!(is_ok_status_line(input), expected, "{input:?}");
        }
    }

    #[test]
    fn missing_executable_names_the_install_command() {
        let err = MotoError::NotFound {
            searched: "PATH".into(),
        };
        assert!(
            err.to_string()
                .contains("pip install 'moto[server]==5.2.1'"),
            "{err}"
        );
    }

    #[test]
    fn recorded_requests_name_their_signer_and_notification_bucket() {
        let request = |method: &str, url: &str| {
            RecordedRequest {
            method: method.into(),
            url: url.into(),
            headers: [(
                "Authorization".to_owned(),
                "AWS4-HMAC-SHA256 Credential=racer-one/20261201/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00".to_owned(),
            )]
            .into(),
        }
        };
        let put = request("PUT", "http://127.0.0.1:5000/demo-logs?notification");
        assert_eq!(put.access_key_id(), Some("racer-one"));
        assert_eq!(put.notification_write_bucket(), Some("demo-logs"));
        for (method, url) in [
            ("PUT", "http://127.0.0.1:5000/demo-logs/?notification="),
            (
                "PUT",
                "http://127.0.0.1:5000/demo-logs?x-id=PutBucketNotificationConfiguration&notification",
            ),
        ] {
            assert_eq!(
                request(method, url).notification_write_bucket(),
                Some("demo-logs"),
                "{url}"
            );
        }
        for (method, url) in [
            ("GET", "http://127.0.0.1:5000/demo-logs?notification"),
            ("PUT", "http://127.0.0.1:5000/demo-logs?logging"),
            ("PUT", "http://127.0.0.1:5000/demo-logs/key?notification"),
        ] {
            assert_eq!(
                request(method, url).notification_write_bucket(),
                None,
                "{method} {url}"
            );
        }
    }
}
