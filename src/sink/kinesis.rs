//! Kinesis Data Streams destination: one PutRecords request per batch, its body written
//! straight from the records (`request.rs`) and sent signed (`send.rs`).

use super::aws::{endpoint_override, AwsConfig, AwsError, DataPlane};
use super::request::{Api, Key, PutRecordsBody};
use super::send::Sender;
use super::{Destination, EntryResults, SendError};
use crate::record::Record;
use aws_config::SdkConfig;
use aws_sdk_kinesis::config::endpoint::{DefaultResolver, Params, ResolveEndpoint};
use std::future::Future;

/// A Kinesis data stream.
#[derive(Debug, Clone)]
pub struct KinesisStream {
    sender: Sender,
    stream: String,
}

impl KinesisStream {
    /// A destination writing to `stream`, with the credentials, region, endpoint, HTTP client,
    /// timeouts and user agent of `config`.
    pub async fn new(
        config: &AwsConfig,
        plane: &DataPlane,
        stream: &str,
    ) -> Result<KinesisStream, AwsError> {
        let url = endpoint(config.sdk(), plane).await?;
        tracing::debug!("KinesisStream:{stream}: PutRecords to {url}");
        Ok(KinesisStream {
            sender: Sender::new(plane, Api::PutRecords, &url)?,
            stream: stream.to_owned(),
        })
    }
}

/// The PutRecords endpoint, from the Kinesis SDK's own endpoint rules (FIPS, dual-stack,
/// partitions, the configured override).
async fn endpoint(sdk: &SdkConfig, plane: &DataPlane) -> Result<String, AwsError> {
    let failed = |reason: String| AwsError::Endpoint {
        service: "Kinesis",
        region: plane.region.clone(),
        reason,
    };
    let params = Params::builder()
        .region(plane.region.clone())
        .use_fips(plane.use_fips)
        .use_dual_stack(plane.use_dual_stack)
        .set_endpoint(endpoint_override(sdk, "Kinesis"))
        .operation_type("data")
        .build()
        .map_err(|e| failed(e.to_string()))?;
    let resolved = DefaultResolver::new()
        .resolve_endpoint(&params)
        .await
        .map_err(|e| failed(e.to_string()))?;
    Ok(resolved.url().to_owned())
}

impl Destination for KinesisStream {
    fn name(&self) -> String {
        format!("KinesisStream:{}", self.stream)
    }

    fn put(
        &self,
        records: &[Record],
    ) -> impl Future<Output = Result<EntryResults, SendError>> + Send + 'static {
        let mut buf = self.sender.buffer();
        let mut body = PutRecordsBody::new(&mut buf, &self.stream);
        let (data, keys) = records.iter().fold((0, 0), |(d, k), r| {
            (d + r.data.len(), k + r.partition_key.len())
        });
        body.reserve(records.len(), data, keys);
        for r in records {
            body.push(&r.data, Key::Record(r.partition_key));
        }
        let entries = body.finish();
        self.sender.send(buf, entries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_config::{BehaviorVersion, Region};
    use aws_credential_types::Credentials;

    async fn url_for(region: &str, custom: Option<&str>, fips: bool) -> String {
        let mut b = SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(region.to_owned()))
            .credentials_provider(
                aws_credential_types::provider::SharedCredentialsProvider::new(Credentials::new(
                    "a", "b", None, None, "test",
                )),
            )
            .use_fips(fips);
        if let Some(e) = custom {
            b = b.endpoint_url(e);
        }
        let sdk = b.build();
        endpoint(&sdk, &DataPlane::new(&sdk.clone().into()).unwrap())
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn endpoints_come_from_the_sdk_rules() {
        assert_eq!(
            url_for("eu-west-1", None, false).await,
            "https://kinesis.eu-west-1.amazonaws.com"
        );
        assert_eq!(
            url_for("cn-north-1", None, false).await,
            "https://kinesis.cn-north-1.amazonaws.com.cn"
        );
        assert_eq!(
            url_for("us-east-2", None, true).await,
            "https://kinesis-fips.us-east-2.amazonaws.com"
        );
        assert_eq!(
            url_for("us-east-1", Some("http://127.0.0.1:4567"), false).await,
            "http://127.0.0.1:4567"
        );
    }
}
