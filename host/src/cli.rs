//! The `pam-aws` command line (CONTRACT.md). It acts as an administrator
//! with the operator's configuration; every command is one call into a
//! fresh instance of the component.

use crate::bindings::broker::Guest as BrokerApi;
use crate::bindings::types::{
    AccessRequest, Error as BrokerError, InvalidInput, NewAccount, NewResource, SessionFilter,
};
use crate::config::Config;
use crate::host::{Calls, Host};
use crate::kv::Commits;
use crate::output::{self, to_json};
use crate::runtime::{HostState, Runtime};
use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use serde_json::{Value, json};
use std::borrow::Cow;
use std::path::{Path, PathBuf};
use wasmtime::Store;

#[derive(Parser)]
#[command(
    name = "pam-aws",
    version,
    about = "Just-in-time, audited access to the AWS Management Console"
)]
pub struct Cli {
    /// Configuration file (TOML). Default: ./pam-aws.toml if present.
    #[arg(long, global = true, env = "PAM_AWS_CONFIG")]
    config: Option<PathBuf>,
    /// Machine-readable output on stdout.
    #[arg(long, global = true)]
    json: bool,
    /// Run this component instead of the embedded one.
    #[arg(long, global = true, value_name = "PATH")]
    plugin: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    #[command(flatten)]
    Broker(BrokerCommand),
    /// Serve the REST API (the component's wasi:http handler) until SIGTERM or ctrl-c.
    Serve {
        /// Address to listen on. Default: [server] listen, else 127.0.0.1:8080.
        #[arg(long, value_name = "ADDR")]
        listen: Option<String>,
    },
    /// Write the embedded component, for loading into a gateway.
    Component {
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
}

/// The commands that are one call into an instance of the component.
#[derive(Subcommand)]
enum BrokerCommand {
    /// Resources: AWS accounts reached through a Resource Role.
    #[command(subcommand)]
    Resource(ResourceCommand),
    /// Accounts: Target Roles users request.
    #[command(subcommand)]
    Account(AccountCommand),
    /// Get a console sign-in URL for RES/NAME as a user.
    Access {
        /// The account, as RESOURCE/ACCOUNT.
        target: String,
        /// The user's email; becomes the role session name.
        #[arg(long)]
        user: String,
        /// Open the URL in the default browser.
        #[arg(long)]
        open: bool,
        #[command(flatten)]
        console: ConsolePage,
    },
    /// Print the Target Role's credentials as the AWS CLI's credential_process
    /// expects (no console URL). Recorded as a session and audited.
    CredentialProcess {
        /// The account, as RESOURCE/ACCOUNT.
        target: String,
        /// The user's email; becomes the role session name.
        #[arg(long)]
        user: String,
    },
    /// Revoke a session before it expires, or all of a user's sessions on an
    /// account: an inline deny policy on the Target Role.
    Revoke {
        /// The session id (or --user with --account).
        #[arg(required_unless_present = "user", conflicts_with_all = ["user", "account"])]
        session: Option<String>,
        /// Every active session of this user...
        #[arg(long, requires = "account")]
        user: Option<String>,
        /// ...on this account (RESOURCE/ACCOUNT).
        #[arg(long, requires = "user")]
        account: Option<String>,
    },
    /// Granted sessions, newest first, a page at a time.
    Sessions {
        /// Only sessions that have not expired.
        #[arg(long)]
        active: bool,
        /// Only this user's sessions.
        #[arg(long)]
        user: Option<String>,
        /// Only sessions on this resource.
        #[arg(long, conflicts_with = "account")]
        resource: Option<String>,
        /// Only sessions on this account (RESOURCE/ACCOUNT).
        #[arg(long)]
        account: Option<String>,
        #[command(flatten)]
        page: PageArgs,
    },
    /// Audit events, newest first, a page at a time.
    Audit {
        #[command(flatten)]
        page: PageArgs,
    },
    /// Remove a bounded batch of audit events and sessions past [store]
    /// audit_retention / session_retention (never an active session).
    Prune,
    /// Upgrade a store written by an earlier release (done on first use too).
    Migrate,
}

/// Which page of a list.
#[derive(Args)]
struct PageArgs {
    /// How many at most (1 to 1000).
    #[arg(long, default_value_t = 100)]
    limit: u32,
    /// Only those older than this id (the last id of the previous page).
    #[arg(long, value_name = "ID")]
    before: Option<String>,
}

impl PageArgs {
    /// What follows a full page's table: how to read the next one.
    fn more(&self, shown: usize, last: Option<&str>) -> String {
        match last {
            Some(id) if shown == self.limit as usize => {
                format!("\n(first {shown}; older ones: --before {id})")
            }
            _ => String::new(),
        }
    }
}

#[derive(Subcommand)]
enum ResourceCommand {
    /// Create a resource; hop 1 is performed first to prove the role works.
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        role_arn: String,
        /// Default: the configured external id.
        #[arg(long)]
        external_id: Option<String>,
        /// Set SourceIdentity on hop 1 to the user's session name.
        #[arg(long)]
        source_identity: bool,
    },
    List,
    Show {
        name: String,
    },
    Delete {
        name: String,
    },
}

#[derive(Subcommand)]
enum AccountCommand {
    /// Create an account; both hops are performed first.
    Create(AccountCreate),
    List {
        #[arg(long)]
        resource: Option<String>,
    },
    Show {
        target: String,
    },
    Delete {
        target: String,
    },
}

#[derive(Args)]
struct AccountCreate {
    #[arg(long)]
    resource: String,
    #[arg(long)]
    name: String,
    #[arg(long)]
    role_arn: String,
    /// Console session duration, 15m to 1h.
    #[arg(long)]
    duration: String,
    #[arg(long)]
    description: Option<String>,
    #[command(flatten)]
    console: ConsolePage,
    /// Who may request it: an email, @domain or group:NAME (repeatable).
    #[arg(long = "allow", value_name = "WHO")]
    allow: Vec<String>,
}

/// Where the console opens (per account, or for one access).
#[derive(Args)]
struct ConsolePage {
    /// Console region (default: the console's home page).
    #[arg(long)]
    region: Option<String>,
    /// A console service to open, e.g. s3 or ec2.
    #[arg(long, conflicts_with = "path")]
    service: Option<String>,
    /// A console path to open, e.g. /cloudwatch/home.
    #[arg(long)]
    path: Option<String>,
}

impl ConsolePage {
    /// The WIT `service` field holds a service name or a path.
    fn page(self) -> (Option<String>, Option<String>) {
        (self.region, self.service.or(self.path))
    }
}

/// A failed command: the broker's typed error, or the host's own.
enum Failure {
    Broker(BrokerError),
    Host(anyhow::Error),
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure::Host(e)
    }
}

impl From<wasmtime::Error> for Failure {
    fn from(e: wasmtime::Error) -> Self {
        Failure::Host(e.into())
    }
}

impl From<BrokerError> for Failure {
    fn from(e: BrokerError) -> Self {
        Failure::Broker(e)
    }
}

type Outcome = Result<Printed, Failure>;

/// What a command prints: JSON for `--json`, text otherwise.
struct Printed {
    json: Value,
    text: String,
}

impl Printed {
    fn new(json: Value, text: impl std::fmt::Display) -> Self {
        Printed {
            json,
            text: text.to_string(),
        }
    }
}

/// Parses arguments, runs the command, prints, and returns the exit code.
pub fn main() -> i32 {
    let cli = Cli::parse();
    // A server logs one line per request; a CLI call only what goes wrong.
    if matches!(cli.command, Command::Serve { .. }) {
        init_logging("error,pam_aws_host=info", true);
    } else {
        init_logging("error,pam_aws_host=warn", false);
    }
    let json = cli.json;
    // Single-threaded: a CLI call is one instance, and `pam-aws serve`
    // starts a runtime of its own per core for its connections.
    let mut runtime = tokio::runtime::Builder::new_current_thread();
    let runtime = match runtime.enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => return report(json, Failure::Host(e.into())),
    };
    match runtime.block_on(run(cli)) {
        Ok(printed) => {
            if json {
                print_line(&printed.json.to_string());
            } else if !printed.text.is_empty() {
                print_line(&printed.text);
            }
            0
        }
        Err(failure) => report(json, failure),
    }
}

/// Servers log JSON lines (one per request); CLI calls log plain text.
fn init_logging(default_filter: &str, json_lines: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("PAM_AWS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(crate::logs::Stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    if json_lines {
        logs.json().flatten_event(true).init();
    } else {
        logs.init();
    }
}

fn report(json: bool, failure: Failure) -> i32 {
    let (code, message, body) = match &failure {
        Failure::Broker(e) => (
            output::exit_code(e),
            output::error_message(e),
            output::error_json(e),
        ),
        Failure::Host(e) => {
            let message = format!("{e:#}");
            let body = json!({"error": {"kind": "host", "field": null, "message": message}});
            (1, message, body)
        }
    };
    eprintln!("pam-aws: {}", output::printable(&message));
    if json {
        print_line(&body.to_string());
    }
    code
}

/// Prints to stdout; a reader that went away (`pam-aws audit | head`) is
/// not an error worth a panic.
fn print_line(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}").and_then(|()| out.flush());
}

async fn run(cli: Cli) -> Outcome {
    match cli.command {
        // Writing the component needs no configuration, store or instance.
        Command::Component { out } => write_component(&out),
        Command::Serve { listen } => {
            let config = Config::load(cli.config.as_deref())?;
            let wasm = plugin_wasm(cli.plugin.as_deref())?;
            crate::server::serve(&config, &wasm, listen).await?;
            Ok(Printed::new(json!({"stopped": true}), ""))
        }
        Command::Broker(command) => {
            let config = Config::load(cli.config.as_deref())?;
            let wasm = plugin_wasm(cli.plugin.as_deref())?;
            let host = Host::open(&config, calls(&command), Commits::PerCall).await?;
            let runtime = Runtime::new(&wasm)?;
            let (mut store, plugin) = runtime.instantiate(host.call(&host.egress).await).await?;
            let call = Call {
                broker: plugin.pam_aws_console_broker(),
                store: &mut store,
            };
            let outcome = call.run(command).await;
            // A failed command's audit event is kept too; nothing is printed
            // (no URL handed out) until what the call wrote is durable.
            match host.backend.commit() {
                Ok(()) => outcome,
                Err(e) => Err(Failure::Broker(BrokerError::Storage(format!("{e:#}")))),
            }
        }
    }
}

/// The component to run: `--plugin`'s file, else the embedded one (borrowed,
/// so its build-time digest keys the compiled-code cache).
fn plugin_wasm(path: Option<&Path>) -> Result<Cow<'static, [u8]>> {
    match path {
        Some(path) => std::fs::read(path)
            .map(Cow::Owned)
            .with_context(|| format!("reading plugin {}", path.display())),
        None => Ok(Cow::Borrowed(crate::PLUGIN_WASM)),
    }
}

fn write_component(out: &Path) -> Outcome {
    std::fs::write(out, crate::PLUGIN_WASM)
        .with_context(|| format!("writing {}", out.display()))?;
    let bytes = crate::PLUGIN_WASM.len();
    Ok(Printed::new(
        json!({"path": out, "bytes": bytes}),
        format!("wrote {} ({bytes} bytes)", out.display()),
    ))
}

/// Whether a command calls AWS, and so needs base credentials.
fn calls(command: &BrokerCommand) -> Calls {
    match command {
        BrokerCommand::Access { .. }
        | BrokerCommand::CredentialProcess { .. }
        | BrokerCommand::Revoke { .. }
        | BrokerCommand::Resource(ResourceCommand::Create { .. })
        | BrokerCommand::Account(AccountCommand::Create(_)) => Calls::Aws,
        _ => Calls::StoreOnly,
    }
}

/// `RES/NAME` as its two halves.
fn split_target(target: &str) -> Result<(String, String), Failure> {
    match target.split_once('/') {
        Some((resource, account)) if !resource.is_empty() && !account.is_empty() => {
            Ok((resource.to_string(), account.to_string()))
        }
        _ => Err(usage("target", "must be RESOURCE/ACCOUNT")),
    }
}

fn usage(field: &str, message: &str) -> Failure {
    Failure::Broker(BrokerError::InvalidInput(InvalidInput {
        field: field.to_string(),
        message: message.to_string(),
    }))
}

fn actor() -> String {
    let user = std::env::var("USER").unwrap_or_else(|_| "operator".to_string());
    format!("cli:{user}")
}

/// One command's call into the component's `broker` export.
struct Call<'a> {
    broker: &'a BrokerApi,
    store: &'a mut Store<HostState>,
}

impl Call<'_> {
    async fn run(self, command: BrokerCommand) -> Outcome {
        match command {
            BrokerCommand::Resource(command) => self.resource(command).await,
            BrokerCommand::Account(command) => self.account(command).await,
            BrokerCommand::Access {
                target,
                user,
                open,
                console,
            } => self.access(&target, user, open, console).await,
            BrokerCommand::CredentialProcess { target, user } => {
                self.credential_process(&target, user).await
            }
            BrokerCommand::Revoke {
                session,
                user,
                account,
            } => self.revoke(session, user, account).await,
            BrokerCommand::Sessions {
                active,
                user,
                resource,
                account,
                page,
            } => {
                let (resource, account) = match account {
                    Some(target) => {
                        let (resource, account) = split_target(&target)?;
                        (Some(resource), Some(account))
                    }
                    None => (resource, None),
                };
                let filter = SessionFilter {
                    active_only: active,
                    user,
                    resource,
                    account,
                    limit: Some(page.limit),
                    before: page.before.clone(),
                };
                let sessions = self
                    .broker
                    .call_list_sessions(self.store, &filter)
                    .await??;
                let more = page.more(sessions.len(), sessions.last().map(|s| s.id.as_str()));
                let table = output::sessions_table(&sessions, None);
                Ok(Printed::new(to_json(&sessions), format!("{table}{more}")))
            }
            BrokerCommand::Audit { page } => {
                let events = self
                    .broker
                    .call_list_audit_events(self.store, Some(page.limit), page.before.as_deref())
                    .await??;
                let more = page.more(events.len(), events.last().map(|e| e.id.as_str()));
                let table = output::audit_table(&events, None);
                Ok(Printed::new(to_json(&events), format!("{table}{more}")))
            }
            BrokerCommand::Prune => {
                let report = self.broker.call_prune(self.store, &actor()).await??;
                let text = format!(
                    "pruned {} audit event(s) and {} session(s){}",
                    report.audit_events,
                    report.sessions,
                    if report.more {
                        "; more are due: run it again"
                    } else {
                        ""
                    }
                );
                Ok(Printed::new(to_json(&report), text))
            }
            BrokerCommand::Migrate => {
                let report = self.broker.call_migrate(self.store, &actor()).await??;
                let text = match report.records {
                    0 => format!("the store is at layout {}; nothing to do", report.to_layout),
                    n => format!(
                        "upgraded the store from layout {} to {}: {n} record(s) indexed",
                        report.from_layout, report.to_layout
                    ),
                };
                Ok(Printed::new(to_json(&report), text))
            }
        }
    }

    async fn resource(self, command: ResourceCommand) -> Outcome {
        let (broker, store) = (self.broker, self.store);
        match command {
            ResourceCommand::Create {
                name,
                role_arn,
                external_id,
                source_identity,
            } => {
                let input = NewResource {
                    name,
                    role_arn,
                    external_id,
                    source_identity,
                };
                let created = broker
                    .call_create_resource(store, &actor(), &input)
                    .await??;
                let text = format!("created resource {} ({})", created.name, created.role_arn);
                Ok(Printed::new(to_json(&created), text))
            }
            ResourceCommand::List => {
                let resources = broker.call_list_resources(store).await??;
                let table = output::resources_table(&resources, None);
                Ok(Printed::new(to_json(&resources), table))
            }
            ResourceCommand::Show { name } => {
                let resource = broker.call_get_resource(store, &name).await??;
                let table = output::resources_table(std::slice::from_ref(&resource), None);
                Ok(Printed::new(to_json(&resource), table))
            }
            ResourceCommand::Delete { name } => {
                broker
                    .call_delete_resource(store, &actor(), &name)
                    .await??;
                let text = format!("deleted resource {name}");
                Ok(Printed::new(json!({ "deleted": name }), text))
            }
        }
    }

    async fn account(self, command: AccountCommand) -> Outcome {
        let (broker, store) = (self.broker, self.store);
        match command {
            AccountCommand::Create(a) => {
                let (region, service) = a.console.page();
                let input = NewAccount {
                    resource: a.resource,
                    name: a.name,
                    role_arn: a.role_arn,
                    duration: a.duration,
                    description: a.description,
                    region,
                    service,
                    allow: a.allow,
                };
                let created = broker
                    .call_create_account(store, &actor(), &input)
                    .await??;
                let text = format!(
                    "created account {}/{} ({})",
                    created.resource, created.name, created.role_arn
                );
                Ok(Printed::new(to_json(&created), text))
            }
            AccountCommand::List { resource } => {
                let accounts = broker
                    .call_list_accounts(store, resource.as_deref())
                    .await??;
                let table = output::accounts_table(&accounts, None);
                Ok(Printed::new(to_json(&accounts), table))
            }
            AccountCommand::Show { target } => {
                let (resource, name) = split_target(&target)?;
                let account = broker.call_get_account(store, &resource, &name).await??;
                let table = output::accounts_table(std::slice::from_ref(&account), None);
                Ok(Printed::new(to_json(&account), table))
            }
            AccountCommand::Delete { target } => {
                let (resource, name) = split_target(&target)?;
                broker
                    .call_delete_account(store, &actor(), &resource, &name)
                    .await??;
                let text = format!("deleted account {target}");
                Ok(Printed::new(json!({ "deleted": target }), text))
            }
        }
    }

    async fn access(self, target: &str, user: String, open: bool, console: ConsolePage) -> Outcome {
        let (resource, account) = split_target(target)?;
        let (region, service) = console.page();
        let request = AccessRequest {
            resource,
            account,
            user,
            region,
            service,
        };
        let grant = self.broker.call_access(self.store, &request).await??;
        eprintln!(
            "session {} as {} until {}",
            grant.session.id, grant.session.assumed_role_arn, grant.session.expires_at
        );
        if open && let Err(e) = webbrowser::open(&grant.url) {
            eprintln!("pam-aws: could not open a browser ({e}); use the URL below");
        }
        Ok(Printed::new(to_json(&grant), &grant.url))
    }

    async fn credential_process(self, target: &str, user: String) -> Outcome {
        let (resource, account) = split_target(target)?;
        let request = AccessRequest {
            resource,
            account,
            user,
            region: None,
            service: None,
        };
        let grant = self.broker.call_credentials(self.store, &request).await??;
        // The format the AWS CLI and SDKs read, whatever --json says.
        let json = json!({
            "Version": 1,
            "AccessKeyId": grant.access_key_id,
            "SecretAccessKey": grant.secret_access_key,
            "SessionToken": grant.session_token,
            "Expiration": grant.expiration,
        });
        Ok(Printed::new(json.clone(), json))
    }

    async fn revoke(
        self,
        session: Option<String>,
        user: Option<String>,
        account: Option<String>,
    ) -> Outcome {
        let (broker, store) = (self.broker, self.store);
        let sessions = match (session, user, account) {
            (Some(id), _, _) => vec![broker.call_revoke_session(store, &actor(), &id).await??],
            (None, Some(user), Some(target)) => {
                let (resource, account) = split_target(&target)?;
                broker
                    .call_revoke_user(store, &actor(), &resource, &account, &user)
                    .await??
            }
            _ => {
                return Err(usage(
                    "session",
                    "give a SESSION_ID, or --user EMAIL with --account RESOURCE/ACCOUNT",
                ));
            }
        };
        let table = output::sessions_table(&sessions, None);
        Ok(Printed::new(to_json(&sessions), table))
    }
}
