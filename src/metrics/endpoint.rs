//! The local status endpoint (`status.port`): `/metrics` in the Prometheus text format and
//! `/health`, on 127.0.0.1 only.

use super::FlowCounters;
use crate::tail::TailStats;
use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};
use std::convert::Infallible;
use std::fmt::Write;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// One series: its name, its type, and how to read it from a flow's counters.
type Series<T> = (&'static str, &'static str, fn(&T) -> u64);

/// What the endpoint shows: every flow's counters.
pub struct StatusView {
    /// Each flow: its id, tailing counters and sending counters.
    pub flows: Vec<(String, Arc<TailStats>, Arc<FlowCounters>)>,
    /// `/health` is unhealthy when a flow could not send for this long.
    pub unhealthy_after: Duration,
}

impl StatusView {
    /// The Prometheus text exposition of every flow's counters and gauges.
    pub fn metrics(&self) -> String {
        let mut out = String::new();
        let tail: [Series<TailStats>; 7] = [
            ("records_parsed_total", "counter", |t| {
                load(&t.records_parsed)
            }),
            ("bytes_consumed_total", "counter", |t| {
                load(&t.bytes_consumed)
            }),
            ("bytes_behind", "gauge", |t| load(&t.bytes_behind)),
            ("files_behind", "gauge", |t| load(&t.files_behind)),
            ("files_tracked", "gauge", |t| load(&t.files_tracked)),
            ("bytes_unacknowledged", "gauge", |t| {
                load(&t.bytes_unacknowledged)
            }),
            ("oldest_unacknowledged_seconds", "gauge", |t| {
                load(&t.oldest_unacknowledged_millis) / 1000
            }),
        ];
        let sent: [Series<FlowCounters>; 9] = [
            ("records_processed_total", "counter", |c| {
                load(&c.records_processed)
            }),
            ("records_skipped_total", "counter", |c| {
                load(&c.records_skipped)
            }),
            ("processing_errors_total", "counter", |c| {
                load(&c.processing_errors)
            }),
            ("records_sent_total", "counter", |c| load(&c.records_sent)),
            ("bytes_sent_total", "counter", |c| load(&c.bytes_sent)),
            ("records_failed_total", "counter", |c| {
                load(&c.records_failed)
            }),
            ("put_calls_total", "counter", |c| load(&c.put_calls)),
            ("put_call_errors_total", "counter", |c| {
                load(&c.put_call_errors)
            }),
            ("failing_since_seconds", "gauge", |c| {
                load(&c.failing_since_millis) / 1000
            }),
        ];
        for (name, kind, get) in tail {
            let _ = writeln!(out, "# TYPE kinetail_{name} {kind}");
            for (id, t, _) in &self.flows {
                let _ = writeln!(out, "kinetail_{name}{{flow=\"{}\"}} {}", escape(id), get(t));
            }
        }
        for (name, kind, get) in sent {
            let _ = writeln!(out, "# TYPE kinetail_{name} {kind}");
            for (id, _, c) in &self.flows {
                let _ = writeln!(out, "kinetail_{name}{{flow=\"{}\"}} {}", escape(id), get(c));
            }
        }
        out
    }

    /// The flows that could not send for `unhealthy_after` as of `now_millis`, with for how long.
    pub fn unhealthy(&self, now_millis: u64) -> Vec<(String, Duration)> {
        self.flows
            .iter()
            .filter_map(|(id, _, c)| {
                let since = load(&c.failing_since_millis);
                let failing = Duration::from_millis(now_millis.saturating_sub(since));
                (since > 0 && failing >= self.unhealthy_after).then(|| (id.clone(), failing))
            })
            .collect()
    }

    fn respond(&self, path: &str) -> Response<Full<Bytes>> {
        let (status, body) = match path {
            "/metrics" => (StatusCode::OK, self.metrics()),
            "/health" => {
                let bad = self.unhealthy(super::unix_millis());
                if bad.is_empty() {
                    (StatusCode::OK, "ok\n".to_owned())
                } else {
                    let mut body = String::new();
                    for (id, d) in bad {
                        let _ = writeln!(body, "{id}: could not send for {} s", d.as_secs());
                    }
                    (StatusCode::SERVICE_UNAVAILABLE, body)
                }
            }
            _ => (
                StatusCode::NOT_FOUND,
                "kinetail: /metrics or /health\n".to_owned(),
            ),
        };
        let mut r = Response::new(Full::new(Bytes::from(body)));
        *r.status_mut() = status;
        r
    }
}

fn load(v: &std::sync::atomic::AtomicU64) -> u64 {
    v.load(Ordering::Relaxed)
}

/// A label value as the text format wants it.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Serves `view` on `listener` until `stop`.
pub async fn serve(listener: TcpListener, view: Arc<StatusView>, mut stop: watch::Receiver<bool>) {
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!("status endpoint: cannot accept a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = stop.changed() => return,
        };
        let view = view.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let r = view.respond(req.uri().path());
                async move { Ok::<_, Infallible>(r) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view() -> StatusView {
        let c = Arc::new(FlowCounters::default());
        FlowCounters::add(&c.records_sent, 42);
        StatusView {
            flows: vec![(
                "kinesis:s:/var/log/\"x\"/*.log".into(),
                Arc::new(TailStats::default()),
                c,
            )],
            unhealthy_after: Duration::from_secs(60),
        }
    }

    #[test]
    fn metrics_are_typed_and_labelled_by_flow() {
        let text = view().metrics();
        assert!(text.contains("# TYPE kinetail_records_sent_total counter\n"));
        assert!(text.contains(
            "kinetail_records_sent_total{flow=\"kinesis:s:/var/log/\\\"x\\\"/*.log\"} 42\n"
        ));
    }

    #[test]
    fn a_flow_failing_longer_than_the_limit_is_unhealthy() {
        let v = view();
        assert!(v.unhealthy(1_000_000).is_empty());
        v.flows[0]
            .2
            .failing_since_millis
            .store(1_000_000, Ordering::Relaxed);
        assert!(v.unhealthy(1_059_999).is_empty());
        assert_eq!(v.unhealthy(1_060_000).len(), 1);
        v.flows[0].2.note_request(true);
        assert!(v.unhealthy(2_000_000).is_empty());
    }
}
