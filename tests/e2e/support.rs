//! The world the end-to-end tests run in: one moto server with IAM auth on
//! and one fake sign-in endpoint per test process, and a `pam-aws` CLI with
//! its own config and SQLite store per test.

use serde_json::Value;
use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

pub const ACCOUNT: &str = "123456789012";
pub const EXTERNAL_ID: &str = "proj-e2e-7f3a";
pub const ALICE: &str = "alice@example.com";
pub const BOB: &str = "bob@example.com";
/// The user of the output-shape tests (their revocation denies nobody else).
pub const CAROL: &str = "carol@example.com";
/// The users of the embedding tests (Node, Python).
pub const EMBEDDED_USER: &str = "embedded@example.com";
pub const PYTHON_USER: &str = "python@example.com";
/// The user of the Spin adapter's test.
pub const SPIN_USER: &str = "spin@example.com";
/// The user who clicks Access in the browser test.
pub const BROWSER_USER: &str = "browser@example.com";
/// Users whose sessions the parallel revocation test revokes at once.
pub const PARALLEL_USERS: [&str; 8] = [
    "user1@example.com",
    "user2@example.com",
    "user3@example.com",
    "user4@example.com",
    "user5@example.com",
    "user6@example.com",
    "user7@example.com",
    "user8@example.com",
];
/// Longer than a role session name may be: gets a prefix and a hash.
pub const LONG_EMAIL: &str = "firstname.middlename.lastname.department.team@subsidiary.example.com";

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

pub fn python() -> PathBuf {
    let python = std::env::var_os("PAM_AWS_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join(".venv/bin/python"));
    assert!(
        python.exists(),
        "{} is missing: run scripts/setup --tests first",
        python.display()
    );
    python
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

pub fn wait_for_port(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "{what} did not start on port {port}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A helper process that exits when our end of its stdin closes (when the
/// test process exits, however it exits).
pub struct Helper {
    _child: Child,
    _stdin: ChildStdin,
}

pub fn spawn_helper(script: &str, args: &[&str], port: u16) -> Helper {
    let mut child = Command::new(python())
        .arg(root().join("tests/support").join(script))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {script}: {e}"));
    let stdin = child.stdin.take().expect("helper stdin");
    wait_for_port(port, script);
    Helper {
        _child: child,
        _stdin: stdin,
    }
}

/// Runs `command` to success; what it printed (stdout, then stderr), which
/// is the failure message otherwise.
pub fn run_to_success(command: &mut Command, what: &str) -> String {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("running {what}: {e}"));
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{what} failed:\n{printed}");
    printed
}

/// Runs `tests/support/SCRIPT` with `args` and returns the JSON it prints.
pub fn python_json(script: &str, args: &[&str]) -> Value {
    let output = Command::new(python())
        .arg(root().join("tests/support").join(script))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {script}: {e}"));
    assert!(
        output.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{script} prints JSON: {e}"))
}

/// What `moto_setup.py` created.
pub struct World {
    pub moto: String,
    pub signin: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    pub resource_role: String,
    pub target_role: String,
    pub other_role: String,
    pub auditor: (String, String),
    /// The same world in `aws-cn` and `aws-us-gov`, as `moto_setup.py` printed it.
    pub partitions: Value,
    _helpers: Mutex<Vec<Helper>>,
}

pub fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let moto_port = free_port();
        let moto_helper = spawn_helper("moto_server.py", &[&moto_port.to_string()], moto_port);
        let signin_port = free_port();
        let signin_helper = spawn_helper(
            "fake_signin.py",
            &[&signin_port.to_string(), "--until-stdin-closes"],
            signin_port,
        );
        let moto = format!("http://127.0.0.1:{moto_port}");
        let hashed = pam_aws_plugin::session_name::role_session_name(LONG_EMAIL);
        let sessions = [
            pam_aws_plugin::broker::VALIDATION_SESSION,
            ALICE,
            BOB,
            CAROL,
            EMBEDDED_USER,
            PYTHON_USER,
            SPIN_USER,
            BROWSER_USER,
            hashed.as_str(),
        ];
        let mut args = vec![moto.as_str(), EXTERNAL_ID];
        args.extend(sessions);
        args.extend(PARALLEL_USERS);
        let setup = python_json("moto_setup.py", &args);
        let text = |key: &str| setup[key].as_str().expect(key).to_string();
        World {
            moto,
            signin: format!("http://127.0.0.1:{signin_port}/federation"),
            access_key_id: text("access_key_id"),
            secret_access_key: text("secret_access_key"),
            resource_role: text("resource_role_arn"),
            target_role: text("target_role_arn"),
            other_role: text("other_role_arn"),
            auditor: (
                text("auditor_access_key_id"),
                text("auditor_secret_access_key"),
            ),
            partitions: setup["partitions"].clone(),
            _helpers: Mutex::new(vec![moto_helper, signin_helper]),
        }
    })
}

pub fn get_json(url: &str) -> Value {
    let mut body = String::new();
    ureq::get(url)
        .call()
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
        .into_body()
        .into_reader()
        .read_to_string(&mut body)
        .expect("reading a response");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{url} is not JSON: {e}"))
}

/// moto's record of every AssumeRole it answered.
pub fn moto_assumed_roles() -> Vec<Value> {
    let data = get_json(&format!("{}/moto-api/data.json", world().moto));
    data["sts"]["AssumedRole"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Requests the fake sign-in endpoint received.
pub fn signin_requests() -> Vec<Value> {
    let base = world().signin.trim_end_matches("/federation");
    get_json(&format!("{base}/_requests"))
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// The result of one CLI run.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<std::process::Output> for Run {
    fn from(output: std::process::Output) -> Run {
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).to_string(),
            stderr: String::from_utf8_lossy(&output.stderr).to_string(),
        }
    }
}

impl Run {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", self.stdout))
    }

    #[track_caller]
    pub fn ok(self) -> Run {
        assert_eq!(self.code, 0, "expected success; stderr: {}", self.stderr);
        self
    }
}

/// One operator's `pam-aws`: a config file and SQLite store in a temp dir.
pub struct Pam {
    pub dir: tempfile::TempDir,
    env: Vec<(String, String)>,
}

impl Pam {
    pub fn new() -> Pam {
        Pam::with_config("")
    }

    /// `extra` is appended to the config file's `[aws]` section (and may open others).
    pub fn with_config(extra: &str) -> Pam {
        let w = world();
        let env = vec![
            ("AWS_ACCESS_KEY_ID".to_string(), w.access_key_id.clone()),
            (
                "AWS_SECRET_ACCESS_KEY".to_string(),
                w.secret_access_key.clone(),
            ),
        ];
        Pam::configured(&w.moto, &w.signin, "us-east-1", extra, env)
    }

    /// A `pam-aws` whose STS and sign-in endpoints are `sts` and `signin`.
    pub fn configured(
        sts: &str,
        signin: &str,
        region: &str,
        extra: &str,
        mut env: Vec<(String, String)>,
    ) -> Pam {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = format!(
            "[store]\nurl = \"sqlite://pam.db\"\n\n[aws]\nregion = \"{region}\"\nsts_endpoint = \"{}\"\n\
             federation_endpoint = \"{}\"\nissuer = \"https://pam.example.test/\"\nexternal_id = \"{EXTERNAL_ID}\"\n{extra}",
            sts, signin
        );
        std::fs::write(dir.path().join("pam-aws.toml"), config).expect("writing the config");
        // Empty shared AWS files: the chain must not pick up this machine's profiles.
        for file in ["aws-config", "aws-credentials"] {
            std::fs::write(dir.path().join(file), "").expect("writing an empty AWS file");
        }
        env.push((
            "PAM_AWS_CACHE_DIR".to_string(),
            root().join("target/pam-aws-cache").display().to_string(),
        ));
        Pam { dir, env }
    }

    pub fn set_env(&mut self, key: &str, value: &str) {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.to_string(), value.to_string()));
    }

    /// `pam-aws` in this operator's folder, with its environment.
    pub fn command(&self) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_pam-aws"));
        command
            .current_dir(self.dir.path())
            .env_remove("AWS_SESSION_TOKEN")
            .env_remove("AWS_PROFILE")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_CONFIG_FILE", self.dir.path().join("aws-config"))
            .env(
                "AWS_SHARED_CREDENTIALS_FILE",
                self.dir.path().join("aws-credentials"),
            )
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        command
    }

    pub fn run(&self, args: &[&str]) -> Run {
        Run::from(self.command().args(args).output().expect("running pam-aws"))
    }

    pub fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.push("--json");
        self.run(&all).ok().json()
    }

    pub fn create_resource(&self, name: &str) -> Value {
        self.json(&[
            "resource",
            "create",
            "--name",
            name,
            "--role-arn",
            &world().resource_role,
        ])
    }

    pub fn create_account(&self, resource: &str, name: &str, duration: &str) -> Value {
        self.json(&[
            "account",
            "create",
            "--resource",
            resource,
            "--name",
            name,
            "--role-arn",
            &world().target_role,
            "--duration",
            duration,
            "--region",
            "eu-west-1",
        ])
    }

    /// Everything the store holds on disk, WAL included.
    pub fn store_bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::new();
        for file in ["pam.db", "pam.db-wal"] {
            if let Ok(more) = std::fs::read(self.dir.path().join(file)) {
                bytes.extend(more);
            }
        }
        bytes
    }
}

/// The Target Role's inline policy names, read back through IAM.
pub fn target_role_policies() -> Vec<String> {
    aws_as_auditor(&["iam", "list-role-policies", "--role-name", "PamTargetRole"])["PolicyNames"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter_map(|name| name.as_str().map(str::to_string))
        .collect()
}

/// The statements of every revocation policy on the Target Role.
pub fn revocation_statements() -> Vec<Value> {
    let mut statements = Vec::new();
    for name in target_role_policies() {
        if !name.starts_with("PamAwsRevoke-") {
            continue;
        }
        let policy = aws_as_auditor(&[
            "iam",
            "get-role-policy",
            "--role-name",
            "PamTargetRole",
            "--policy-name",
            &name,
        ]);
        statements.extend(
            policy["PolicyDocument"]["Statement"]
                .as_array()
                .cloned()
                .unwrap_or_default(),
        );
    }
    statements
}

/// A programmable STS and sign-in endpoint (`tests/support/fake_aws.py`),
/// one per test, for faults moto cannot produce.
pub struct FakeAws {
    pub url: String,
    _helper: Helper,
}

impl FakeAws {
    pub fn start() -> FakeAws {
        let port = free_port();
        let helper = spawn_helper("fake_aws.py", &[&port.to_string()], port);
        FakeAws {
            url: format!("http://127.0.0.1:{port}"),
            _helper: helper,
        }
    }

    /// Queues answers for `kind` (`sts` or `signin`): `{"status","body","delay","size"}`.
    pub fn script(&self, kind: &str, steps: Value) {
        ureq::post(&format!("{}/_script/{kind}", self.url))
            .send(steps.to_string())
            .expect("scripting the fake");
    }

    /// What the fake received, of one kind.
    pub fn requests(&self, kind: &str) -> Vec<Value> {
        get_json(&format!("{}/_requests", self.url))
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|r| r["kind"] == kind)
            .collect()
    }

    /// A `pam-aws` that talks to this fake, with `extra` config.
    pub fn pam(&self, extra: &str) -> Pam {
        let env = vec![
            ("AWS_ACCESS_KEY_ID".to_string(), "AKIDFAKE".to_string()),
            (
                "AWS_SECRET_ACCESS_KEY".to_string(),
                "fake-secret".to_string(),
            ),
        ];
        let signin = format!("{}/federation", self.url);
        Pam::configured(&self.url, &signin, "us-east-1", extra, env)
    }
}

/// The real AWS CLI against moto, as the auditor; its JSON output.
pub fn aws_as_auditor(args: &[&str]) -> Value {
    let w = world();
    let output = Command::new(root().join(".venv/bin/aws"))
        .args(args)
        .args([
            "--output",
            "json",
            "--region",
            "us-east-1",
            "--endpoint-url",
            &w.moto,
        ])
        .env("AWS_ACCESS_KEY_ID", &w.auditor.0)
        .env("AWS_SECRET_ACCESS_KEY", &w.auditor.1)
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN")
        .output()
        .expect("running the AWS CLI");
    assert!(
        output.status.success(),
        "aws {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    if output.stdout.is_empty() {
        return Value::Null;
    }
    serde_json::from_slice(&output.stdout).expect("AWS CLI JSON")
}

/// A throwaway redis-server (installed by scripts/setup --tests) on a free port.
pub struct RedisServer {
    pub url: String,
    pub port: u16,
    args: Vec<String>,
    child: Option<Child>,
}

impl RedisServer {
    pub fn start() -> RedisServer {
        RedisServer::launch(&[])
    }

    /// With `extra` arguments (`--requirepass`, TLS, a data dir).
    pub fn launch(extra: &[&str]) -> RedisServer {
        let port = free_port();
        let mut args: Vec<String> = ["--save", "", "--appendonly", "no", "--bind", "127.0.0.1"]
            .map(String::from)
            .to_vec();
        if !extra.contains(&"--tls-port") {
            args.extend(["--port".to_string(), port.to_string()]);
        }
        args.extend(extra.iter().map(|a| a.replace("{port}", &port.to_string())));
        let mut server = RedisServer {
            url: format!("redis://127.0.0.1:{port}/0"),
            port,
            args,
            child: None,
        };
        server.resume();
        server
    }

    /// Starts it (again) on the same port, with the same data.
    pub fn resume(&mut self) {
        let child = Command::new("redis-server")
            .args(&self.args)
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server is missing: run scripts/setup --tests");
        wait_for_port(self.port, "redis-server");
        self.child = Some(child);
    }

    /// Stops it as an operator would (SIGTERM: it writes its data first).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let _ = child.wait();
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The shared secret test tokens are signed with (HS256).
pub const JWT_SECRET: &str = "e2e-hs256-secret-not-for-production";

/// A bearer token for `email` in `groups`, valid for `ttl_seconds` (negative: expired).
pub fn token(email: &str, groups: &[&str], ttl_seconds: i64) -> String {
    let now = jsonwebtoken::get_current_timestamp() as i64;
    let claims = serde_json::json!({
        "email": email, "groups": groups, "iss": "https://idp.example.test",
        "aud": "pam-aws", "exp": now + ttl_seconds, "iat": now,
    });
    let key = jsonwebtoken::EncodingKey::from_secret(JWT_SECRET.as_bytes()).expect("a key");
    jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &key).expect("a token")
}

/// An operator whose `serve` takes [`token`]s and revokes through moto's IAM.
pub fn jwt_gateway() -> Pam {
    Pam::with_config(&format!(
        "iam_endpoint = \"{}\"\n{}",
        world().moto,
        jwt_auth_config()
    ))
}

/// The `[auth]` section that accepts [`token`]s.
pub fn jwt_auth_config() -> String {
    format!(
        "\n[auth]\nmode = \"jwt\"\nhs256_secret = \"{JWT_SECRET}\"\nissuer = \"https://idp.example.test\"\n\
         audience = \"pam-aws\"\nadmin_groups = [\"pam-admins\"]\n"
    )
}

/// An HTTP answer: status and JSON body.
pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub headers: Vec<(String, String)>,
}

/// One request with an optional bearer token and JSON body.
pub fn request(method: &str, url: &str, bearer: Option<&str>, body: Option<&Value>) -> Answer {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut builder = ureq::http::Request::builder().method(method).uri(url);
    if let Some(token) = bearer {
        builder = builder.header("authorization", format!("Bearer {token}"));
    }
    let request = match body {
        Some(body) => builder
            .header("content-type", "application/json")
            .body(body.to_string()),
        None => builder.body(String::new()),
    }
    .expect("a request");
    let response = agent
        .run(request)
        .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_string()))
        .collect();
    let mut text = String::new();
    response
        .into_body()
        .into_reader()
        .read_to_string(&mut text)
        .expect("reading a response");
    let body = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{method} {url} answered non-JSON ({e}): {text}"));
    Answer {
        status,
        body,
        headers,
    }
}

/// A REST server process (`pam-aws serve` or upstream `wasmtime serve`)
/// on a free port; stopped with SIGTERM when dropped.
pub struct Server {
    pub url: String,
    child: Option<Child>,
    log: PathBuf,
}

impl Server {
    /// Starts `command`, which must listen on `port`; stderr goes to `log`.
    pub fn start(mut command: Command, port: u16, log: PathBuf) -> Server {
        let file = std::fs::File::create(&log).expect("a log file");
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .expect("starting the server");
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(120);
        let health = format!("{url}/healthz");
        while ureq::get(&health).call().is_err() {
            assert!(
                Instant::now() < deadline,
                "the server did not come up: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Server {
            url,
            child: Some(child),
            log,
        }
    }

    /// What it has logged so far, while it keeps running.
    pub fn log_so_far(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends SIGTERM and waits; the exit status and everything it logged.
    pub fn stop(&mut self) -> (Option<i32>, String) {
        let Some(mut child) = self.child.take() else {
            return (None, String::new());
        };
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let status = child.wait().ok().and_then(|s| s.code());
        (
            status,
            std::fs::read_to_string(&self.log).unwrap_or_default(),
        )
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Pam {
    /// `pam-aws serve` with this operator's config and store.
    pub fn serve(&self) -> Server {
        let port = free_port();
        let mut command = self.command();
        command.args(["serve", "--listen", &format!("127.0.0.1:{port}")]);
        Server::start(command, port, self.dir.path().join("serve.log"))
    }
}

/// Upstream `wasmtime` at the version of our host's WASI crates, as
/// `scripts/setup --tests` installs it.
pub fn wasmtime_cli() -> PathBuf {
    let path = std::env::var_os("PAM_AWS_WASMTIME")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let cache = std::env::var_os("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| {
                    PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache")
                });
            cache.join(format!(
                "pam-aws/wasmtime-{}-serve/bin/wasmtime",
                wasmtime_version()
            ))
        });
    assert!(
        path.exists(),
        "{} is missing: run scripts/setup --tests first",
        path.display()
    );
    path
}

/// The version of the host's WASI crates in the workspace's Cargo.lock,
/// which upstream `wasmtime` is published with (scripts/lib/upstream-wasmtime.sh).
fn wasmtime_version() -> String {
    let lock = concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.lock");
    let lock = std::fs::read_to_string(lock).expect("Cargo.lock");
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line == "name = \"wasmtime-wasi-http\"" {
            let version = lines.next().expect("a version line");
            return version
                .trim_start_matches("version = ")
                .trim_matches('"')
                .to_string();
        }
    }
    panic!("no wasmtime-wasi-http in Cargo.lock")
}

/// A CA of our own (`ca.pem`) and a certificate for 127.0.0.1 it signed
/// (`NAME.pem`, key `NAME.key`), written into `dir` with openssl.
pub fn test_certificates(dir: &Path, name: &str) {
    let path = |file: &str| dir.join(file).display().to_string();
    let openssl = |args: &[&str]| {
        let status = Command::new("openssl")
            .args(args)
            .stderr(Stdio::null())
            .status()
            .expect("openssl");
        assert!(status.success(), "openssl {args:?}");
    };
    let (key, csr, pem) = (
        format!("{name}.key"),
        format!("{name}.csr"),
        format!("{name}.pem"),
    );
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=pam-e2e-ca",
        "-keyout",
        &path("ca.key"),
        "-out",
        &path("ca.pem"),
    ]);
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        &path(&key),
        "-out",
        &path(&csr),
    ]);
    std::fs::write(dir.join("ext.cnf"), "subjectAltName=IP:127.0.0.1\n").expect("ext.cnf");
    openssl(&[
        "x509",
        "-req",
        "-in",
        &path(&csr),
        "-CA",
        &path("ca.pem"),
        "-CAkey",
        &path("ca.key"),
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        &path("ext.cnf"),
        "-out",
        &path(&pem),
    ]);
}
