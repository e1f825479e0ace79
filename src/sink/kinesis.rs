//! Kinesis Data Streams destination: one PutRecords request per batch, its body written
//! straight from the records (`request.rs`), or from KPL aggregates of them (`aggregate.rs`),
//! and sent signed (`send.rs`).

use super::aggregate::{hash_key, seal, Encoder};
use super::aws::{endpoint_override, AwsConfig, AwsError, DataPlane};
use super::batch::{Group, Sealed};
use super::request::{Api, Key, PutRecordsBody};
use super::send::Sender;
use super::shards::{ShardMap, Shards};
use super::{Destination, EntryResults, SendError};
use crate::record::PartitionKey;
use aws_config::SdkConfig;
use aws_sdk_kinesis::config::endpoint::{DefaultResolver, Params, ResolveEndpoint};
use std::future::Future;
use std::sync::Arc;

/// A Kinesis data stream.
#[derive(Debug, Clone)]
pub struct KinesisStream {
    sender: Sender,
    stream: String,
    /// The shard map aggregated batches were grouped by, read again when an aggregate lands
    /// elsewhere.
    shards: Option<Arc<ShardMap>>,
}

/// The error code given to the records of an aggregate that landed in a shard some of their
/// keys do not belong to (the stream was resharded): a KCL consumer would drop the whole
/// aggregate, so they are sent again, grouped by the new map.
pub const OUTSIDE_SHARD: &str = "KinetailAggregateOutsideItsShard";

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
            shards: None,
        })
    }

    /// Also sends aggregated batches, finding out with `shards` where their aggregates land.
    pub fn with_shards(mut self, shards: Arc<ShardMap>) -> KinesisStream {
        self.shards = Some(shards);
        self
    }

    /// The PutRecords request of an aggregated batch, and what its reply is checked against.
    fn put_aggregated(
        &self,
        batch: &Sealed,
    ) -> impl Future<Output = Result<EntryResults, SendError>> + Send + 'static {
        let mut buf = self.sender.buffer();
        let mut body = PutRecordsBody::new(&mut buf, &self.stream);
        body.reserve(
            batch.groups.len(),
            batch.records.iter().map(|r| r.size() + 8).sum(),
            batch.groups.len() * 64,
        );
        // The aggregates are written first and their MD5s computed together, side by side.
        let mut encoder = Encoder::default();
        let (mut aggregates, mut hash_keys) = (Vec::new(), Vec::new());
        for (g, records) in batch.grouped().filter(|(g, _)| g.aggregate) {
            let ehk = hash_key(&records[0].partition_key);
            let mut aggregate = Vec::new();
            encoder.encode_unsealed(records, g.shard.is_none().then_some(ehk), &mut aggregate);
            aggregates.push(aggregate);
            hash_keys.push(ehk);
        }
        seal(&mut aggregates);
        let mut sealed = aggregates.iter().zip(hash_keys);
        for (g, records) in batch.grouped() {
            let first = records[0].partition_key;
            if !g.aggregate {
                body.push(&records[0].data, Key::Record(first));
            } else if let Some((aggregate, ehk)) = sealed.next() {
                // One aggregate per aggregated group, written in the groups' order above.
                body.push_with_hash_key(aggregate, Key::Record(first), ehk);
            }
        }
        let entries = body.finish();
        let sent = self.sender.send_reading_shards(buf, entries);
        let landing = Landing {
            groups: batch.groups.clone(),
            keys: batch.records.iter().map(|r| r.partition_key).collect(),
            predicted: batch.shards.clone(),
            map: self.shards.clone(),
        };
        async move {
            let reply = sent.await?;
            Ok(landing.check(reply.results, &reply.shard_ids).await)
        }
    }
}

/// What an aggregated request needs to tell, from its reply, which user records were stored
/// where a consumer will find them.
struct Landing {
    groups: Vec<Group>,
    keys: Vec<PartitionKey>,
    predicted: Option<Arc<Shards>>,
    map: Option<Arc<ShardMap>>,
}

impl Landing {
    /// Per user record: the result of its entry, or [`OUTSIDE_SHARD`] when its aggregate landed
    /// in a shard that does not take its key.
    async fn check(self, entries: EntryResults, shard_ids: &[Option<String>]) -> EntryResults {
        let mut moved: Vec<(usize, &str)> = Vec::new();
        for (i, g) in self.groups.iter().enumerate() {
            let (Some(shard), Some(Some(landed))) = (g.shard, shard_ids.get(i)) else {
                continue;
            };
            let expected = self.predicted.as_ref().and_then(|p| p.get(shard));
            if g.aggregate && expected.is_none_or(|e| e.id != *landed) {
                moved.push((i, landed));
            }
        }
        let mut outside = vec![false; self.groups.len()];
        if let Some(map) = &self.map {
            if let Some(&(_, landed)) = moved.first() {
                let now = map
                    .refresh(&format!("an aggregate was stored in {landed}"))
                    .await;
                let mut start = 0;
                for (i, g) in self.groups.iter().enumerate() {
                    if let Some(&(_, landed)) = moved.iter().find(|(m, _)| *m == i) {
                        outside[i] = match now.by_id(landed) {
                            Some(range) => self.keys[start..g.end].iter().any(|k| {
                                let h = hash_key(k);
                                h < range.start || h > range.end
                            }),
                            None => true,
                        };
                    }
                    start = g.end;
                }
            } else {
                map.refresh_if_due();
            }
        }
        let mut results = Vec::with_capacity(self.keys.len());
        let mut start = 0;
        for ((g, result), outside) in self.groups.iter().zip(entries).zip(outside) {
            let result = match result {
                None if outside => Some(OUTSIDE_SHARD.to_owned()),
                r => r,
            };
            results.extend(std::iter::repeat_n(result, g.end - start));
            start = g.end;
        }
        results
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
        batch: &Sealed,
    ) -> impl Future<Output = Result<EntryResults, SendError>> + Send + 'static {
        let aggregated = (!batch.groups.is_empty()).then(|| self.put_aggregated(batch));
        let plain = batch
            .groups
            .is_empty()
            .then(|| self.put_plain(&batch.records));
        async move {
            match (aggregated, plain) {
                (Some(sent), _) => sent.await,
                (None, Some(sent)) => sent.await,
                (None, None) => Ok(Vec::new()),
            }
        }
    }
}

impl KinesisStream {
    /// The PutRecords request of a batch whose records are entries of their own.
    fn put_plain(
        &self,
        records: &[crate::record::Record],
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
