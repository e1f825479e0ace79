//! `HTTPS_PROXY`: the agent's HTTPS traffic goes through a CONNECT proxy of the harness, to a
//! TLS endpoint in front of kinesalite (a test CA made with openssl, trusted through
//! `SSL_CERT_FILE`); with the endpoint's host in `NO_PROXY`, it goes straight there.

use crate::common::*;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A throwaway CA and a certificate for 127.0.0.1 signed by it, in `dir`: (ca.pem, leaf.pem,
/// leaf.key).
fn certificates(dir: &Path) -> (String, String, String) {
    let p = |name: &str| dir.join(name).to_string_lossy().into_owned();
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .output()
            .expect("openssl runs");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    std::fs::write(
        dir.join("leaf.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    run(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=kinetail-test-ca",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign",
        "-keyout",
        &p("ca.key"),
        "-out",
        &p("ca.pem"),
    ]);
    run(&[
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        &p("leaf.key"),
        "-out",
        &p("leaf.csr"),
    ]);
    run(&[
        "x509",
        "-req",
        "-in",
        &p("leaf.csr"),
        "-CA",
        &p("ca.pem"),
        "-CAkey",
        &p("ca.key"),
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        &p("leaf.ext"),
        "-out",
        &p("leaf.pem"),
    ]);
    (p("ca.pem"), p("leaf.pem"), p("leaf.key"))
}

/// Accepts TLS on 127.0.0.1 and passes the plain bytes to `upstream` (kinesalite); its port.
async fn tls_front(cert: &str, key: &str, upstream: u16) -> u16 {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(cert)
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(key).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let Ok(mut up) = TcpStream::connect(("127.0.0.1", upstream)).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut up).await;
            });
        }
    });
    port
}

/// A CONNECT proxy on 127.0.0.1: (its port, the targets of the tunnels it opened).
async fn connect_proxy() -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let tunnels = Arc::new(Mutex::new(vec![]));
    let seen = tunnels.clone();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut head = vec![];
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && head.len() < 8192 {
                    if client.read_exact(&mut byte).await.is_err() {
                        return;
                    }
                    head.push(byte[0]);
                }
                let head = String::from_utf8_lossy(&head).into_owned();
                let mut line = head.lines().next().unwrap_or("").split_whitespace();
                let (Some("CONNECT"), Some(target)) = (line.next(), line.next()) else {
                    let _ = client
                        .write_all(b"HTTP/1.1 405 Only CONNECT\r\nContent-Length: 0\r\n\r\n")
                        .await;
                    return;
                };
                seen.lock().unwrap().push(target.to_owned());
                let Ok(mut up) = TcpStream::connect(target).await else {
                    let _ = client
                        .write_all(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
                        .await;
                    return;
                };
                if client
                    .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    .await
                    .is_ok()
                {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut up).await;
                }
            });
        }
    });
    (port, tunnels)
}

/// Ships 300 lines to an HTTPS endpoint with `env`; returns the tunnels the proxy opened.
async fn ship_through(no_proxy: &str) -> (Vec<String>, u16) {
    let k = Kinesalite::start();
    let c = client(&k.endpoint()).await;
    create_stream(&c, "px", 1).await;
    let dir = tempfile::tempdir().unwrap();
    let (ca, leaf, key) = certificates(dir.path());
    let tls_port = tls_front(&leaf, &key, k.port).await;
    let (proxy_port, tunnels) = connect_proxy().await;
    std::fs::create_dir(dir.path().join("logs")).unwrap();
    let text: String = (0..300).map(|i| format!("proxied line {i}\n")).collect();
    append(&dir.path().join("logs/app.log"), &text);
    let cfg = write_config(
        dir.path(),
        &format!("https://127.0.0.1:{tls_port}"),
        serde_json::json!([{
            "filePattern": format!("{}/logs/*.log", dir.path().display()),
            "kinesisStream": "px",
            "initialPosition": "START_OF_FILE",
            "maxBufferAgeMillis": 1000,
        }]),
        serde_json::json!({}),
    );
    let proxy_url = format!("http://127.0.0.1:{proxy_port}");
    let agent = Agent::start_with_env(
        &cfg,
        &dir.path().join("agent.log"),
        &[
            ("SSL_CERT_FILE", &ca),
            ("HTTPS_PROXY", &proxy_url),
            ("NO_PROXY", no_proxy),
            ("no_proxy", no_proxy),
        ],
    );
    let mut reader = StreamReader::new(&c, "px").await;
    let got = reader.wait_for(300, Duration::from_secs(30)).await;
    let log = agent.log_text();
    agent.stop(Duration::from_secs(15));
    assert_eq!(got, 300, "{log}");
    assert!(
        log.contains(&format!("through the proxy of HTTPS_PROXY={proxy_url}")),
        "{log}"
    );
    let seen = tunnels.lock().unwrap().clone();
    (seen, tls_port)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_proxy_carries_the_traffic() {
    let (tunnels, tls_port) = ship_through("").await;
    assert!(!tunnels.is_empty(), "no tunnel through the proxy");
    assert!(
        tunnels
            .iter()
            .all(|t| *t == format!("127.0.0.1:{tls_port}")),
        "{tunnels:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosts_in_no_proxy_are_reached_directly() {
    let (tunnels, _) = ship_through("127.0.0.1").await;
    assert!(tunnels.is_empty(), "{tunnels:?}");
}
