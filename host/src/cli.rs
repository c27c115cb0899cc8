//! The `pam-aws` command line (CONTRACT.md). It acts as an administrator
//! with the operator's configuration; every command is one call into a
//! fresh instance of the component.

use crate::bindings::types::{
    AccessRequest, Error as BrokerError, NewAccount, NewResource, SessionFilter,
};
use crate::config::Config;
use crate::egress::Egress;
use crate::output;
use crate::runtime::{CallContext, Runtime};
use crate::{credentials, kv};
use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use serde_json::{Value, json};
use std::path::PathBuf;

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
    /// Granted sessions, newest first.
    Sessions {
        /// Only sessions that have not expired.
        #[arg(long)]
        active: bool,
        /// Only this user's sessions.
        #[arg(long)]
        user: Option<String>,
    },
    /// Audit events, newest first.
    Audit {
        /// How many events at most.
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
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

/// What a command prints: JSON for `--json`, text otherwise.
struct Printed {
    json: Value,
    text: String,
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
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
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
        .with_writer(std::io::stderr)
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

/// `RES/NAME` as its two halves.
fn split_target(target: &str) -> Result<(String, String), Failure> {
    match target.split_once('/') {
        Some((resource, account)) if !resource.is_empty() && !account.is_empty() => {
            Ok((resource.to_string(), account.to_string()))
        }
        _ => Err(Failure::Broker(BrokerError::InvalidInput(
            crate::bindings::types::InvalidInput {
                field: "target".to_string(),
                message: "must be RESOURCE/ACCOUNT".to_string(),
            },
        ))),
    }
}

fn actor() -> String {
    let user = std::env::var("USER").unwrap_or_else(|_| "operator".to_string());
    format!("cli:{user}")
}

/// Whether a command calls AWS, and so needs base credentials.
fn calls_aws(command: &Command) -> bool {
    matches!(
        command,
        Command::Access { .. }
            | Command::CredentialProcess { .. }
            | Command::Revoke { .. }
            | Command::Resource(ResourceCommand::Create { .. })
            | Command::Account(AccountCommand::Create(_))
    )
}

fn write_component(out: &std::path::Path) -> Result<Printed, Failure> {
    std::fs::write(out, crate::PLUGIN_WASM)
        .with_context(|| format!("writing {}", out.display()))?;
    let text = format!(
        "wrote {} ({} bytes)",
        out.display(),
        crate::PLUGIN_WASM.len()
    );
    Ok(Printed {
        json: json!({"path": out, "bytes": crate::PLUGIN_WASM.len()}),
        text,
    })
}

async fn run(cli: Cli) -> Result<Printed, Failure> {
    // Writing the component needs no configuration, store or instance.
    if let Command::Component { out } = &cli.command {
        return write_component(out);
    }
    let config = Config::load(cli.config.as_deref())?;
    let wasm = match &cli.plugin {
        Some(path) => {
            std::fs::read(path).with_context(|| format!("reading plugin {}", path.display()))?
        }
        None => crate::PLUGIN_WASM.to_vec(),
    };
    if let Command::Serve { listen } = cli.command {
        crate::server::serve(&config, &wasm, listen).await?;
        return Ok(Printed {
            json: json!({"stopped": true}),
            text: String::new(),
        });
    }
    let backend = kv::open(&config.store.url, &config.base_dir)?;
    let mut vars = config.component_vars_with_catalog()?;
    if calls_aws(&cli.command) {
        // Without credentials the component still validates the input first,
        // then reports them missing; the chain's reason goes to the log.
        match credentials::resolve(&config).await {
            Ok(credentials) => vars.extend(credentials::as_vars(&credentials)),
            Err(e) => tracing::warn!("{e:#}"),
        }
    }
    let egress = Egress::new(
        config.egress_allow_list(),
        config.egress.connect_timeout,
        config.egress.response_timeout,
    );
    let runtime = Runtime::new(&wasm)?;
    let (mut store, plugin) = runtime
        .instantiate(CallContext {
            vars,
            backend,
            egress,
        })
        .await?;
    let broker = plugin.pam_aws_console_broker();
    let store = &mut store;

    let printed = match cli.command {
        Command::Resource(ResourceCommand::Create {
            name,
            role_arn,
            external_id,
            source_identity,
        }) => {
            let input = NewResource {
                name,
                role_arn,
                external_id,
                source_identity,
            };
            let resource = broker
                .call_create_resource(store, &actor(), &input)
                .await??;
            let text = format!("created resource {} ({})", resource.name, resource.role_arn);
            Printed {
                json: output::resource_json(&resource),
                text,
            }
        }
        Command::Resource(ResourceCommand::List) => {
            let resources = broker.call_list_resources(store).await??;
            let json = Value::Array(resources.iter().map(output::resource_json).collect());
            Printed {
                json,
                text: output::resources_table(&resources).to_string(),
            }
        }
        Command::Resource(ResourceCommand::Show { name }) => {
            let resource = broker.call_get_resource(store, &name).await??;
            Printed {
                json: output::resource_json(&resource),
                text: output::resources_table(&[resource]).to_string(),
            }
        }
        Command::Resource(ResourceCommand::Delete { name }) => {
            broker
                .call_delete_resource(store, &actor(), &name)
                .await??;
            Printed {
                json: json!({"deleted": name}),
                text: format!("deleted resource {name}"),
            }
        }
        Command::Account(AccountCommand::Create(a)) => {
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
            let account = broker
                .call_create_account(store, &actor(), &input)
                .await??;
            let text = format!(
                "created account {}/{} ({})",
                account.resource, account.name, account.role_arn
            );
            Printed {
                json: output::account_json(&account),
                text,
            }
        }
        Command::Account(AccountCommand::List { resource }) => {
            let accounts = broker
                .call_list_accounts(store, resource.as_deref())
                .await??;
            let json = Value::Array(accounts.iter().map(output::account_json).collect());
            Printed {
                json,
                text: output::accounts_table(&accounts).to_string(),
            }
        }
        Command::Account(AccountCommand::Show { target }) => {
            let (resource, name) = split_target(&target)?;
            let account = broker.call_get_account(store, &resource, &name).await??;
            Printed {
                json: output::account_json(&account),
                text: output::accounts_table(&[account]).to_string(),
            }
        }
        Command::Account(AccountCommand::Delete { target }) => {
            let (resource, name) = split_target(&target)?;
            broker
                .call_delete_account(store, &actor(), &resource, &name)
                .await??;
            Printed {
                json: json!({"deleted": target}),
                text: format!("deleted account {target}"),
            }
        }
        Command::Access {
            target,
            user,
            open,
            console,
        } => {
            let (resource, account) = split_target(&target)?;
            let (region, service) = console.page();
            let grant = broker
                .call_access(
                    store,
                    &AccessRequest {
                        resource,
                        account,
                        user,
                        region,
                        service,
                    },
                )
                .await??;
            eprintln!(
                "session {} as {} until {}",
                grant.session.id, grant.session.assumed_role_arn, grant.session.expires_at
            );
            if open && let Err(e) = webbrowser::open(&grant.url) {
                eprintln!("pam-aws: could not open a browser ({e}); use the URL below");
            }
            let json = json!({"url": grant.url, "session": output::session_json(&grant.session)});
            Printed {
                json,
                text: grant.url,
            }
        }
        Command::CredentialProcess { target, user } => {
            let (resource, account) = split_target(&target)?;
            let request = AccessRequest {
                resource,
                account,
                user,
                region: None,
                service: None,
            };
            let grant = broker.call_credentials(store, &request).await??;
            // The format the AWS CLI and SDKs read, whatever --json says.
            let json = json!({
                "Version": 1,
                "AccessKeyId": grant.access_key_id,
                "SecretAccessKey": grant.secret_access_key,
                "SessionToken": grant.session_token,
                "Expiration": grant.expiration,
            });
            Printed {
                text: json.to_string(),
                json,
            }
        }
        Command::Revoke {
            session,
            user,
            account,
        } => {
            let sessions = match (session, user, account) {
                (Some(id), _, _) => vec![broker.call_revoke_session(store, &actor(), &id).await??],
                (None, Some(user), Some(target)) => {
                    let (resource, account) = split_target(&target)?;
                    broker
                        .call_revoke_user(store, &actor(), &resource, &account, &user)
                        .await??
                }
                // clap requires a session id or both --user and --account.
                _ => Vec::new(),
            };
            let json = Value::Array(sessions.iter().map(output::session_json).collect());
            Printed {
                json,
                text: output::sessions_table(&sessions).to_string(),
            }
        }
        Command::Sessions { active, user } => {
            let sessions = broker
                .call_list_sessions(
                    store,
                    &SessionFilter {
                        active_only: active,
                        user,
                    },
                )
                .await??;
            let json = Value::Array(sessions.iter().map(output::session_json).collect());
            Printed {
                json,
                text: output::sessions_table(&sessions).to_string(),
            }
        }
        Command::Audit { limit } => {
            let events = broker.call_list_audit_events(store, Some(limit)).await??;
            let json = Value::Array(events.iter().map(output::audit_json).collect());
            Printed {
                json,
                text: output::audit_table(&events).to_string(),
            }
        }
        Command::Component { out } => write_component(&out)?,
        Command::Serve { .. } => {
            return Err(anyhow::anyhow!("serve runs before any instance").into());
        }
    };
    Ok(printed)
}
