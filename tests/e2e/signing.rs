//! The hand-signed PutRecords requests, seen from the wire: through the test proxy in front of
//! kinesalite (which checks no signature), every request's SigV4 signature is recomputed here
//! from what arrived (headers named in `SignedHeaders`, the body's SHA-256) with aws-sigv4's
//! signing-key and signature functions, and must match. Static keys from agent.json,
//! environment credentials with a session token, a profile, and credentials that expire and are
//! refreshed (the next requests are signed with the new key, fetched once, not per request).

use crate::common::proxy::{FaultProxy, SeenRequest};
use crate::common::*;
use aws_credential_types::provider::{future, ProvideCredentials, SharedCredentialsProvider};
use aws_credential_types::Credentials;
use aws_smithy_types::date_time::{DateTime, Format};
use kinetail::record::{AckToken, Record};
use kinetail::sink::kinesis::KinesisStream;
use kinetail::sink::Destination;
use sha2::{Digest, Sha256};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

/// What a verified request was signed with.
#[derive(Debug, PartialEq, Eq)]
struct Signed {
    key_id: String,
    scope: String,
    signed_headers: String,
}

/// Recomputes the SigV4 signature of `req` with `secret`, as the service would.
fn verify(req: &SeenRequest, secret: &str) -> Result<Signed, String> {
    let auth = req.header("authorization").ok_or("no Authorization")?;
    let rest = auth
        .strip_prefix("AWS4-HMAC-SHA256 ")
        .ok_or_else(|| format!("not SigV4: {auth}"))?;
    let field = |name: &str| {
        rest.split(", ")
            .find_map(|p| p.strip_prefix(name)?.strip_prefix('='))
            .ok_or_else(|| format!("no {name} in {auth}"))
    };
    let (credential, signed_headers, signature) = (
        field("Credential")?,
        field("SignedHeaders")?,
        field("Signature")?,
    );
    let (key_id, scope) = credential.split_once('/').ok_or("bad Credential")?;
    let scope_parts: Vec<&str> = scope.split('/').collect();
    let [day, region, service, "aws4_request"] = scope_parts[..] else {
        return Err(format!("bad scope {scope}"));
    };
    let amz_date = req.header("x-amz-date").ok_or("no X-Amz-Date")?;
    if !amz_date.starts_with(day) {
        return Err(format!(
            "X-Amz-Date {amz_date} is not in the scope's day {day}"
        ));
    }
    let mut line = req.head[0].split(' ');
    let (method, path) = (line.next().unwrap_or(""), line.next().unwrap_or(""));
    let mut canonical = format!("{method}\n{path}\n\n");
    for name in signed_headers.split(';') {
        let values: Vec<String> = req.head[1..]
            .iter()
            .filter_map(|h| {
                let (k, v) = h.split_once(':')?;
                k.trim()
                    .eq_ignore_ascii_case(name)
                    .then(|| v.split_whitespace().collect::<Vec<_>>().join(" "))
            })
            .collect();
        if values.is_empty() {
            return Err(format!("signed header {name} was not received"));
        }
        canonical.push_str(&format!("{name}:{}\n", values.join(",")));
    }
    canonical.push_str(&format!(
        "\n{signed_headers}\n{}",
        hex::encode(Sha256::digest(&req.body))
    ));
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex::encode(Sha256::digest(canonical.as_bytes()))
    );
    let iso = format!(
        "{}-{}-{}T{}:{}:{}Z",
        &amz_date[..4],
        &amz_date[4..6],
        &amz_date[6..8],
        &amz_date[9..11],
        &amz_date[11..13],
        &amz_date[13..15]
    );
    let time = SystemTime::try_from(DateTime::from_str(&iso, Format::DateTime).unwrap()).unwrap();
    let key = aws_sigv4::sign::v4::generate_signing_key(secret, time, region, service);
    let expected = aws_sigv4::sign::v4::calculate_signature(key, string_to_sign.as_bytes());
    if expected != signature {
        return Err(format!(
            "signature {signature} does not verify (expected {expected}); canonical request:\n{canonical}"
        ));
    }
    Ok(Signed {
        key_id: key_id.to_owned(),
        scope: scope.to_owned(),
        signed_headers: signed_headers.to_owned(),
    })
}

/// Runs the agent on 200 lines through the proxy, with `keys` in agent.json (or none) and
/// `env`; returns the Put requests the proxy saw.
async fn run_agent(
    name: &str,
    keys: bool,
    env: &[(&str, &str)],
    extra: serde_json::Value,
) -> Vec<SeenRequest> {
    let k = Kinesalite::start();
    let c = client(&k.endpoint()).await;
    create_stream(&c, name, 1).await;
    let proxy = FaultProxy::start(k.port, vec![]).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("logs")).unwrap();
    let text: String = (0..200).map(|i| format!("{name} line {i}\n")).collect();
    append(&dir.path().join("logs/app.log"), &text);
    let cfg = write_config(
        dir.path(),
        &proxy.endpoint(),
        serde_json::json!([{
            "filePattern": format!("{}/logs/*.log", dir.path().display()),
            "kinesisStream": name,
            "initialPosition": "START_OF_FILE",
            "maxBufferAgeMillis": 1000,
            "maxBufferSizeRecords": 50
        }]),
        extra,
    );
    if !keys {
        without_keys(&cfg);
    }
    let mut env: Vec<(&str, &str)> = env.to_vec();
    env.push(("AWS_EC2_METADATA_DISABLED", "true"));
    let agent = Agent::start_with_env(&cfg, &dir.path().join("agent.log"), &env);
    let mut reader = StreamReader::new(&c, name).await;
    let got = reader.wait_for(200, Duration::from_secs(30)).await;
    agent.signal(libc::SIGTERM);
    let log = agent.log_text();
    assert_eq!(agent.wait(Duration::from_secs(15)), Some(0), "{log}");
    assert_eq!(got, 200, "{log}");
    proxy.log().seen
}

fn without_keys(cfg: &Path) {
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(cfg).unwrap()).unwrap();
    let m = v.as_object_mut().unwrap();
    m.remove("awsAccessKeyId");
    m.remove("awsSecretAccessKey");
    std::fs::write(cfg, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_carry_a_signature_that_verifies() {
    let seen = run_agent(
        "signed",
        true,
        &[],
        serde_json::json!({ "userAgent": "acme-logs/3.1" }),
    )
    .await;
    assert!(seen.len() >= 4, "{} requests", seen.len());
    for req in &seen {
        let signed = verify(req, "localtestsecret").unwrap();
        assert_eq!(signed.key_id, "AKIDLOCALTEST");
        assert!(
            signed.scope.ends_with("/us-east-1/kinesis/aws4_request"),
            "{}",
            signed.scope
        );
        assert_eq!(
            signed.signed_headers,
            "content-type;host;x-amz-date;x-amz-target"
        );
        assert_eq!(
            req.header("x-amz-target"),
            Some("Kinesis_20131202.PutRecords")
        );
        assert_eq!(req.header("x-amz-security-token"), None);
        let ua = req.header("user-agent").unwrap();
        assert!(ua.starts_with("acme-logs/3.1 kinetail/"), "{ua}");
    }
    // Tampering is caught: the verification is not vacuous.
    let mut tampered = seen[0].clone();
    tampered.body.push(b' ');
    assert!(verify(&tampered, "localtestsecret").is_err());
    assert!(verify(&seen[0], "another secret").is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_from_the_environment_and_a_profile_sign_requests() {
    let env = [
        ("AWS_ACCESS_KEY_ID", "AKIDFROMENV"),
        ("AWS_SECRET_ACCESS_KEY", "env-secret"),
        ("AWS_SESSION_TOKEN", "env-session-token"),
    ];
    let seen = run_agent("from-env", false, &env, serde_json::json!({})).await;
    assert!(!seen.is_empty());
    for req in &seen {
        let signed = verify(req, "env-secret").unwrap();
        assert_eq!(signed.key_id, "AKIDFROMENV");
        assert_eq!(
            signed.signed_headers,
            "content-type;host;x-amz-date;x-amz-security-token;x-amz-target"
        );
        assert_eq!(
            req.header("x-amz-security-token"),
            Some("env-session-token")
        );
    }

    let dir = tempfile::tempdir().unwrap();
    let credentials = dir.path().join("credentials");
    std::fs::write(
        &credentials,
        "[default]\naws_access_key_id = AKIDWRONGPROFILE\naws_secret_access_key = x\n\n[kinetail-test]\naws_access_key_id = AKIDFROMPROFILE\naws_secret_access_key = profile-secret\n",
    )
    .unwrap();
    let credentials = credentials.display().to_string();
    let config = dir.path().join("config").display().to_string();
    let env = [
        ("AWS_SHARED_CREDENTIALS_FILE", credentials.as_str()),
        ("AWS_CONFIG_FILE", config.as_str()),
        ("AWS_PROFILE", "kinetail-test"),
    ];
    let seen = run_agent("from-profile", false, &env, serde_json::json!({})).await;
    assert!(!seen.is_empty());
    for req in &seen {
        assert_eq!(
            verify(req, "profile-secret").unwrap().key_id,
            "AKIDFROMPROFILE"
        );
    }
}

/// Hands out key A, expiring `a_lasts` from its first call, then key B for an hour.
#[derive(Debug)]
struct Rotating {
    calls: std::sync::Arc<AtomicUsize>,
    a_lasts: Duration,
}

impl ProvideCredentials for Rotating {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        let now = SystemTime::now();
        let creds = match self.calls.fetch_add(1, Ordering::SeqCst) {
            0 => Credentials::new(
                "AKIDFIRSTKEY",
                "first-secret",
                Some("first-token".into()),
                Some(now + self.a_lasts),
                "rotating",
            ),
            _ => Credentials::new(
                "AKIDSECONDKEY",
                "second-secret",
                Some("second-token".into()),
                Some(now + Duration::from_secs(3600)),
                "rotating",
            ),
        };
        future::ProvideCredentials::ready(Ok(creds))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiring_credentials_are_refreshed_once_and_the_next_requests_use_the_new_key() {
    let k = Kinesalite::start();
    let c = client(&k.endpoint()).await;
    create_stream(&c, "refresh", 1).await;
    let proxy = FaultProxy::start(k.port, vec![]).await;
    let calls = std::sync::Arc::new(AtomicUsize::new(0));
    let provider = Rotating {
        calls: calls.clone(),
        a_lasts: Duration::from_secs(4),
    };
    let sdk = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(proxy.endpoint())
        .credentials_provider(SharedCredentialsProvider::new(provider))
        // Refresh at most a second before expiry (the SDK's default is 10 s, too long for a test).
        .identity_cache(
            aws_config::identity::IdentityCache::lazy()
                .buffer_time(Duration::from_secs(1))
                .build(),
        )
        .build();
    let config = sdk.into();
    let plane = kinetail::sink::aws::DataPlane::new(&config).unwrap();
    let dest = KinesisStream::new(&config, &plane, "refresh")
        .await
        .unwrap();
    let mut sent = 0u64;
    let started = std::time::Instant::now();
    while started.elapsed() < Duration::from_secs(7) {
        let records: Vec<Record> = (0..3)
            .map(|i| Record {
                data: format!("refresh {}\n", sent + i).into_bytes().into(),
                partition_key: kinetail::record::PartitionKey::md5_of(format!("k{i}").as_bytes()),
                ack: AckToken {
                    fid: 1,
                    start: sent + i,
                    end: sent + i + 1,
                },
            })
            .collect();
        let results = dest
            .put(&kinetail::sink::batch::Sealed::plain(records))
            .await
            .unwrap();
        assert_eq!(results, vec![None, None, None]);
        sent += 3;
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let keys: Vec<String> = proxy
        .log()
        .seen
        .iter()
        .map(|req| {
            let key = verify(req, "first-secret")
                .or_else(|_| verify(req, "second-secret"))
                .unwrap()
                .key_id;
            let token = req.header("x-amz-security-token").unwrap();
            assert_eq!(
                token,
                if key == "AKIDFIRSTKEY" {
                    "first-token"
                } else {
                    "second-token"
                }
            );
            key
        })
        .collect();
    let first = keys.iter().take_while(|k| *k == "AKIDFIRSTKEY").count();
    assert!(first >= 2, "{keys:?}");
    assert!(
        keys[first..].iter().all(|k| k == "AKIDSECONDKEY") && keys.len() - first >= 2,
        "{keys:?}"
    );
    // Cached between refreshes: the provider was asked twice, not once per request.
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    let mut reader = StreamReader::new(&c, "refresh").await;
    assert_eq!(
        reader
            .wait_for(sent as usize, Duration::from_secs(10))
            .await,
        sent as usize
    );
}

/// The text between `<tag>` and `</tag>` in an XML reply.
fn xml_field<'a>(xml: &'a str, tag: &str) -> Option<&'a str> {
    let start = xml.find(&format!("<{tag}>"))? + tag.len() + 2;
    let end = start + xml[start..].find(&format!("</{tag}>"))?;
    Some(&xml[start..end])
}

/// A form-encoded body's fields, percent-decoded.
fn form_fields(body: &[u8]) -> std::collections::HashMap<String, String> {
    form_urlencoded::parse(body).into_owned().collect()
}

/// What STS handed out for one AssumeRole call.
#[derive(Debug, Clone)]
struct Assumed {
    key_id: String,
    secret: String,
    token: String,
    expires: SystemTime,
}

/// `assumeRoleARN` against moto's STS (through a recording proxy): the AssumeRole calls are
/// signed with agent.json's keys and carry the role, the Java agent's session name, the external
/// id and the duration; every PutRecords (through the proxy in front of kinesalite) and every
/// PutMetricData is signed with an assumed role's key and token, verified, before that role
/// expires; the role is assumed again before it expires (15 s sessions over ~22 s of
/// shipping), and Kinesis and CloudWatch share one assumed role rather than one each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_assumed_role_signs_every_request_and_is_assumed_again_before_it_expires() {
    const ROLE: &str = "arn:aws:iam::123456789012:role/kinetail-shipper";
    const EXTERNAL_ID: &str = "kinetail-ext-42";
    let k = Kinesalite::start();
    let c = client(&k.endpoint()).await;
    create_stream(&c, "role", 1).await;
    let kinesis = FaultProxy::start(k.port, vec![]).await;
    let moto = crate::common::moto::Moto::start();
    // STS and CloudWatch both go through this one.
    let sts = FaultProxy::start(moto.port, vec![]).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("logs")).unwrap();
    let cfg = write_config(
        dir.path(),
        &kinesis.endpoint(),
        serde_json::json!([{
            "filePattern": format!("{}/logs/*.log", dir.path().display()),
            "kinesisStream": "role",
            "initialPosition": "START_OF_FILE",
            "maxBufferAgeMillis": 1000,
        }]),
        serde_json::json!({
            "assumeRoleARN": ROLE,
            "assumeRoleExternalId": EXTERNAL_ID,
            "assumeRoleDurationSeconds": 15,
            "sts.endpoint": sts.endpoint(),
            "cloudwatch.emitMetrics": true,
            "cloudwatch.endpoint": sts.endpoint(),
            "cloudwatch.metricsBufferTimeMillis": 500,
        }),
    );
    let agent = Agent::start_with_env(
        &cfg,
        &dir.path().join("agent.log"),
        &[("AWS_EC2_METADATA_DISABLED", "true")],
    );
    const LINES: usize = 88;
    for i in 0..LINES {
        append(
            &dir.path().join("logs/app.log"),
            &format!("role line {i}\n"),
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let mut reader = StreamReader::new(&c, "role").await;
    let got = reader.wait_for(LINES, Duration::from_secs(30)).await;
    let log = agent.log_text();
    agent.stop(Duration::from_secs(15));
    assert_eq!(got, LINES, "{log}");

    let passed = sts.log().passed;
    let mut assumed: Vec<Assumed> = vec![];
    let mut metric_calls = vec![];
    for (req, reply) in &passed {
        let form = form_fields(&req.body);
        match form.get("Action").map(String::as_str) {
            Some("AssumeRole") => {
                assert_eq!(form.get("RoleArn").map(String::as_str), Some(ROLE));
                assert_eq!(
                    form.get("RoleSessionName").map(String::as_str),
                    Some("AWSKinesisAgent")
                );
                assert_eq!(
                    form.get("ExternalId").map(String::as_str),
                    Some(EXTERNAL_ID)
                );
                assert_eq!(form.get("DurationSeconds").map(String::as_str), Some("15"));
                let signed = verify(req, "localtestsecret").unwrap();
                assert_eq!(signed.key_id, "AKIDLOCALTEST");
                let xml = String::from_utf8_lossy(reply);
                let field = |t| xml_field(&xml, t).unwrap_or_else(|| panic!("no {t} in {xml}"));
                assumed.push(Assumed {
                    key_id: field("AccessKeyId").to_owned(),
                    secret: field("SecretAccessKey").to_owned(),
                    token: field("SessionToken").to_owned(),
                    expires: SystemTime::try_from(
                        DateTime::from_str(field("Expiration"), Format::DateTime).unwrap(),
                    )
                    .unwrap(),
                });
            }
            Some("PutMetricData") => metric_calls.push(req),
            _ => {}
        }
    }
    assert!(
        assumed.len() >= 2,
        "the role was assumed {} times in 22 s of 15 s sessions\n{log}",
        assumed.len()
    );
    let check = |req: &SeenRequest, what: &str| -> String {
        let key_id = req
            .header("authorization")
            .and_then(|a| a.split("Credential=").nth(1))
            .and_then(|c| c.split('/').next())
            .unwrap_or_default()
            .to_owned();
        let role = assumed
            .iter()
            .find(|a| a.key_id == key_id)
            .unwrap_or_else(|| panic!("{what} signed with {key_id}, not an assumed role's key"));
        verify(req, &role.secret).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(
            req.header("x-amz-security-token"),
            Some(role.token.as_str())
        );
        assert!(
            req.at < role.expires,
            "{what} at {:?} signed with a role that expired at {:?}",
            req.at,
            role.expires
        );
        key_id
    };
    let puts = kinesis.log().seen;
    let kinesis_keys: std::collections::HashSet<String> =
        puts.iter().map(|r| check(r, "PutRecords")).collect();
    let metric_keys: std::collections::HashSet<String> = metric_calls
        .iter()
        .map(|r| check(r, "PutMetricData"))
        .collect();
    assert!(kinesis_keys.len() >= 2, "{kinesis_keys:?}");
    assert!(!metric_keys.is_empty(), "no PutMetricData seen");
    assert!(
        kinesis_keys.intersection(&metric_keys).next().is_some(),
        "Kinesis ({kinesis_keys:?}) and CloudWatch ({metric_keys:?}) assumed the role each on their own"
    );
    let log = std::fs::read_to_string(dir.path().join("agent.log")).unwrap();
    for role in &assumed {
        assert!(
            !log.contains(&role.secret) && !log.contains(&role.token),
            "an assumed role's secret key or session token is in the log"
        );
    }
}
