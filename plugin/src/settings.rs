//! The component's configuration, read from `wasi:config/store` (keys in
//! CONTRACT.md). Base credentials are read only when AWS is called, so
//! listing records works without them.

use crate::error::{Result, config};
use crate::partition::{Partition, StsMode};
use crate::platform::Platform;
use crate::query::Endpoint;
use crate::retry;
use aws_credential_types::Credentials;
use std::time::Duration;

pub struct Settings {
    pub sts_region: String,
    pub sts_endpoint: Option<String>,
    pub sts_mode: StsMode,
    pub federation_endpoint: Option<String>,
    pub iam_endpoint: Option<String>,
    pub issuer: String,
    pub external_id: Option<String>,
    pub retry: retry::Policy,
    /// The most one operation (both hops, token, retries) may take.
    pub access_timeout: Duration,
}

/// A config value that may arrive as `base64:…`: hosts whose flags split on
/// commas (`wasmtime serve -Sconfig-var=k=v`) cannot carry JSON otherwise.
pub fn unwrap_base64(key: &str, value: String) -> Result<String> {
    use base64::Engine;
    let Some(encoded) = value.strip_prefix("base64:") else {
        return Ok(value);
    };
    base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(|| {
            config(format!(
                "{key} starts with base64: but is not base64 of UTF-8 text"
            ))
        })
}

fn non_empty(value: Option<String>) -> Option<String> {
    value
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// `sts-max-attempts`: 1 (no retry) to 10; 3 when unset.
fn max_attempts(value: Option<String>) -> Result<u32> {
    let Some(text) = value else {
        return Ok(retry::Policy::default().max_attempts);
    };
    match text.parse::<u32>() {
        Ok(n @ 1..=10) => Ok(n),
        _ => Err(config(format!(
            "sts-max-attempts must be a whole number from 1 to 10, not {text:?}"
        ))),
    }
}

/// `access-timeout`: a humantime duration from 1s to 5m; 30s when unset.
fn access_timeout(value: Option<String>) -> Result<Duration> {
    let Some(text) = value else {
        return Ok(Duration::from_secs(30));
    };
    match humantime::parse_duration(&text) {
        Ok(d) if d >= Duration::from_secs(1) && d <= Duration::from_secs(300) => Ok(d),
        _ => Err(config(format!(
            "access-timeout must be a duration from 1s to 5m, like 30s, not {text:?}"
        ))),
    }
}

impl Settings {
    pub fn load(platform: &dyn Platform) -> Result<Settings> {
        let get = |key: &str| platform.config(key).map(non_empty);
        Ok(Settings {
            sts_region: get("sts-region")?.unwrap_or_else(|| "us-east-1".to_string()),
            sts_endpoint: get("sts-endpoint")?,
            sts_mode: match get("sts-endpoint-mode")? {
                Some(mode) => StsMode::parse(&mode).map_err(config)?,
                None => StsMode::Regional,
            },
            federation_endpoint: get("federation-endpoint")?,
            iam_endpoint: get("iam-endpoint")?,
            issuer: get("issuer")?.unwrap_or_else(|| "pam-aws".to_string()),
            external_id: get("external-id")?,
            access_timeout: access_timeout(get("access-timeout")?)?,
            retry: retry::Policy {
                max_attempts: max_attempts(get("sts-max-attempts")?)?,
                ..retry::Policy::default()
            },
        })
    }

    /// The base credentials hop 1 is signed with.
    pub fn base_credentials(platform: &dyn Platform) -> Result<Credentials> {
        let get = |key: &str| platform.config(key).map(non_empty);
        let (Some(key_id), Some(secret)) =
            (get("aws-access-key-id")?, get("aws-secret-access-key")?)
        else {
            return Err(config(
                "base credentials are missing: set aws-access-key-id and aws-secret-access-key \
                 (the pam-aws host resolves them from the AWS credential chain)",
            ));
        };
        Ok(Credentials::new(
            key_id,
            secret,
            get("aws-session-token")?,
            None,
            "wasi-config",
        ))
    }

    /// STS for a role in `partition`: the configured override, or the
    /// partition's regional endpoint for `sts-region`.
    pub fn sts_endpoint(&self, partition: Partition) -> Result<Endpoint> {
        if !partition.has_region(&self.sts_region) {
            return Err(config(format!(
                "sts-region {} is not in partition {}: set sts-region to one of its regions",
                self.sts_region,
                partition.name()
            )));
        }
        let (url, region) = partition
            .sts_endpoint(&self.sts_region, self.sts_mode)
            .map_err(config)?;
        // An override (tests, VPC endpoints) keeps the region that signs.
        let url = self.sts_endpoint.clone().unwrap_or(url);
        Ok(Endpoint { url, region })
    }

    /// IAM for a role in `partition` (revocation): the configured override,
    /// or the partition's global endpoint, signed in its home region.
    pub fn iam_endpoint(&self, partition: Partition) -> Endpoint {
        let (url, region) = partition.iam_endpoint();
        Endpoint {
            url: self.iam_endpoint.as_deref().unwrap_or(url).to_string(),
            region: region.to_string(),
        }
    }

    pub fn federation_endpoint(&self, partition: Partition) -> String {
        self.federation_endpoint
            .clone()
            .unwrap_or_else(|| partition.federation_endpoint().to_string())
    }
}
