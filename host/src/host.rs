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
use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use wasmtime_wasi_config::WasiConfigVariables;

pub struct Host {
    /// The component's `wasi:config` keys, without credentials. Fixed once
    /// calls begin: the map built from them is kept for later calls.
    pub vars: Vec<(String, String)>,
    pub backend: Arc<dyn Backend>,
    pub egress: Egress,
    /// Where base credentials come from; `None` for calls that need none.
    pub credentials: Option<SharedCredentialsProvider>,
    /// A missing credential source is said once, not per request.
    warned: AtomicBool,
    /// The keyvalue bucket the component may open (`kv-bucket`, or `""`).
    bucket: String,
    /// The keys last handed out, with the credentials they hold.
    last_config: Mutex<Option<(Option<Credentials>, Arc<WasiConfigVariables>)>>,
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
        let vars = config.component_vars_with_catalog()?;
        let bucket = vars
            .iter()
            .find(|(key, _)| key == "kv-bucket")
            .map(|(_, value)| value.clone())
            .unwrap_or_default();
        Ok(Host {
            vars,
            bucket,
            last_config: Mutex::new(None),
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
        let mut credentials = None;
        if let Some(provider) = &self.credentials {
            let resolved = provider.provide_credentials().await.context(
                "no base AWS credentials found (environment, profile, SSO, container or instance role)",
            );
            match resolved {
                Ok(resolved) => credentials = Some(resolved),
                Err(e) if !self.warned.swap(true, Ordering::Relaxed) => {
                    tracing::warn!("{e:#}")
                }
                Err(_) => {}
            }
        }
        CallContext {
            config: self.config_with(credentials),
            bucket: self.bucket.clone(),
            backend: self.backend.clone(),
            egress: egress.clone(),
        }
    }

    /// The keys with `credentials`: the map the last call got while the
    /// credentials stay the same (every request of `serve` until they
    /// rotate), so a request does not copy every key and the catalog again.
    fn config_with(&self, credentials: Option<Credentials>) -> Arc<WasiConfigVariables> {
        let mut last = self
            .last_config
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((seen, config)) = &*last
            && *seen == credentials
        {
            return config.clone();
        }
        let with_credentials = credentials.iter().flat_map(credentials::as_vars);
        let config: Arc<WasiConfigVariables> =
            Arc::new(self.vars.iter().cloned().chain(with_credentials).collect());
        *last = Some((credentials, config.clone()));
        config
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn credentials(key_id: &str) -> Option<Credentials> {
        Some(Credentials::new(key_id, "secret", None, None, "test"))
    }

    #[tokio::test]
    async fn calls_share_the_config_map_until_the_credentials_change() {
        let config = Config::parse("[store]\nurl = \"memory:\"\n").expect("a config");
        let host = Host::open(&config, Calls::StoreOnly, Commits::EachWrite)
            .await
            .expect("a host");
        let first = host.config_with(credentials("AKIDFIRST"));
        let again = host.config_with(credentials("AKIDFIRST"));
        assert!(Arc::ptr_eq(&first, &again), "the same credentials: one map");

        // Rotated credentials get a map of their own, never the old one.
        let rotated = host.config_with(credentials("AKIDROTATED"));
        assert!(!Arc::ptr_eq(&first, &rotated));
        let back = host.config_with(credentials("AKIDFIRST"));
        assert!(!Arc::ptr_eq(&rotated, &back));
        assert!(!Arc::ptr_eq(&host.config_with(None), &back));
    }
}
