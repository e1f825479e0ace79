//! AWS client settings shared by every destination: endpoint, region, credentials, timeouts.
//!
//! The SDK configuration is loaded once ([`sdk_config`]); the hand-signed data-plane requests
//! (`send.rs`) take from it what they need as a [`DataPlane`]: the credentials chain behind
//! aws-config's identity cache, the region, the HTTP client and the timeouts. Control-plane
//! SDK clients built from the same `SdkConfig` keep the SDK's standard retry; the data plane
//! has none of its own, the sink loop retries.

use aws_config::identity::IdentityCache;
use aws_config::timeout::TimeoutConfig;
use aws_config::{AppName, BehaviorVersion, Region, SdkConfig};
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use aws_smithy_runtime_api::client::identity::{SharedIdentityCache, SharedIdentityResolver};
use aws_types::service_config::ServiceConfigKey;
use std::time::Duration;

/// What the agent configuration says about reaching AWS.
#[derive(Debug, Clone, Default)]
pub struct AwsSettings {
    /// Service endpoint (`kinesis.endpoint` or `firehose.endpoint`), with or without a scheme.
    pub endpoint: Option<String>,
    /// Region (`kinesis.region`; for Firehose and CloudWatch, see [`endpoint_region_or_us_east_1`]).
    pub region: Option<String>,
    /// The credentials every client shares (None: the SDK's default chain of its own).
    pub credentials: Option<super::credentials::SharedCredentials>,
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
    /// The configuration explicitly has no credentials provider.
    #[error("no AWS credentials provider is configured")]
    NoCredentials,
    /// The SDK's endpoint rules gave no endpoint for a service.
    #[error("no {service} endpoint for region {region}: {reason}")]
    Endpoint {
        /// The service, such as `Kinesis`.
        service: &'static str,
        /// The region asked for.
        region: String,
        /// What the SDK's endpoint resolver said.
        reason: String,
    },
}

/// The loaded SDK configuration, plus what the agent configuration says that it cannot carry: a
/// `userAgent` that is not a valid SDK app name (such as `acme-logs/3.1`).
#[derive(Debug, Clone)]
pub struct AwsConfig {
    sdk: SdkConfig,
    user_agent: Option<String>,
}

impl AwsConfig {
    /// The SDK configuration.
    pub fn sdk(&self) -> &SdkConfig {
        &self.sdk
    }

    /// The configured `userAgent` prefix, as written.
    pub fn user_agent(&self) -> Option<&str> {
        self.user_agent.as_deref()
    }
}

impl From<SdkConfig> for AwsConfig {
    fn from(sdk: SdkConfig) -> AwsConfig {
        AwsConfig {
            sdk,
            user_agent: None,
        }
    }
}

/// What a hand-signed data-plane request takes from the SDK configuration.
#[derive(Debug, Clone)]
pub struct DataPlane {
    /// Region to sign for.
    pub region: String,
    /// The credentials chain (static keys, environment, profile, SSO, web identity, IMDS...).
    pub credentials: SharedIdentityResolver,
    /// aws-config's identity cache: credentials are fetched once and refreshed before expiry.
    pub identity_cache: SharedIdentityCache,
    /// The configured HTTP client; None = the SDK's default hyper + rustls client.
    pub http_client: Option<SharedHttpClient>,
    /// Connect and read timeouts.
    pub timeouts: TimeoutConfig,
    /// The `User-Agent` header: the configured `userAgent` prefix, then `kinetail/<version>`.
    pub user_agent: String,
    /// Whether FIPS endpoints are asked for.
    pub use_fips: bool,
    /// Whether dual-stack endpoints are asked for.
    pub use_dual_stack: bool,
}

impl DataPlane {
    /// Takes the data-plane settings from a loaded configuration.
    pub fn new(config: &AwsConfig) -> Result<DataPlane, AwsError> {
        let sdk = config.sdk();
        let region = sdk.region().ok_or(AwsError::NoRegion)?.to_string();
        let credentials = sdk.credentials_provider().ok_or(AwsError::NoCredentials)?;
        let agent = format!("kinetail/{}", env!("CARGO_PKG_VERSION"));
        Ok(DataPlane {
            region,
            // One resolver for every destination: they share one entry of the identity cache.
            credentials: SharedIdentityResolver::new(credentials),
            identity_cache: sdk
                .identity_cache()
                .unwrap_or_else(|| IdentityCache::lazy().build()),
            http_client: sdk.http_client(),
            timeouts: sdk
                .timeout_config()
                .cloned()
                .unwrap_or_else(TimeoutConfig::disabled),
            user_agent: match config.user_agent().or(sdk.app_name().map(|a| a.as_ref())) {
                Some(prefix) => format!("{} {agent}", header_text(prefix.trim())),
                None => agent,
            },
            use_fips: sdk.use_fips().unwrap_or(false),
            use_dual_stack: sdk.use_dual_stack().unwrap_or(false),
        })
    }
}

/// `s` as a header value can carry it: characters other than printable ASCII become `?`.
fn header_text(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c == ' ' || c.is_ascii_graphic() {
                c
            } else {
                '?'
            }
        })
        .collect()
}

/// The endpoint URL configured for one service, as the SDK's own config builder finds it: the
/// service-specific `AWS_ENDPOINT_URL_<SERVICE>` / profile `endpoint_url` unless the URL was
/// set in code (`kinesis.endpoint`), then the global one. None = the SDK's endpoint rules decide.
pub fn endpoint_override(sdk: &SdkConfig, service_id: &str) -> Option<String> {
    if sdk.get_origin("endpoint_url").is_client_config() {
        return sdk.endpoint_url().map(str::to_owned);
    }
    let key = ServiceConfigKey::builder()
        .service_id(service_id)
        .env("AWS_ENDPOINT_URL")
        .profile("endpoint_url")
        .build()
        .ok();
    key.and_then(|key| sdk.service_config()?.load_config(key))
        .or_else(|| sdk.endpoint_url().map(str::to_owned))
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

/// The region of the Firehose and CloudWatch clients: the one in `firehose.endpoint`'s
/// (`cloudwatch.endpoint`'s) host name, else us-east-1. The Java agent builds both clients with
/// the SDK v1 constructor that defaults to us-east-1 and has no `firehose.region` or
/// `cloudwatch.region` key: neither `kinesis.region` nor `AWS_REGION` moves it, so a working Java
/// setup sends (and its dashboards read metrics) in exactly this region.
pub fn endpoint_region_or_us_east_1(endpoint: Option<&str>) -> String {
    endpoint
        .and_then(region_from_endpoint)
        .unwrap_or_else(|| "us-east-1".to_owned())
}

/// The HTTP client of every AWS client: the SDK's hyper + rustls client, through the proxy that
/// `HTTPS_PROXY` / `HTTP_PROXY` / `ALL_PROXY` name, except for the hosts of `NO_PROXY` (the SDK's
/// default client ignores these variables). One for the process: its connection pools are
/// shared too. Instance metadata never goes through it.
pub fn http_client() -> SharedHttpClient {
    static CLIENT: std::sync::OnceLock<SharedHttpClient> = std::sync::OnceLock::new();
    CLIENT
        .get_or_init(|| {
            use aws_smithy_http_client::{proxy::ProxyConfig, tls, Connector};
            aws_smithy_http_client::Builder::new().build_with_connector_fn(
                |settings, components| {
                    let mut b = Connector::builder().proxy_config(ProxyConfig::from_env());
                    b.set_connector_settings(settings.cloned());
                    if let Some(c) = components {
                        b.set_sleep_impl(c.sleep_impl());
                    }
                    b.tls_provider(tls::Provider::Rustls(
                        tls::rustls_provider::CryptoMode::AwsLc,
                    ))
                    .build()
                },
            )
        })
        .clone()
}

/// The proxy in use, for the start-up log: its scheme, host and port only (a proxy URL may hold
/// a user name and password).
pub fn proxy_in_use() -> Option<String> {
    proxy_named_by(|name| std::env::var(name).ok())
}

fn proxy_named_by(lookup: impl Fn(&str) -> Option<String>) -> Option<String> {
    [
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "ALL_PROXY",
        "all_proxy",
    ]
    .iter()
    .find_map(|name| {
        let value = lookup(name).filter(|v| !v.trim().is_empty())?;
        let (scheme, rest) = value.split_once("://").unwrap_or(("http", &value));
        let host = rest
            .rsplit('@')
            .next()
            .unwrap_or(rest)
            .trim_end_matches('/');
        Some(format!("{name}={scheme}://{host}"))
    })
}

/// The SDK configuration loader for `s`: the shared HTTP client, timeouts, region (the
/// configured one, else the one in the endpoint's name), endpoint, credentials and app name.
pub fn loader(s: &AwsSettings) -> aws_config::ConfigLoader {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(http_client())
        .timeout_config(
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
    if let Some(c) = &s.credentials {
        loader = loader
            .credentials_provider(c.provider.clone())
            .identity_cache(c.cache.clone());
    }
    if let Some(ua) = &s.user_agent {
        match AppName::new(ua.clone()) {
            Ok(name) => loader = loader.app_name(name),
            Err(_) => tracing::info!(
                "userAgent {ua:?} is not a valid AWS SDK app name: it is sent with PutRecords and PutRecordBatch, not with the SDK's own requests"
            ),
        }
    }
    loader
}

/// Loads the SDK configuration with the shared credentials, else the default credential chain.
///
/// Its retry configuration stays the SDK's standard one (or `AWS_MAX_ATTEMPTS` / the profile's):
/// it is for control-plane clients only, since the data plane (`send.rs`) never retries itself.
pub async fn sdk_config(s: &AwsSettings) -> Result<SdkConfig, AwsError> {
    load_config(s).await.map(|c| c.sdk)
}

/// Loads the SDK configuration ([`sdk_config`]) and keeps the `userAgent` as written, for the
/// hand-signed requests.
pub async fn load_config(s: &AwsSettings) -> Result<AwsConfig, AwsError> {
    let mut config = loader(s).load().await;
    if let Some(c) = &s.credentials {
        // The loader wraps whatever provider it is given in a new one, with a cache partition
        // of its own: set here, the one shared provider keeps its partition, so every client
        // finds the credentials another one fetched (one AssumeRole for all of them).
        config = config
            .into_builder()
            .credentials_provider(c.provider.clone())
            .build();
    }
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
    Ok(AwsConfig {
        sdk: config,
        user_agent: s.user_agent.clone().filter(|ua| !ua.trim().is_empty()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sdk(app: Option<&str>) -> SdkConfig {
        let mut b = SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("eu-west-1"))
            .credentials_provider(
                aws_credential_types::provider::SharedCredentialsProvider::new(
                    aws_credential_types::Credentials::new("a", "b", None, None, "test"),
                ),
            );
        if let Some(app) = app {
            b = b.app_name(AppName::new(app.to_owned()).unwrap());
        }
        b.build()
    }

    fn user_agent(app: Option<&str>, configured: Option<&str>) -> String {
        let config = AwsConfig {
            sdk: sdk(app),
            user_agent: configured.map(str::to_owned),
        };
        DataPlane::new(&config).unwrap().user_agent
    }

    #[test]
    fn the_user_agent_starts_with_the_configured_prefix() {
        let ours = format!("kinetail/{}", env!("CARGO_PKG_VERSION"));
        assert_eq!(user_agent(None, None), ours);
        assert_eq!(user_agent(Some("myapp"), None), format!("myapp {ours}"));
        // Not a valid SDK app name, but a valid header: sent as written.
        assert_eq!(
            user_agent(Some("ignored"), Some(" acme-logs/3.1 (prod) ")),
            format!("acme-logs/3.1 (prod) {ours}")
        );
        assert_eq!(
            user_agent(None, Some("bad\r\nX-Injected: 1é")),
            format!("bad??X-Injected: 1? {ours}")
        );
    }

    #[test]
    fn the_data_plane_takes_region_and_credentials_from_the_sdk() {
        let plane = DataPlane::new(&sdk(None).into()).unwrap();
        assert_eq!(plane.region, "eu-west-1");
        let no_region = SdkConfig::builder().build();
        assert!(matches!(
            DataPlane::new(&no_region.into()),
            Err(AwsError::NoRegion)
        ));
        let no_credentials = SdkConfig::builder()
            .region(Region::new("eu-west-1"))
            .build();
        assert!(matches!(
            DataPlane::new(&no_credentials.into()),
            Err(AwsError::NoCredentials)
        ));
    }

    #[test]
    fn the_proxy_is_logged_without_its_credentials() {
        assert_eq!(proxy_named_by(|_| None), None);
        let env = |name: &str| {
            (name == "https_proxy").then(|| "http://user:s3cret@proxy.corp:3128/".to_owned())
        };
        assert_eq!(
            proxy_named_by(env).as_deref(),
            Some("https_proxy=http://proxy.corp:3128")
        );
        let bare = |name: &str| (name == "ALL_PROXY").then(|| "proxy.corp:8080".to_owned());
        assert_eq!(
            proxy_named_by(bare).as_deref(),
            Some("ALL_PROXY=http://proxy.corp:8080")
        );
    }

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

    #[test]
    fn firehose_region_comes_from_its_endpoint_or_is_us_east_1() {
        assert_eq!(
            endpoint_region_or_us_east_1(Some("firehose.eu-central-1.amazonaws.com")),
            "eu-central-1"
        );
        assert_eq!(
            endpoint_region_or_us_east_1(Some("https://firehose.ap-southeast-2.amazonaws.com")),
            "ap-southeast-2"
        );
        assert_eq!(
            endpoint_region_or_us_east_1(Some("http://127.0.0.1:5000")),
            "us-east-1"
        );
        assert_eq!(endpoint_region_or_us_east_1(None), "us-east-1");
    }
}
