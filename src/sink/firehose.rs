//! Firehose destination: one PutRecordBatch call per batch.
//!
//! The batch limits (500 records, 4 MiB) come from the flow's `maxBufferSizeRecords` and
//! `maxBufferSizeBytes`, whose Firehose ranges end there, and the 1,024,000-byte record limit is
//! applied when records are built (`pipeline.rs`), so a batch that reaches `put` fits one call.

use super::aws::{endpoint_override, AwsConfig, AwsError, DataPlane};
use super::batch::Sealed;
use super::request::{Api, PutRecordBatchBody};
use super::send::Sender;
use super::{Destination, EntryResults, SendError};
use aws_config::SdkConfig;
use aws_sdk_firehose::config::endpoint::{DefaultResolver, Params, ResolveEndpoint};
use std::future::Future;

/// A Firehose delivery stream.
#[derive(Debug, Clone)]
pub struct DeliveryStream {
    sender: Sender,
    name: String,
}

impl DeliveryStream {
    /// A destination writing to the delivery stream `name`, with the credentials, region,
    /// endpoint, HTTP client, timeouts and user agent of `config`: the same signed, hand-built
    /// request path as Kinesis streams, with the PutRecordBatch body.
    pub async fn new(
        config: &AwsConfig,
        plane: &DataPlane,
        name: &str,
    ) -> Result<DeliveryStream, AwsError> {
        let url = endpoint(config.sdk(), plane).await?;
        tracing::debug!("DeliveryStream:{name}: PutRecordBatch to {url}");
        Ok(DeliveryStream {
            sender: Sender::new(plane, Api::PutRecordBatch, &url)?,
            name: name.to_owned(),
        })
    }
}

/// The PutRecordBatch endpoint, from the Firehose SDK's own endpoint rules (FIPS, dual-stack,
/// partitions, the configured override).
async fn endpoint(sdk: &SdkConfig, plane: &DataPlane) -> Result<String, AwsError> {
    let failed = |reason: String| AwsError::Endpoint {
        service: "Firehose",
        region: plane.region.clone(),
        reason,
    };
    let params = Params::builder()
        .region(plane.region.clone())
        .use_fips(plane.use_fips)
        .use_dual_stack(plane.use_dual_stack)
        .set_endpoint(endpoint_override(sdk, "Firehose"))
        .build()
        .map_err(|e| failed(e.to_string()))?;
    let resolved = DefaultResolver::new()
        .resolve_endpoint(&params)
        .await
        .map_err(|e| failed(e.to_string()))?;
    Ok(resolved.url().to_owned())
}

impl Destination for DeliveryStream {
    fn name(&self) -> String {
        format!("DeliveryStream:{}", self.name)
    }

    fn put(
        &self,
        batch: &Sealed,
    ) -> impl Future<Output = Result<EntryResults, SendError>> + Send + 'static {
        let records = &batch.records;
        let mut buf = self.sender.buffer();
        let mut body = PutRecordBatchBody::new(&mut buf, &self.name);
        body.reserve(records.len(), records.iter().map(|r| r.data.len()).sum());
        for r in records {
            body.push(&r.data);
        }
        let entries = body.finish();
        self.sender.send(buf, entries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_config::{BehaviorVersion, Region};
    use aws_credential_types::provider::SharedCredentialsProvider;
    use aws_credential_types::Credentials;

    async fn url_for(region: &str, custom: Option<&str>) -> String {
        let mut b = SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(region.to_owned()))
            .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
                "a", "b", None, None, "test",
            )));
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
            url_for("eu-west-1", None).await,
            "https://firehose.eu-west-1.amazonaws.com"
        );
        assert_eq!(
            url_for("us-east-1", Some("http://127.0.0.1:4566")).await,
            "http://127.0.0.1:4566"
        );
    }
}
