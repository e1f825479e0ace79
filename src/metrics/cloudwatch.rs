//! Publishes the accumulated statistic sets to CloudWatch, as the Java agent's
//! `DefaultCWMetricsPublisher` does: every `cloudwatch.metricsBufferTimeMillis` (or as soon as
//! 200 distinct datums wait), in `PutMetricData` calls of at most 20 datums. A failure is logged
//! (rate-limited) and its datums dropped; publishing runs in its own task and never holds up
//! shipping.

use super::accumulator::{Accumulator, Key, Stats, Unit};
use crate::log_limit::LogLimiter;
use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit, StatisticSet};
use aws_sdk_cloudwatch::Client;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Datums per `PutMetricData` call (the Java agent's batch size).
pub const DATUMS_PER_CALL: usize = 20;
/// Time one `PutMetricData` call may take, retries included, before it is given up.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// Shortest wait between two flushes, whatever `metricsBufferTimeMillis` says (0 is valid).
const MIN_BUFFER_TIME: Duration = Duration::from_millis(100);
/// Failure lines are written at most once per this period.
const WARN_EVERY: Duration = Duration::from_secs(60);

/// The CloudWatch client of the agent, with the publishing settings.
#[derive(Debug, Clone)]
pub struct Publisher {
    client: Client,
    namespace: String,
    buffer_time: Duration,
}

impl Publisher {
    /// A publisher to `namespace` through a client made from `sdk` (credentials, region,
    /// endpoint), each call bounded in time.
    pub fn new(sdk: &aws_config::SdkConfig, namespace: &str, buffer_time: Duration) -> Publisher {
        let timeouts = sdk
            .timeout_config()
            .cloned()
            .unwrap_or_else(aws_config::timeout::TimeoutConfig::disabled)
            .to_builder()
            .operation_timeout(CALL_TIMEOUT)
            .build();
        let config = aws_sdk_cloudwatch::config::Builder::from(sdk)
            .timeout_config(timeouts)
            .build();
        Publisher {
            client: Client::from_conf(config),
            namespace: namespace.to_owned(),
            buffer_time: buffer_time.max(MIN_BUFFER_TIME),
        }
    }

    /// Publishes what `acc` gathers until `stop`, then publishes what is left once (within
    /// [`CALL_TIMEOUT`] per call: the caller bounds the whole of it).
    pub async fn run(self, acc: Arc<Accumulator>, mut stop: watch::Receiver<bool>) {
        let mut warn = LogLimiter::new(WARN_EVERY);
        loop {
            let stopping = tokio::select! {
                _ = tokio::time::sleep(self.buffer_time) => false,
                _ = acc.full.notified() => false,
                _ = stop.changed() => true,
            };
            self.flush(&acc, &mut warn).await;
            if stopping {
                tracing::debug!("CloudWatch metrics publisher stopped");
                return;
            }
        }
    }

    /// Sends everything waiting; on the first failed call, drops the rest of this flush.
    async fn flush(&self, acc: &Accumulator, warn: &mut LogLimiter) {
        let (sets, dropped_full) = acc.take();
        if dropped_full > 0 && warn.due().is_some() {
            tracing::warn!(
                "CloudWatch metrics queue full (cloudwatch.metricsQueueSize): {dropped_full} samples dropped"
            );
        }
        let datums: Vec<MetricDatum> = sets.iter().map(|(k, s)| datum(k, s)).collect();
        let mut chunks = datums.chunks(DATUMS_PER_CALL);
        while let Some(chunk) = chunks.next() {
            let sent = self
                .client
                .put_metric_data()
                .namespace(&self.namespace)
                .set_metric_data(Some(chunk.to_vec()))
                .send()
                .await;
            if let Err(e) = sent {
                let lost = chunk.len() + chunks.map(<[MetricDatum]>::len).sum::<usize>();
                if let Some(suppressed) = warn.due() {
                    tracing::warn!(
                        "CloudWatch PutMetricData to namespace {} failed: {}; {lost} datums dropped{}",
                        self.namespace,
                        aws_smithy_types::error::display::DisplayErrorContext(&e),
                        if suppressed > 0 {
                            format!(" ({suppressed} more failures since the last report)")
                        } else {
                            String::new()
                        }
                    );
                }
                return;
            }
        }
        if !datums.is_empty() {
            tracing::debug!("published {} CloudWatch datums", datums.len());
        }
    }
}

/// One statistic-set datum, without a timestamp (CloudWatch stamps it on arrival, as for the
/// Java agent).
fn datum(key: &Key, s: &Stats) -> MetricDatum {
    MetricDatum::builder()
        .metric_name(key.name)
        .unit(match key.unit {
            Unit::Count => StandardUnit::Count,
            Unit::Bytes => StandardUnit::Bytes,
            Unit::Seconds => StandardUnit::Seconds,
        })
        .set_dimensions(Some(
            key.dimensions
                .iter()
                .map(|(name, value)| Dimension::builder().name(*name).value(value).build())
                .collect(),
        ))
        .statistic_values(
            StatisticSet::builder()
                .sum(s.sum)
                .minimum(s.min)
                .maximum(s.max)
                .sample_count(s.count)
                .build(),
        )
        .build()
}

/// The `Instance` dimension's value: the EC2 instance id when the instance metadata service
/// answers, else the host name, as the Java agent tags it.
pub async fn instance_tag() -> String {
    let from_imds = async {
        let mut imds = crate::ec2::ImdsClient::from_env().ok()?;
        imds.identity_document()
            .await
            .ok()
            .and_then(|d| d.instance_id)
            .filter(|id| !id.is_empty())
    };
    match tokio::time::timeout(Duration::from_secs(3), from_imds).await {
        Ok(Some(id)) => id,
        _ => nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_else(|| "unknown".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_datum_carries_name_unit_dimensions_and_the_statistic_set() {
        let key = Key {
            name: "BytesSent",
            unit: Unit::Bytes,
            dimensions: vec![
                ("Destination", "KinesisStream:s".to_owned()),
                ("Instance", "i-1".to_owned()),
            ]
            .into(),
        };
        let d = datum(
            &key,
            &Stats {
                sum: 10.0,
                min: 1.0,
                max: 9.0,
                count: 2.0,
            },
        );
        assert_eq!(d.metric_name(), Some("BytesSent"));
        assert_eq!(d.unit(), Some(&StandardUnit::Bytes));
        assert!(d.timestamp().is_none());
        let dims: Vec<(&str, &str)> = d
            .dimensions()
            .iter()
            .map(|x| (x.name().unwrap(), x.value().unwrap()))
            .collect();
        assert_eq!(
            dims,
            vec![("Destination", "KinesisStream:s"), ("Instance", "i-1")]
        );
        let s = d.statistic_values().unwrap();
        assert_eq!(
            (s.sum(), s.minimum(), s.maximum(), s.sample_count()),
            (Some(10.0), Some(1.0), Some(9.0), Some(2.0))
        );
    }
}
