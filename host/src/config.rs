//! The TOML configuration file (CONTRACT.md) and what it feeds: the store,
//! the egress allow-list and the component's `wasi:config` keys.

use anyhow::{Context, Result};
use pam_aws_contract::partition::{Partition, StsMode};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub store: StoreSection,
    pub aws: AwsSection,
    pub egress: EgressSection,
    pub server: ServerSection,
    pub auth: AuthSection,
    pub catalog: CatalogSection,
    /// The folder relative paths (the SQLite file) are taken from.
    #[serde(skip)]
    pub base_dir: PathBuf,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreSection {
    pub url: String,
    /// How long audit events are kept (humantime, e.g. `400d`); unset keeps them forever.
    pub audit_retention: Option<String>,
    /// How long sessions are kept; unset keeps them forever. Active ones always stay.
    pub session_retention: Option<String>,
    /// How often `serve` prunes a bounded batch past retention.
    #[serde(with = "humantime_serde")]
    pub prune_interval: Duration,
}

impl Default for StoreSection {
    fn default() -> Self {
        StoreSection {
            url: "sqlite://pam.db".to_string(),
            audit_retention: None,
            session_retention: None,
            prune_interval: Duration::from_secs(60),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AwsSection {
    pub region: Option<String>,
    pub sts_endpoint: Option<String>,
    pub federation_endpoint: Option<String>,
    pub issuer: Option<String>,
    pub external_id: Option<String>,
    /// Override the IAM endpoint revocation writes to (tests, VPC endpoints).
    pub iam_endpoint: Option<String>,
    /// `regional` (default), `global` (aws only) or `fips`.
    pub sts_endpoint_mode: Option<String>,
    /// The most one operation may take, retries included (humantime; default 30s).
    pub access_timeout: Option<String>,
    /// Attempts per AWS call, retries included (1 to 10; default 3).
    pub max_attempts: Option<u32>,
    /// A named profile for the credential chain.
    pub profile: Option<String>,
    /// Explicit base credentials; otherwise the standard AWS chain is used.
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub session_token: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EgressSection {
    /// Extra `host[:port]` entries the component may reach.
    pub allow: Vec<String>,
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    #[serde(with = "humantime_serde")]
    pub response_timeout: Duration,
}

impl Default for EgressSection {
    fn default() -> Self {
        EgressSection {
            allow: Vec::new(),
            connect_timeout: Duration::from_secs(5),
            response_timeout: Duration::from_secs(15),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSection {
    pub listen: Option<String>,
    /// The most one request may take, AWS calls included.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// Instances running at once; further requests wait for a slot.
    pub max_concurrency: u32,
    /// Requests that may wait for a slot; past that they get a 503.
    pub max_queue: u32,
    /// The most a client may take to send its request body (a slow upload gets a 408).
    #[serde(with = "humantime_serde")]
    pub body_timeout: Duration,
    /// Requests one instance may answer before it is thrown away; 1 gives
    /// every request a fresh instance.
    pub instance_reuse: u32,
}

impl Default for ServerSection {
    fn default() -> Self {
        ServerSection {
            listen: None,
            request_timeout: Duration::from_secs(60),
            max_concurrency: 64,
            max_queue: 256,
            body_timeout: Duration::from_secs(10),
            instance_reuse: 1000,
        }
    }
}

impl ServerSection {
    /// Limits that would stall or starve the server are refused up front.
    pub fn check(&self) -> Result<()> {
        if !(1..=1024).contains(&self.max_concurrency) {
            anyhow::bail!(
                "[server] max_concurrency must be from 1 to 1024, not {}",
                self.max_concurrency
            );
        }
        if !(1..=1_000_000).contains(&self.instance_reuse) {
            anyhow::bail!(
                "[server] instance_reuse must be from 1 to 1000000, not {}",
                self.instance_reuse
            );
        }
        if self.max_queue > 100_000 {
            anyhow::bail!(
                "[server] max_queue must be from 0 to 100000, not {}",
                self.max_queue
            );
        }
        for (key, value) in [
            ("request_timeout", self.request_timeout),
            ("body_timeout", self.body_timeout),
        ] {
            if value < Duration::from_secs(1) || value > Duration::from_secs(600) {
                anyhow::bail!(
                    "[server] {key} must be from 1s to 10m, not {}",
                    humantime_serde::re::humantime::format_duration(value)
                );
            }
        }
        Ok(())
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CatalogSection {
    /// A JSON file of resources and accounts (the `catalog` config key).
    pub file: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthSection {
    pub mode: Option<String>,
    pub hs256_secret: Option<String>,
    pub public_key: Option<String>,
    pub jwks: Option<String>,
    pub issuer: Option<String>,
    pub audience: Option<String>,
    pub email_claim: Option<String>,
    pub groups_claim: Option<String>,
    pub trusted_header_user: Option<String>,
    pub trusted_header_groups: Option<String>,
    pub trusted_header_secret_name: Option<String>,
    pub trusted_header_secret: Option<String>,
    /// Unset: `pam-admins`. Empty: nobody administers over the REST API.
    pub admin_groups: Option<Vec<String>>,
    /// The longest bearer-token lifetime accepted (humantime; default 24h).
    pub max_token_lifetime: Option<String>,
}

impl Config {
    /// Reads `path`, or `./pam-aws.toml` if present, or the defaults.
    pub fn load(path: Option<&Path>) -> Result<Config> {
        let default = Path::new("pam-aws.toml");
        let path = match path {
            Some(path) => Some(path),
            None if default.exists() => Some(default),
            None => None,
        };
        let Some(path) = path else {
            return Ok(Config {
                base_dir: PathBuf::from("."),
                ..Config::default()
            });
        };
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading config {}", path.display()))?;
        let mut config =
            Config::parse(&text).map_err(|e| anyhow::anyhow!("config {}: {e}", path.display()))?;
        config.base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        if config.base_dir.as_os_str().is_empty() {
            config.base_dir = PathBuf::from(".");
        }
        if config.holds_a_secret() && readable_by_others(path) {
            tracing::warn!(
                path = %path.display(),
                "the config file holds a secret and is readable by other users: chmod 600 it"
            );
        }
        Ok(config)
    }

    /// The TOML text, checked. Errors name the line, the key and the rule,
    /// never a value: a misspelt or unquoted secret must not be echoed.
    pub fn parse(text: &str) -> Result<Config, String> {
        let config: Config = toml::from_str(text).map_err(|e| describe_toml_error(text, &e))?;
        config.check()?;
        Ok(config)
    }

    /// Values TOML accepts but that cannot work.
    fn check(&self) -> Result<(), String> {
        for (key, value) in [
            ("audit_retention", &self.store.audit_retention),
            ("session_retention", &self.store.session_retention),
        ] {
            let Some(text) = value else { continue };
            match humantime_serde::re::humantime::parse_duration(text) {
                Ok(d) if d >= Duration::from_secs(60) => {}
                _ => {
                    return Err(format!(
                        "[store] {key} must be a duration of at least 1m, like \"400d\""
                    ));
                }
            }
        }
        if self.store.prune_interval < Duration::from_secs(1) {
            return Err("[store] prune_interval must be at least 1s".to_string());
        }
        for entry in &self.egress.allow {
            if !is_host_port(entry) {
                return Err(format!(
                    "[egress] allow entries must be HOST, HOST:PORT or *.SUFFIX (no scheme, path or spaces), not {:?}",
                    crate::output::printable(entry)
                ));
            }
        }
        let limit = Duration::from_secs(600);
        for (key, value) in [
            ("connect_timeout", self.egress.connect_timeout),
            ("response_timeout", self.egress.response_timeout),
        ] {
            if value < Duration::from_millis(100) || value > limit {
                return Err(format!("[egress] {key} must be from 100ms to 10m"));
            }
        }
        Ok(())
    }

    /// Whether the file names a credential or a shared secret.
    fn holds_a_secret(&self) -> bool {
        let auth = &self.auth;
        [
            &self.aws.secret_access_key,
            &self.aws.session_token,
            &auth.hs256_secret,
            &auth.trusted_header_secret,
        ]
        .iter()
        .any(|value| value.is_some())
            || url::Url::parse(&self.store.url).is_ok_and(|url| url.password().is_some())
    }

    /// What one operation may take inside the component (`access_timeout`).
    pub fn access_timeout(&self) -> Duration {
        self.aws
            .access_timeout
            .as_deref()
            .and_then(|text| humantime_serde::re::humantime::parse_duration(text).ok())
            .unwrap_or(Duration::from_secs(30))
    }

    pub fn region(&self) -> &str {
        self.aws.region.as_deref().unwrap_or("us-east-1")
    }

    /// The default allow-list: the configured partition's STS, sign-in and
    /// IAM hosts, the operator's endpoint overrides, then `[egress] allow`.
    pub fn egress_allow_list(&self) -> Vec<String> {
        let region = self.region();
        let mode = StsMode::parse(self.aws.sts_endpoint_mode.as_deref().unwrap_or("regional"));
        // A mode the partition lacks is the component's configuration error to report.
        let mut allow = mode
            .and_then(|mode| Partition::of_region(region).hosts(region, mode))
            .unwrap_or_default();
        for endpoint in [
            &self.aws.sts_endpoint,
            &self.aws.federation_endpoint,
            &self.aws.iam_endpoint,
        ]
        .into_iter()
        .flatten()
        {
            if let Ok(url) = url::Url::parse(endpoint)
                && let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default())
            {
                allow.push(format!("{host}:{port}"));
            }
        }
        allow.extend(self.egress.allow.iter().cloned());
        allow
    }

    /// The component's `wasi:config` keys, without credentials.
    pub fn component_vars(&self) -> Vec<(String, String)> {
        let mut vars = vec![("sts-region".to_string(), self.region().to_string())];
        let optional = [
            ("sts-endpoint", &self.aws.sts_endpoint),
            ("sts-endpoint-mode", &self.aws.sts_endpoint_mode),
            ("access-timeout", &self.aws.access_timeout),
            ("audit-retention", &self.store.audit_retention),
            ("session-retention", &self.store.session_retention),
            ("federation-endpoint", &self.aws.federation_endpoint),
            ("iam-endpoint", &self.aws.iam_endpoint),
            ("issuer", &self.aws.issuer),
            ("external-id", &self.aws.external_id),
            ("auth-mode", &self.auth.mode),
            ("jwt-hs256-secret", &self.auth.hs256_secret),
            ("jwt-public-key", &self.auth.public_key),
            ("jwt-jwks", &self.auth.jwks),
            ("jwt-issuer", &self.auth.issuer),
            ("jwt-audience", &self.auth.audience),
            ("jwt-max-lifetime", &self.auth.max_token_lifetime),
            ("jwt-email-claim", &self.auth.email_claim),
            ("jwt-groups-claim", &self.auth.groups_claim),
            ("trusted-header-user", &self.auth.trusted_header_user),
            ("trusted-header-groups", &self.auth.trusted_header_groups),
            (
                "trusted-header-secret-name",
                &self.auth.trusted_header_secret_name,
            ),
            ("trusted-header-secret", &self.auth.trusted_header_secret),
        ];
        for (key, value) in optional {
            if let Some(value) = value {
                vars.push((key.to_string(), value.clone()));
            }
        }
        if let Some(attempts) = self.aws.max_attempts {
            vars.push(("sts-max-attempts".to_string(), attempts.to_string()));
        }
        if let Some(groups) = &self.auth.admin_groups {
            vars.push(("admin-groups".to_string(), groups.join(",")));
        }
        vars
    }

    /// [`Config::component_vars`] with the catalog file's text as `catalog`.
    pub fn component_vars_with_catalog(&self) -> Result<Vec<(String, String)>> {
        let mut vars = self.component_vars();
        if let Some(file) = &self.catalog.file {
            let path = self.base_dir.join(file);
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("reading the catalog {}", path.display()))?;
            vars.push(("catalog".to_string(), text));
        }
        Ok(vars)
    }
}

/// `host`, `host:port` or `*.suffix[:port]`, as the egress allow-list compares them.
fn is_host_port(entry: &str) -> bool {
    let (host, port) = match entry.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (entry, None),
    };
    let host = host.strip_prefix("*.").unwrap_or(host);
    let host_ok = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
        && !host.starts_with(['.', '-']);
    host_ok && port.is_none_or(|p| p.parse::<u16>().is_ok_and(|p| p > 0))
}

#[cfg(unix)]
fn readable_by_others(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o077 != 0)
}

#[cfg(not(unix))]
fn readable_by_others(_path: &Path) -> bool {
    false
}

/// Where and why TOML refused the text: line, key and rule. toml's own
/// message quotes the offending line and sometimes the value, so only its
/// rule is kept, with anything quoted in it cut out.
fn describe_toml_error(text: &str, error: &toml::de::Error) -> String {
    let place = error.span().map(|span| {
        let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
        let line_text = text.lines().nth(line - 1).unwrap_or_default();
        match line_text.split_once('=') {
            Some((key, _)) => format!("line {line}, key {}", key.trim()),
            None => format!("line {line}"),
        }
    });
    let message = error.message();
    let rule = if message.starts_with("unknown field") {
        // Names only: the key written and the keys allowed.
        message.to_string()
    } else {
        unquote(message)
    };
    let rule = rule.lines().next().unwrap_or_default().to_string();
    match place {
        Some(place) => format!("{place}: {rule}"),
        None => rule,
    }
}

/// `text` with whatever stands between quotes or backticks replaced by `…`.
fn unquote(text: &str) -> String {
    let mut out = String::new();
    let mut open: Option<char> = None;
    for c in text.chars() {
        match open {
            Some(quote) if c == quote => {
                out.push('…');
                out.push(c);
                open = None;
            }
            Some(_) => {}
            None if c == '"' || c == '`' || c == '\'' => {
                out.push(c);
                open = Some(c);
            }
            None => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_errors_name_line_and_key_but_never_a_value() {
        let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
        for text in [
            format!("[aws]\nsecret_acess_key = \"{secret}\"\n"),
            format!("[aws]\nsecret_access_key = {secret}\n"),
            format!("[aws]\nsecret_access_key = [\"{secret}\"]\n"),
            format!("[auth]\nhs256_secret = \"{secret}\nmode = \"jwt\"\n"),
            format!("[auth]\nadmin_groups = \"{secret}\"\n"),
        ] {
            let message = Config::parse(&text).unwrap_err();
            assert!(!message.contains(secret), "{message}");
            assert!(!message.contains("wJalr"), "{message}");
            assert!(message.contains("line 2"), "{message}");
        }
        let misspelt = Config::parse("[aws]\nsecret_acess_key = \"x\"").unwrap_err();
        assert!(misspelt.contains("secret_acess_key"), "{misspelt}");
    }

    #[test]
    fn egress_entries_and_timeouts_are_checked() {
        for bad in [
            "https://host",
            "host/path",
            "host:0",
            "host:99999",
            "",
            "a b",
            ":443",
            "*",
            "*.",
            "a.*.com",
        ] {
            let text = format!("[egress]\nallow = [{bad:?}]");
            let message = Config::parse(&text).unwrap_err();
            assert!(message.contains("[egress] allow"), "{bad}: {message}");
        }
        let good = r#"[egress]
allow = ["127.0.0.1:5000", "sts.example.com", "*.vpce.amazonaws.com", "*.example.com:8443"]"#;
        assert!(Config::parse(good).is_ok());
        for bad in ["0s", "1ms", "1h"] {
            let message =
                Config::parse(&format!("[egress]\nconnect_timeout = {bad:?}")).unwrap_err();
            assert!(message.contains("connect_timeout"), "{bad}: {message}");
        }
    }

    #[test]
    fn admin_groups_set_empty_means_no_administrators() {
        let vars = |text: &str| Config::parse(text).unwrap().component_vars();
        assert!(
            !vars("").iter().any(|(k, _)| k == "admin-groups"),
            "unset: the component's default"
        );
        assert!(
            vars("[auth]\nadmin_groups = []").contains(&("admin-groups".into(), String::new()))
        );
    }

    #[test]
    fn the_contract_example_parses() {
        let text = r#"
[store]
url = "sqlite://pam.db"
[aws]
region = "eu-west-1"
sts_endpoint = "http://127.0.0.1:5000"
issuer = "pam-aws"
external_id = "my-project-id"
[egress]
allow = ["127.0.0.1:5001"]
connect_timeout = "2s"
[server]
listen = "127.0.0.1:8080"
[auth]
mode = "jwt"
admin_groups = ["pam-admins"]
"#;
        let config: Config = toml::from_str(text).unwrap();
        assert_eq!(config.egress.connect_timeout, Duration::from_secs(2));
        let allow = config.egress_allow_list();
        assert_eq!(
            allow,
            [
                "sts.eu-west-1.amazonaws.com",
                "signin.aws.amazon.com",
                "iam.amazonaws.com",
                "127.0.0.1:5000",
                "127.0.0.1:5001"
            ]
        );
        let vars = config.component_vars();
        assert!(vars.contains(&("sts-region".into(), "eu-west-1".into())));
        assert!(vars.contains(&("external-id".into(), "my-project-id".into())));
        assert!(vars.contains(&("admin-groups".into(), "pam-admins".into())));
    }

    #[test]
    fn server_limits_that_would_stall_are_refused() {
        let parse = |text: &str| toml::from_str::<Config>(text).unwrap().server.check();
        assert!(parse("[server]\nmax_concurrency = 16\nrequest_timeout = \"30s\"").is_ok());
        let zero = parse("[server]\nmax_concurrency = 0")
            .unwrap_err()
            .to_string();
        assert!(zero.contains("max_concurrency"), "{zero}");
        let instant = parse("[server]\nrequest_timeout = \"10ms\"")
            .unwrap_err()
            .to_string();
        assert!(instant.contains("request_timeout"), "{instant}");
        assert!(parse("[server]\ninstance_reuse = 1").is_ok());
        let never = parse("[server]\ninstance_reuse = 0")
            .unwrap_err()
            .to_string();
        assert!(never.contains("instance_reuse must be from 1"), "{never}");
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err = toml::from_str::<Config>("[aws]\nregoin = \"x\"").unwrap_err();
        assert!(err.to_string().contains("regoin"), "{err}");
    }

    #[test]
    fn the_sts_mode_picks_the_allowed_host() {
        let config: Config =
            toml::from_str("[aws]\nregion = \"us-west-2\"\nsts_endpoint_mode = \"fips\"").unwrap();
        assert_eq!(
            config.egress_allow_list()[0],
            "sts-fips.us-west-2.amazonaws.com"
        );
        assert!(
            config
                .component_vars()
                .contains(&("sts-endpoint-mode".into(), "fips".into()))
        );
        let config: Config = toml::from_str("[aws]\nsts_endpoint_mode = \"global\"").unwrap();
        assert_eq!(config.egress_allow_list()[0], "sts.amazonaws.com");
    }

    #[test]
    fn partitions_pick_their_default_endpoints() {
        let config: Config = toml::from_str("[aws]\nregion = \"cn-north-1\"").unwrap();
        assert_eq!(
            config.egress_allow_list(),
            [
                "sts.cn-north-1.amazonaws.com.cn",
                "signin.amazonaws.cn",
                "iam.cn-north-1.amazonaws.com.cn"
            ]
        );
    }
}
