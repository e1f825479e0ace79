//! AWS client settings shared by every destination: endpoint, region, credentials, timeouts.

use aws_config::{AppName, BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use std::time::Duration;

/// What the agent configuration says about reaching AWS.
#[derive(Debug, Clone, Default)]
pub struct AwsSettings {
    /// Service endpoint (`kinesis.endpoint`), with or without a scheme.
    pub endpoint: Option<String>,
    /// Region (`kinesis.region`).
    pub region: Option<String>,
    /// Static credentials, used only when both halves are set.
    pub access_key_id: Option<String>,
    /// Secret half of the static credentials.
    pub secret_access_key: Option<String>,
    /// TCP connect timeout.
    pub connect_timeout: Duration,
    /// Socket read timeout.
    pub read_timeout: Duration,
    /// Prefix for the User-Agent (`userAgent`).
    pub user_agent: Option<String>,
}

/// Errors building a client.
#[derive(Debug, thiserror::Error)]
pub enum AwsError {
    /// No region could be determined.
    #[error(
        "no AWS region: set kinesis.region in the configuration, or AWS_REGION in the environment"
    )]
    NoRegion,
}

/// Adds `https://` to an endpoint written without a scheme, as the Java SDK does.
pub fn endpoint_url(endpoint: &str) -> String {
    if endpoint.contains("://") {
        endpoint.to_owned()
    } else {
        format!("https://{endpoint}")
    }
}

/// The region in an AWS endpoint host name such as `kinesis.eu-west-1.amazonaws.com`.
pub fn region_from_endpoint(endpoint: &str) -> Option<String> {
    let url = endpoint_url(endpoint);
    let host = url.split("://").nth(1)?.split(['/', ':']).next()?;
    let labels: Vec<&str> = host.split('.').collect();
    let aws = labels.iter().position(|l| *l == "amazonaws")?;
    // service[.fips|-fips].<region>.amazonaws.com[.cn], or service.<region>.vpce.amazonaws.com
    let mut candidates: Vec<&str> = labels[..aws].to_vec();
    if candidates.last() == Some(&"vpce") {
        candidates.pop();
    }
    let region = candidates.last()?;
    let looks_like_region =
        region.split('-').count() >= 3 && region.chars().last().is_some_and(|c| c.is_ascii_digit());
    looks_like_region.then(|| (*region).to_owned())
}

/// Loads the SDK configuration: static keys when both are set, else the default credential chain.
pub async fn sdk_config(s: &AwsSettings) -> Result<SdkConfig, AwsError> {
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).timeout_config(
        aws_config::timeout::TimeoutConfig::builder()
            .connect_timeout(s.connect_timeout)
            .read_timeout(s.read_timeout)
            .build(),
    );
    let region = s
        .region
        .clone()
        .or_else(|| s.endpoint.as_deref().and_then(region_from_endpoint));
    if let Some(r) = &region {
        loader = loader.region(Region::new(r.clone()));
    }
    if let Some(e) = &s.endpoint {
        loader = loader.endpoint_url(endpoint_url(e));
    }
    if let (Some(id), Some(secret)) = (&s.access_key_id, &s.secret_access_key) {
        loader = loader.credentials_provider(Credentials::new(
            id.clone(),
            secret.clone(),
            None,
            None,
            "agent.json",
        ));
    }
    if let Some(ua) = &s.user_agent {
        match AppName::new(ua.clone()) {
            Ok(name) => loader = loader.app_name(name),
            Err(_) => {
                tracing::warn!("userAgent {ua:?} is not a valid app name for the AWS SDK; ignored")
            }
        }
    }
    let mut config = loader.load().await;
    if config.region().is_none() {
        if s.endpoint.is_some() {
            // A custom endpoint with no region in its name (a local test server): any region signs.
            config = config
                .into_builder()
                .region(Region::new("us-east-1"))
                .build();
        } else {
            return Err(AwsError::NoRegion);
        }
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_without_scheme_get_https() {
        assert_eq!(
            endpoint_url("kinesis.us-east-1.amazonaws.com"),
            "https://kinesis.us-east-1.amazonaws.com"
        );
        assert_eq!(
            endpoint_url("http://127.0.0.1:4567"),
            "http://127.0.0.1:4567"
        );
    }

    #[test]
    fn region_is_inferred_from_aws_host_names() {
        assert_eq!(
            region_from_endpoint("kinesis.eu-west-1.amazonaws.com").as_deref(),
            Some("eu-west-1")
        );
        assert_eq!(
            region_from_endpoint("https://kinesis.us-gov-west-1.amazonaws.com/").as_deref(),
            Some("us-gov-west-1")
        );
        assert_eq!(
            region_from_endpoint("kinesis-fips.us-east-2.amazonaws.com").as_deref(),
            Some("us-east-2")
        );
        assert_eq!(
            region_from_endpoint("https://kinesis.cn-north-1.amazonaws.com.cn").as_deref(),
            Some("cn-north-1")
        );
        assert_eq!(
            region_from_endpoint("vpce-1a2b.kinesis.ap-south-1.vpce.amazonaws.com").as_deref(),
            Some("ap-south-1")
        );
        assert_eq!(region_from_endpoint("http://127.0.0.1:4567"), None);
        assert_eq!(region_from_endpoint("kinesis.amazonaws.com"), None);
    }
}
