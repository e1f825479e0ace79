//! The credentials every client of the agent shares: the static keys of agent.json or the SDK's
//! default chain, wrapped in STS AssumeRole when `assumeRoleARN` is set, as the Java agent does
//! (one role for Kinesis, Firehose and CloudWatch). One provider behind one identity cache: the
//! role is assumed once for all clients and assumed again shortly before it expires.

use super::aws::{loader, region_from_endpoint, AwsSettings};
use aws_config::identity::IdentityCache;
use aws_config::sts::AssumeRoleProvider;
use aws_config::Region;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::Credentials;
use aws_smithy_runtime_api::client::identity::SharedIdentityCache;
use std::time::Duration;

/// The Java agent's role session name (`AgentContext#getSTSAssumeRoleSessionCredentialsProvider`).
pub const SESSION_NAME: &str = "AWSKinesisAgent";

/// What agent.json says about credentials.
#[derive(Clone, Default)]
pub struct CredentialSettings {
    /// `awsAccessKeyId`: used only with the secret key.
    pub access_key_id: Option<String>,
    /// `awsSecretAccessKey`.
    pub secret_access_key: Option<String>,
    /// `assumeRoleARN`.
    pub assume_role_arn: Option<String>,
    /// `assumeRoleExternalId`.
    pub external_id: Option<String>,
    /// `assumeRoleDurationSeconds`.
    pub session_length: Duration,
    /// `sts.endpoint`.
    pub sts_endpoint: Option<String>,
    /// Region of the STS client and of the chain's region-bound providers (SSO, web identity):
    /// `kinesis.region` when set.
    pub region: Option<String>,
    /// Timeouts of the STS client.
    pub connect_timeout: Duration,
    /// Socket read timeout of the STS client.
    pub read_timeout: Duration,
}

/// One credentials provider and the cache in front of it, shared by every client.
#[derive(Debug, Clone)]
pub struct SharedCredentials {
    /// The provider (its cache partition is the same in every client it is given to).
    pub provider: SharedCredentialsProvider,
    /// The identity cache every client uses.
    pub cache: SharedIdentityCache,
}

// By hand: the secret key stays out of logs and error messages.
impl std::fmt::Debug for CredentialSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CredentialSettings({self})")
    }
}

/// Where the credentials come from, without the secret.
impl std::fmt::Display for CredentialSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let base = match (&self.access_key_id, &self.secret_access_key) {
            (Some(id), Some(_)) => format!("static keys of agent.json ({id})"),
            _ => "the default credential chain".to_owned(),
        };
        match &self.assume_role_arn {
            Some(arn) => write!(f, "role {arn} assumed with {base}"),
            None => f.write_str(&base),
        }
    }
}

/// Makes the shared credentials. Nothing is fetched here: the first request does it.
pub async fn shared(s: &CredentialSettings) -> SharedCredentials {
    let base = match (&s.access_key_id, &s.secret_access_key) {
        (Some(id), Some(secret)) => SharedCredentialsProvider::new(Credentials::new(
            id.clone(),
            secret.clone(),
            None,
            None,
            "agent.json",
        )),
        _ => {
            let mut chain =
                aws_config::default_provider::credentials::DefaultCredentialsChain::builder();
            if let Some(r) = &s.region {
                chain = chain.region(Region::new(r.clone()));
            }
            SharedCredentialsProvider::new(chain.build().await)
        }
    };
    let provider = match &s.assume_role_arn {
        None => base,
        Some(arn) => {
            let sts = AwsSettings {
                endpoint: s.sts_endpoint.clone(),
                region: s
                    .sts_endpoint
                    .as_deref()
                    .and_then(region_from_endpoint)
                    .or_else(|| s.region.clone()),
                credentials: Some(SharedCredentials {
                    provider: base,
                    // AssumeRoleProvider caches nothing of the base credentials either.
                    cache: IdentityCache::no_cache(),
                }),
                connect_timeout: s.connect_timeout,
                read_timeout: s.read_timeout,
                user_agent: None,
            };
            let mut sdk = loader(&sts).load().await;
            if sdk.region().is_none() {
                // STS's global endpoint is in us-east-1.
                sdk = sdk.into_builder().region(Region::new("us-east-1")).build();
            }
            let mut role = AssumeRoleProvider::builder(arn.clone())
                .session_name(SESSION_NAME)
                .session_length(s.session_length)
                .configure(&sdk);
            if let Some(id) = &s.external_id {
                role = role.external_id(id.clone());
            }
            SharedCredentialsProvider::new(role.build().await)
        }
    };
    SharedCredentials {
        provider,
        cache: IdentityCache::lazy().build(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_description_names_the_key_id_and_role_but_never_the_secret() {
        let s = CredentialSettings {
            access_key_id: Some("AKIDEXAMPLE".into()),
            secret_access_key: Some("wJalrXUtnFEMI/K7MDENG".into()),
            assume_role_arn: Some("arn:aws:iam::123456789012:role/logs".into()),
            ..CredentialSettings::default()
        };
        let text = s.to_string();
        assert_eq!(
            text,
            "role arn:aws:iam::123456789012:role/logs assumed with static keys of agent.json (AKIDEXAMPLE)"
        );
        assert!(!text.contains("wJalr"));
        assert!(!format!("{s:?}").contains("wJalr"));
        let chain = CredentialSettings::default();
        assert_eq!(chain.to_string(), "the default credential chain");
    }
}
