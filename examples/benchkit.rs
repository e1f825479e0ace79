//! The tools `scripts/bench` runs around the agent, one binary with three commands:
//!
//! - `gen OUT BYTES SEED`: writes taxi-shaped CSV (a header and rows like the NYC yellow-taxi
//!   files, ~100 bytes each) from a fixed seed, so every run ships the same bytes;
//! - `floor FILE`: the compute floor, the work no shipper can avoid: read the file, cut it into
//!   lines, base64 them into PutRecords bodies of 500 records (or 5 MiB); prints its CPU time;
//!   `floor FILE --signed` adds what signing and TLS do to each body and no HTTPS shipper can
//!   avoid either: its SHA-256 (SigV4's payload hash) and its AES-256-GCM sealing in TLS records
//!   of 16 KiB; `floor FILE --wire` adds, on top of that, what the kernel does to carry them:
//!   each sealed body goes over a loopback TCP connection to a thread that answers with as many
//!   bytes as a Kinesis reply to it would have, which are read back and opened (AES-GCM); only
//!   the sending thread's CPU is counted, as the endpoint's is not counted for the agent;
//!   with `--csvtojson`, each line is first converted as the bench's CSVTOJSON flow converts
//!   it, with kinetail's converter (the floor of a converting flow); with `--kpl`, the lines go
//!   into KPL aggregates of at most `aggregationMaxSizeBytes` (51,200 by default) first, the
//!   cheapest an aggregating shipper can make (one partition key each, MD5 trailer), and each
//!   aggregate is one entry (the floor of an aggregating flow);
//! - `blackhole --cert PEM --key PEM --port-file F --expect N`: a local HTTPS endpoint that
//!   answers PutRecords (and PutRecordBatch) as Kinesis (Firehose) does, counting records and
//!   bytes, and prints its counts as one JSON line and exits once `N` records arrived.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use kinetail::sink::aggregate;
use kinetail::sink::request::{Key, PutRecordsBody};
use std::io::{Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("gen") if args.len() == 4 => gen(&args[1], &args[2], &args[3]),
        Some("floor") if args.len() >= 2 => floor_command(&args[1], &args[2..]),
        Some("blackhole") => blackhole(&args[1..]),
        _ => Err(
            "usage: benchkit gen OUT BYTES SEED | floor FILE [--signed | --wire] [--csvtojson] | \
             blackhole --cert PEM --key PEM --port-file FILE --expect RECORDS"
                .into(),
        ),
    };
    if let Err(e) = result {
        eprintln!("benchkit: {e}");
        std::process::exit(2);
    }
}

type Error = Box<dyn std::error::Error + Send + Sync>;

/// SplitMix64: a fixed, tiny generator, so the data does not change with a crate's version.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
}

const HEADER: &str = "VendorID,tpep_pickup_datetime,tpep_dropoff_datetime,passenger_count,\
trip_distance,RatecodeID,store_and_fwd_flag,PULocationID,DOLocationID,payment_type,fare_amount,\
extra,mta_tax,tip_amount,tolls_amount,improvement_surcharge,total_amount\n";

fn gen(out: &str, bytes: &str, seed: &str) -> Result<(), Error> {
    let target: u64 = bytes.parse()?;
    let mut rng = Rng(seed.parse()?);
    let mut w = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(out)?);
    w.write_all(HEADER.as_bytes())?;
    let mut written = HEADER.len() as u64;
    let mut line = String::with_capacity(160);
    while written < target {
        line.clear();
        taxi_row(&mut rng, &mut line);
        w.write_all(line.as_bytes())?;
        written += line.len() as u64;
    }
    w.flush()?;
    Ok(())
}

/// One row shaped like the 2018 yellow-taxi files (same columns, value ranges and formats).
fn taxi_row(rng: &mut Rng, line: &mut String) {
    use std::fmt::Write;
    let day = rng.range(1, 31);
    let (h, m, s) = (rng.range(0, 23), rng.range(0, 59), rng.range(0, 59));
    let secs = h * 3600 + m * 60 + s + rng.range(120, 3000);
    let (h2, m2, s2) = ((secs / 3600) % 24, (secs / 60) % 60, secs % 60);
    let distance = rng.range(10, 2500) as f64 / 100.0;
    let fare = 2.5 + (distance * 2.5 * 2.0).round() / 2.0;
    let tip = rng.range(0, 1000) as f64 / 100.0;
    let tolls = if rng.range(0, 9) == 0 { 5.76 } else { 0.0 };
    let extra = [0.0, 0.5, 1.0][rng.range(0, 2) as usize];
    let total = fare + extra + 0.5 + tip + tolls + 0.3;
    let _ = writeln!(
        line,
        "{},2018-01-{day:02} {h:02}:{m:02}:{s:02},2018-01-{day:02} {h2:02}:{m2:02}:{s2:02},{},{distance},1,N,{},{},{},{fare:.1},{extra:.1},0.5,{tip},{tolls:.1},0.3,{total:.2}",
        rng.range(1, 2),
        rng.range(1, 6),
        rng.range(1, 265),
        rng.range(1, 265),
        rng.range(1, 4),
    );
}

/// The CPU seconds of this process, from the kernel's accounting.
fn cpu_seconds() -> Result<f64, Error> {
    usage_seconds(nix::sys::resource::UsageWho::RUSAGE_SELF)
}

/// The CPU seconds of the calling thread.
fn thread_cpu_seconds() -> Result<f64, Error> {
    usage_seconds(nix::sys::resource::UsageWho::RUSAGE_THREAD)
}

fn usage_seconds(who: nix::sys::resource::UsageWho) -> Result<f64, Error> {
    let usage = nix::sys::resource::getrusage(who)?;
    let secs = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
    Ok(secs(usage.user_time()) + secs(usage.system_time()))
}

/// What signing and TLS do to a request body: its SHA-256, and its sealing in 16 KiB records.
struct Sealer {
    key: aws_lc_rs::aead::LessSafeKey,
    record: Vec<u8>,
    seq: u64,
    /// Folded from every digest and tag, so that no work is optimised away.
    check: u8,
}

impl Sealer {
    fn new() -> Sealer {
        let key = aws_lc_rs::aead::UnboundKey::new(&aws_lc_rs::aead::AES_256_GCM, &[7u8; 32])
            .expect("a 32-byte key");
        Sealer {
            key: aws_lc_rs::aead::LessSafeKey::new(key),
            record: Vec::with_capacity(16 * 1024 + 16),
            seq: 0,
            check: 0,
        }
    }

    /// Hashes `body` and seals it, each sealed record handed to `sent`.
    fn seal(
        &mut self,
        body: &[u8],
        sent: impl FnMut(&[u8]) -> Result<(), Error>,
    ) -> Result<(), Error> {
        use sha2::Digest;
        self.check ^= sha2::Sha256::digest(body)[0];
        self.encrypt(body, sent)
    }

    /// AES-256-GCM over `data` in 16 KiB records, each record handed to `sent` as sealed.
    fn encrypt(
        &mut self,
        data: &[u8],
        mut sent: impl FnMut(&[u8]) -> Result<(), Error>,
    ) -> Result<(), Error> {
        for chunk in data.chunks(16 * 1024) {
            self.seq += 1;
            let mut nonce = [0u8; 12];
            nonce[4..].copy_from_slice(&self.seq.to_be_bytes());
            self.record.clear();
            self.record.extend_from_slice(chunk);
            let tag = self.key.seal_in_place_separate_tag(
                aws_lc_rs::aead::Nonce::assume_unique_for_key(nonce),
                aws_lc_rs::aead::Aad::from([23u8, 3, 3, 0, 0]),
                &mut self.record,
            )?;
            self.check ^= tag.as_ref()[0];
            self.record.extend_from_slice(tag.as_ref());
            sent(&self.record)?;
        }
        Ok(())
    }
}

/// Which reference `floor` measures.
#[derive(Clone, Copy, PartialEq)]
enum Reference {
    /// Read, frame, base64.
    Plain,
    /// And SHA-256 and AES-GCM of each body.
    Signed,
    /// And each sealed body sent over loopback TCP, its reply's bytes read back and opened.
    Wire,
}

/// A Kinesis reply's size per entry: `{"SequenceNumber":"<56 digits>","ShardId":"shardId-000000000000"},`.
const REPLY_ENTRY_BYTES: usize = 111;

/// The sending side of `floor --wire`: a loopback connection to a thread that reads each
/// request and answers with a reply's worth of bytes.
struct Wire {
    stream: std::net::TcpStream,
    out: Vec<u8>,
    reply: Vec<u8>,
    peer: Option<std::thread::JoinHandle<Result<(), std::io::Error>>>,
}

impl Wire {
    fn new() -> Result<Wire, Error> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let stream = std::net::TcpStream::connect(listener.local_addr()?)?;
        stream.set_nodelay(true)?;
        let (mut peer, _) = listener.accept()?;
        // The peer reads a request framed as [sealed length u64][reply length u64][sealed bytes]
        // and writes back reply-length bytes; a zero sealed length ends it.
        let peer = std::thread::spawn(move || -> Result<(), std::io::Error> {
            let mut buf = vec![0u8; 64 * 1024];
            let reply = vec![b'7'; 1 << 20];
            loop {
                let mut head = [0u8; 16];
                peer.read_exact(&mut head)?;
                let (mut left, answer) = (
                    u64::from_le_bytes(head[..8].try_into().unwrap_or_default()) as usize,
                    u64::from_le_bytes(head[8..].try_into().unwrap_or_default()) as usize,
                );
                if left == 0 {
                    return Ok(());
                }
                while left > 0 {
                    let n = peer.read(&mut buf[..left.min(64 * 1024)])?;
                    if n == 0 {
                        return Err(std::io::ErrorKind::UnexpectedEof.into());
                    }
                    left -= n;
                }
                peer.write_all(&reply[..answer.min(reply.len())])?;
            }
        });
        Ok(Wire {
            stream,
            out: Vec::new(),
            reply: vec![0u8; 1 << 20],
            peer: Some(peer),
        })
    }

    /// Sends `body` sealed, then reads and opens the reply to its `entries`.
    fn round_trip(
        &mut self,
        sealer: &mut Sealer,
        body: &[u8],
        entries: usize,
    ) -> Result<(), Error> {
        let answer = (40 + entries * REPLY_ENTRY_BYTES).min(self.reply.len());
        // One write per request, as a client that gathers its TLS records does.
        let mut out = std::mem::take(&mut self.out);
        out.clear();
        out.extend_from_slice(&[0u8; 16]);
        sealer.seal(body, |record| {
            out.extend_from_slice(record);
            Ok(())
        })?;
        let sealed = out.len() - 16;
        out[..8].copy_from_slice(&(sealed as u64).to_le_bytes());
        out[8..16].copy_from_slice(&(answer as u64).to_le_bytes());
        let sent = self.stream.write_all(&out);
        self.out = out;
        sent?;
        self.stream.read_exact(&mut self.reply[..answer])?;
        // Opening a TLS record costs what sealing it does: the reply's bytes are sealed too.
        let reply = std::mem::take(&mut self.reply);
        let opened = sealer.encrypt(&reply[..answer], |_| Ok(()));
        self.reply = reply;
        opened
    }

    fn finish(mut self) -> Result<(), Error> {
        self.stream.write_all(&[0u8; 16])?;
        if let Some(peer) = self.peer.take() {
            peer.join()
                .map_err(|_| "the wire's peer thread panicked")??;
        }
        Ok(())
    }
}

fn floor_command(path: &str, flags: &[String]) -> Result<(), Error> {
    let mut reference = Reference::Plain;
    let mut chain = None;
    let mut kpl = false;
    for flag in flags {
        match flag.as_str() {
            "--signed" => reference = Reference::Signed,
            "--wire" => reference = Reference::Wire,
            "--kpl" => kpl = true,
            "--csvtojson" => {
                chain = Some(kinetail::process::Chain::new(&[
                    kinetail::config::ProcessingOption::CsvToJson {
                        // The 17 names of the header, as the bench's CSVTOJSON flow names them.
                        field_names: HEADER.trim_end().split(',').map(String::from).collect(),
                        delimiter: ",".into(),
                        json_format: kinetail::config::JsonFormat::Compact,
                    },
                ])?)
            }
            other => return Err(format!("floor: unknown flag {other}").into()),
        }
    }
    floor(path, reference, chain.as_ref(), kpl.then(Aggregate::new))
}

/// As long as the text of a typical RANDOM key.
const KEY: &str = "483920.1837461032";

/// An aggregate's MD5 trailer.
const TRAILER: usize = aggregate::FRAME_BYTES - aggregate::MAGIC.len();

/// The cheapest KPL aggregate an aggregating shipper can make: one partition key for all its
/// records (a one-entry key table), records added until the next would pass the limit that
/// `aggregationMaxSizeBytes` sets by default; the MD5 trailer is appended when its request is
/// sent (`sink::aggregate::seal`, several at once).
struct Aggregate {
    buf: Vec<u8>,
    records: usize,
}

impl Aggregate {
    const MAX: usize = kinetail::config::DEFAULT_AGGREGATION_MAX_SIZE_BYTES as usize;

    fn new() -> Aggregate {
        let mut a = Aggregate {
            buf: Vec::with_capacity(Self::MAX),
            records: 0,
        };
        a.start();
        a
    }

    /// Empties it: magic and key table.
    fn start(&mut self) {
        self.buf.clear();
        self.records = 0;
        self.buf.extend_from_slice(&aggregate::MAGIC);
        aggregate::write_key(KEY.as_bytes(), &mut self.buf);
    }

    /// True when `data` still fits, with the trailer and the entry's key (a Kinesis record's
    /// size counts its partition key).
    fn fits(&self, data: usize) -> bool {
        self.buf.len() + aggregate::record_len(0, false, data) + TRAILER + KEY.len() <= Self::MAX
    }

    fn push(&mut self, data: &[u8]) {
        aggregate::write_record(0, false, data, &mut self.buf);
        self.records += 1;
    }

    /// The aggregate as written, for its MD5 trailer to be appended, and a new one started.
    fn take(&mut self) -> Vec<u8> {
        let full = std::mem::replace(&mut self.buf, Vec::with_capacity(Self::MAX));
        self.start();
        full
    }
}

/// What a finished body costs beyond its framing: nothing (plain), its hash and sealing
/// (signed), or those and its round trip (wire).
fn ship(
    sealer: &mut Option<Sealer>,
    wire: &mut Option<Wire>,
    body: &[u8],
    entries: usize,
) -> Result<(), Error> {
    match (sealer.as_mut(), wire.as_mut()) {
        (Some(s), Some(w)) => w.round_trip(s, body, entries),
        (Some(s), None) => s.seal(body, |_| Ok(())),
        (None, _) => Ok(()),
    }
}

/// The floor of `reference`; with `chain`, each line is converted by it first (the floor of a
/// converting flow: what it sends is the converted record); with `kpl`, the lines go into
/// aggregates, each sent as one entry.
fn floor(
    path: &str,
    reference: Reference,
    chain: Option<&kinetail::process::Chain>,
    mut kpl: Option<Aggregate>,
) -> Result<(), Error> {
    const MAX_RECORDS: usize = 500;
    const MAX_BYTES: usize = 5 << 20;
    let mut wire = if reference == Reference::Wire {
        Some(Wire::new()?)
    } else {
        None
    };
    let cpu = if wire.is_some() {
        thread_cpu_seconds
    } else {
        cpu_seconds
    };
    let start = cpu()?;
    let wall = Instant::now();
    let mut file = std::fs::File::open(path)?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut carry: Vec<u8> = Vec::new();
    let mut converted: Vec<u8> = Vec::new();
    let mut body = Vec::new();
    let mut request = PutRecordsBody::new(&mut body, "bench");
    let (mut records, mut requests, mut request_bytes, mut input) = (0u64, 0u64, 0usize, 0u64);
    let mut body_bytes = 0u64;
    let mut in_request = 0usize;
    let mut sealer = (reference != Reference::Plain).then(Sealer::new);
    // Aggregates of the request being filled: their MD5s are computed together, side by side,
    // as kinetail does.
    let mut pending: Vec<Vec<u8>> = Vec::new();
    // Sends the request, with the aggregates waiting for it sealed first.
    macro_rules! send {
        () => {{
            aggregate::seal(&mut pending);
            for a in &pending {
                request.push(a, Key::Text(KEY));
            }
            pending.clear();
            request.finish();
            body_bytes += body.len() as u64;
            requests += 1;
            ship(&mut sealer, &mut wire, &body, in_request)?;
            request = PutRecordsBody::new(&mut body, "bench");
            in_request = 0;
            request_bytes = 0;
        }};
    }
    // Counts an entry of `len` bytes in, sending the request first when it would not fit.
    macro_rules! room_for {
        ($len:expr) => {{
            let len: usize = $len;
            if in_request == MAX_RECORDS || request_bytes + len + KEY.len() > MAX_BYTES {
                send!();
            }
            request_bytes += len + KEY.len();
            in_request += 1;
        }};
    }
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        input += n as u64;
        let mut rest = &buf[..n];
        while let Some(i) = memchr::memchr(b'\n', rest) {
            let line: &[u8] = if carry.is_empty() {
                &rest[..=i]
            } else {
                carry.extend_from_slice(&rest[..=i]);
                &carry
            };
            // Converted first: the request limits count what is sent.
            let line = match chain {
                Some(chain) => {
                    converted.clear();
                    if chain.process(line, &mut converted) != kinetail::process::Outcome::Converted
                    {
                        converted.extend_from_slice(line);
                    }
                    &converted[..]
                }
                None => line,
            };
            // An entry: the line, or the aggregate it does not fit in (MD5 trailer to come).
            match kpl.as_mut() {
                None => {
                    room_for!(line.len());
                    request.push(line, Key::Text(KEY));
                }
                Some(a) => {
                    if a.records > 0 && !a.fits(line.len()) {
                        room_for!(a.buf.len() + TRAILER);
                        pending.push(a.take());
                    }
                    a.push(line);
                }
            }
            records += 1;
            carry.clear();
            rest = &rest[i + 1..];
        }
        carry.extend_from_slice(rest);
    }
    if let Some(a) = kpl.as_mut().filter(|a| a.records > 0) {
        room_for!(a.buf.len() + TRAILER);
        pending.push(a.take());
    }
    if in_request > 0 {
        send!();
    }
    debug_assert_eq!(
        (request.entries(), in_request, request_bytes),
        (0, 0, 0),
        "everything was sent"
    );
    let cpu = cpu()? - start;
    if let Some(w) = wire {
        w.finish()?;
    }
    println!(
        "{{\"input_bytes\":{input},\"records\":{records},\"requests\":{requests},\"body_bytes\":{body_bytes},\"cpu_seconds\":{cpu:.3},\"wall_seconds\":{:.3},\"check\":{}}}",
        wall.elapsed().as_secs_f64(),
        sealer.map_or(0, |s| s.check)
    );
    Ok(())
}

/// What arrived at the blackhole.
#[derive(Default)]
struct Counts {
    records: AtomicU64,
    /// Bytes of record data (decoded size of the base64 text).
    bytes: AtomicU64,
    requests: AtomicU64,
    /// When the last request was answered, in microseconds since the Unix epoch.
    last_at: AtomicU64,
}

fn blackhole(args: &[String]) -> Result<(), Error> {
    let mut cert = None;
    let mut key = None;
    let mut port_file = None;
    let mut expect: u64 = u64::MAX;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{a} needs a value"))
        };
        match a.as_str() {
            "--cert" => cert = Some(value()?),
            "--key" => key = Some(value()?),
            "--port-file" => port_file = Some(value()?),
            "--expect" => expect = value()?.parse()?,
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let (cert, key, port_file) = match (cert, key, port_file) {
        (Some(c), Some(k), Some(p)) => (c, k, p),
        _ => return Err("blackhole needs --cert, --key and --port-file".into()),
    };
    let tls = tls_config(&cert, &key)?;
    // One thread: it shares the 2 cores with the agent, and handing requests between two
    // workers cost it ~20 % more CPU per GB (measured) for no more MB/s.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(serve(tls, port_file, expect))
}

fn tls_config(cert: &str, key: &str) -> Result<Arc<rustls::ServerConfig>, Error> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(cert)?.collect::<Result<Vec<_>, _>>()?;
    let key = PrivateKeyDer::from_pem_file(key)?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

async fn serve(
    tls: Arc<rustls::ServerConfig>,
    port_file: String,
    expect: u64,
) -> Result<(), Error> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    std::fs::write(&port_file, format!("{}\n", listener.local_addr()?.port()))?;
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    let counts = Arc::new(Counts::default());
    let started = Instant::now();
    let (done_tx, mut done_rx) = tokio::sync::mpsc::channel::<()>(1);
    loop {
        let (tcp, _) = tokio::select! {
            accepted = listener.accept() => accepted?,
            _ = done_rx.recv() => break,
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let counts = counts.clone();
        let done_tx = done_tx.clone();
        tokio::spawn(async move {
            let Ok(stream) = acceptor.accept(tcp).await else {
                return;
            };
            let service = hyper::service::service_fn(move |req| {
                let counts = counts.clone();
                let done_tx = done_tx.clone();
                async move {
                    let reply = answer(req, &counts).await;
                    if counts.records.load(Ordering::Relaxed) >= expect {
                        let _ = done_tx.try_send(());
                    }
                    Ok::<_, std::convert::Infallible>(reply)
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
        });
    }
    // Let the last reply reach the agent before the process goes away.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    println!(
        "{{\"records\":{},\"bytes\":{},\"requests\":{},\"seconds\":{:.3},\"last_at\":{:.6},\"cpu_seconds\":{:.2}}}",
        counts.records.load(Ordering::Relaxed),
        counts.bytes.load(Ordering::Relaxed),
        counts.requests.load(Ordering::Relaxed),
        started.elapsed().as_secs_f64(),
        counts.last_at.load(Ordering::Relaxed) as f64 / 1e6,
        cpu_seconds().unwrap_or(0.0)
    );
    Ok(())
}

/// The entries of a PutRecords / PutRecordBatch body: how many, how many user records they
/// carry (KPL aggregates counted by their sub-records), and the user records' size.
/// A scan for the `"Data":"` members rather than a full JSON parse, so that the endpoint costs
/// little next to the agent; the body must still hold the array and end like a JSON object.
fn count_entries(body: &[u8], array: &[u8]) -> Option<(usize, usize, u64)> {
    let open = memchr::memmem::find(body, array)? + array.len();
    if !body.trim_ascii_end().ends_with(b"}") {
        return None;
    }
    let finder = memchr::memmem::Finder::new(br#""Data":""#);
    let (mut entries, mut users, mut bytes, mut at) = (0usize, 0usize, 0u64, open);
    while let Some(i) = finder.find(&body[at..]) {
        let data = at + i + 8;
        let len = memchr::memchr(b'"', &body[data..])?;
        let (n, b) = user_records(&body[data..data + len])?;
        users += n;
        bytes += b;
        entries += 1;
        at = data + len + 1;
    }
    Some((entries, users, bytes))
}

/// The user records of a PutRecords entry's data: the sub-records of a KPL aggregate (magic,
/// protobuf, MD5), or the record itself. Only entries that start like an aggregate are decoded.
fn user_records(b64: &[u8]) -> Option<(usize, u64)> {
    // "84maw" is the base64 of the magic F3 89 9A C2 followed by a key-table or record tag.
    if !b64.starts_with(b"84ma") {
        return Some((1, decoded_len(b64)));
    }
    let data = base64_simd::STANDARD.decode_to_vec(b64).ok()?;
    let proto = data.get(4..data.len().checked_sub(16)?)?;
    let (mut records, mut bytes, mut at) = (0usize, 0u64, 0usize);
    let varint = |at: &mut usize| -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *proto.get(*at)?;
            *at += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Some(v);
            }
        }
        None
    };
    while at < proto.len() {
        let tag = varint(&mut at)?;
        if tag & 7 != 2 {
            return None;
        }
        let len = varint(&mut at)? as usize;
        if tag >> 3 == 3 {
            records += 1;
            // The record's data field: the last length-delimited field of the nested message.
            bytes += len as u64;
        }
        at = at.checked_add(len).filter(|&end| end <= proto.len())?;
    }
    Some((records, bytes))
}

/// Bytes that a padded base64 text decodes to.
fn decoded_len(b64: &[u8]) -> u64 {
    let pad = b64.iter().rev().take_while(|&&c| c == b'=').count();
    (b64.len() / 4 * 3).saturating_sub(pad) as u64
}

async fn answer(req: Request<Incoming>, counts: &Counts) -> Response<Full<Bytes>> {
    let target = req
        .headers()
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return error(400, "SerializationException"),
    };
    let (array, firehose): (&[u8], bool) = match target.as_str() {
        "Kinesis_20131202.ListShards" => return one_shard(),
        "Kinesis_20131202.PutRecords" => (br#""Records":["#, false),
        "Firehose_20150804.PutRecordBatch" => (br#""Records":["#, true),
        _ => return error(400, "UnknownOperationException"),
    };
    let Some((n, users, bytes)) = count_entries(&body, array) else {
        return error(400, "SerializationException");
    };
    counts.bytes.fetch_add(bytes, Ordering::Relaxed);
    counts.requests.fetch_add(1, Ordering::Relaxed);
    counts.records.fetch_add(users as u64, Ordering::Relaxed);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64);
    counts.last_at.fetch_max(now, Ordering::Relaxed);
    let mut out = Vec::with_capacity(64 + n * 64);
    if firehose {
        out.extend_from_slice(br#"{"Encrypted":false,"FailedPutCount":0,"RequestResponses":["#);
        for i in 0..n {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(br#"{"RecordId":"blackhole"}"#);
        }
    } else {
        out.extend_from_slice(br#"{"FailedRecordCount":0,"Records":["#);
        for i in 0..n {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(
                br#"{"SequenceNumber":"49590338271490256608559692538361571095921575989136588898","ShardId":"shardId-000000000000"}"#,
            );
        }
    }
    out.extend_from_slice(b"]}");
    Response::builder()
        .header("content-type", "application/x-amz-json-1.1")
        .header("x-amzn-requestid", "blackhole")
        .body(Full::new(Bytes::from(out)))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

/// ListShards of a stream of one shard (what an aggregating flow reads at its start).
fn one_shard() -> Response<Full<Bytes>> {
    Response::builder()
        .header("content-type", "application/x-amz-json-1.1")
        .body(Full::new(Bytes::from_static(
            br#"{"Shards":[{"ShardId":"shardId-000000000000","HashKeyRange":{"StartingHashKey":"0","EndingHashKey":"340282366920938463463374607431768211455"},"SequenceNumberRange":{"StartingSequenceNumber":"49590338271490256608559692538361571095921575989136588898"}}]}"#,
        )))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

fn error(status: u16, code: &str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(format!(
        "{{\"__type\":\"{code}\",\"message\":\"blackhole cannot answer this\"}}"
    ))));
    *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::BAD_REQUEST);
    r
}
