//! What every way of running the component assembles from the
//! configuration, in one place: the store, the component's config keys,
//! the egress allow-list and the source of the base credentials. The CLI,
//! `pam-aws serve` and the tests build their instances from a [`Host`].

use crate::config::Config;
use crate::credentials;
use crate::egress::Egress;
use crate::kv::{self, Backend, Commits};
use crate::runtime::CallContext;
use anyhow::{Context, Result};
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

pub struct Host {
    /// The component's `wasi:config` keys, without credentials.
    pub vars: Vec<(String, String)>,
    pub backend: Arc<dyn Backend>,
    pub egress: Egress,
    /// Where base credentials come from; `None` for calls that need none.
    pub credentials: Option<SharedCredentialsProvider>,
    /// A missing credential source is said once, not per request.
    warned: AtomicBool,
}

/// Whether the instances will call AWS, and so need base credentials.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Calls {
    Aws,
    StoreOnly,
}

impl Host {
    pub async fn open(config: &Config, calls: Calls, commits: Commits) -> Result<Host> {
        let credentials = match calls {
            Calls::Aws => credentials::provider(config).await,
            Calls::StoreOnly => None,
        };
        if calls == Calls::Aws && credentials.is_none() {
            tracing::warn!("no AWS credential provider is available");
        }
        Ok(Host {
            vars: config.component_vars_with_catalog()?,
            backend: kv::open_with(&config.store.url, &config.base_dir, commits)?,
            egress: Egress::new(
                config.egress_allow_list(),
                config.egress.connect_timeout,
                config.egress.response_timeout,
            ),
            credentials,
            warned: AtomicBool::new(false),
        })
    }

    /// What one instance gets: the keys plus base credentials fresh from
    /// the provider (which caches and refreshes role credentials), and
    /// `egress` (this host's, or a serving thread's with its own pools).
    /// Without credentials the component still checks the input, then
    /// reports them missing; the chain's reason goes to the log.
    pub async fn call(&self, egress: &Egress) -> CallContext {
        let mut vars = self.vars.clone();
        if let Some(provider) = &self.credentials {
            let resolved = provider.provide_credentials().await.context(
                "no base AWS credentials found (environment, profile, SSO, container or instance role)",
            );
            match resolved {
                Ok(credentials) => vars.extend(credentials::as_vars(&credentials)),
                Err(e) if !self.warned.swap(true, Ordering::Relaxed) => {
                    tracing::warn!("{e:#}")
                }
                Err(_) => {}
            }
        }
        CallContext {
            vars,
            backend: self.backend.clone(),
            egress: egress.clone(),
        }
    }
}
