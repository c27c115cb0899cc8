//! Base credentials for hop 1: named in the config, or resolved through the
//! standard AWS chain (environment, profile, SSO, container and instance
//! roles). They go to the component in memory only.

use crate::config::Config;
use aws_config::BehaviorVersion;
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use std::sync::OnceLock;

/// The configured credentials, or the standard chain (which caches and
/// refreshes temporary credentials, for a long-running server).
pub async fn provider(config: &Config) -> Option<SharedCredentialsProvider> {
    let aws = &config.aws;
    if let (Some(key_id), Some(secret)) = (&aws.access_key_id, &aws.secret_access_key) {
        return Some(SharedCredentialsProvider::new(Credentials::new(
            key_id,
            secret,
            aws.session_token.clone(),
            None,
            "pam-aws-config",
        )));
    }
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(LazyHttps::default())
        .region(aws_config::Region::new(config.region().to_string()));
    if let Some(profile) = &aws.profile {
        loader = loader.profile_name(profile);
    }
    loader.load().await.credentials_provider()
}

/// The chain's HTTPS client (SSO, web identity, instance roles), built on
/// first use: building it reads the platform's root certificates, ~9 ms a
/// CLI call whose credentials come from the environment never needs.
#[derive(Debug, Default)]
struct LazyHttps(OnceLock<SharedHttpClient>);

impl HttpClient for LazyHttps {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        let client = self.0.get_or_init(|| {
            aws_smithy_http_client::Builder::new()
                .tls_provider(Provider::Rustls(CryptoMode::Ring))
                .build_https()
        });
        client.http_connector(settings, components)
    }
}

/// The credentials as the component's `wasi:config` keys.
pub fn as_vars(credentials: &Credentials) -> Vec<(String, String)> {
    let mut vars = vec![
        (
            "aws-access-key-id".to_string(),
            credentials.access_key_id().to_string(),
        ),
        (
            "aws-secret-access-key".to_string(),
            credentials.secret_access_key().to_string(),
        ),
    ];
    if let Some(token) = credentials.session_token() {
        vars.push(("aws-session-token".to_string(), token.to_string()));
    }
    vars
}
