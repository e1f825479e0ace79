//! Per-core converter throughput, in input bytes per second.
//!
//! `cargo bench --bench converters -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use kinetail::config::{JsonFormat, LogFormat};
use kinetail::process::addmetadata::AddMetadata;
use kinetail::process::csvtojson::CsvToJson;
use kinetail::process::logtojson::LogToJson;
use kinetail::process::Converter;

/// The first 2,000 lines of the NYC yellow taxi trips of December 2018 (header included).
const TAXI: &str = include_str!("data/taxi_2000.csv");

/// Deterministic xorshift, so every run converts the same lines.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

/// About 2,000 lines of a plausible Apache combined access log.
fn access_log() -> Vec<String> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    const METHODS: [&str; 6] = ["GET", "GET", "GET", "POST", "HEAD", "PUT"];
    const PATHS: [&str; 10] = [
        "/",
        "/index.html",
        "/static/css/site.4f2a91.css",
        "/static/js/app.bundle.8c1d2e.js",
        "/api/v2/orders?page=3&limit=50",
        "/api/v2/users/18234/profile",
        "/images/products/sku-99812-large.jpg",
        "/search?q=running+shoes&sort=price_asc",
        "/favicon.ico",
        "/wp-login.php",
    ];
    const REFERERS: [&str; 5] = [
        "-",
        "https://www.example.com/",
        "https://www.google.com/search?q=example+shop",
        "https://www.example.com/cart?step=2",
        "android-app://com.google.android.gm/",
    ];
    const AGENTS: [&str; 5] = [
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
        "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
        "curl/8.5.0",
        "Googlebot/2.1 (+http://www.google.com/bot.html)",
    ];
    const STATUS: [&str; 8] = ["200", "200", "200", "200", "304", "301", "404", "500"];
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    let mut secs = 9 * 3600;
    (0..2000)
        .map(|_| {
            secs += rng.below(3);
            let host = if rng.below(10) == 0 {
                format!("crawl-{}.search.example.net", rng.below(900) + 100)
            } else {
                format!(
                    "{}.{}.{}.{}",
                    rng.below(223) + 1,
                    rng.below(256),
                    rng.below(256),
                    rng.below(254) + 1
                )
            };
            let user = if rng.below(20) == 0 { "alice" } else { "-" };
            let status = rng.pick(&STATUS);
            let bytes = if status == "304" {
                "-".to_string()
            } else {
                (rng.below(50_000) + 200).to_string()
            };
            format!(
                "{host} - {user} [{:02}/{}/2024:{:02}:{:02}:{:02} +0000] \"{} {} HTTP/1.1\" {status} {bytes} \"{}\" \"{}\"\n",
                rng.below(28) + 1,
                MONTHS[rng.below(12) as usize],
                secs / 3600 % 24,
                secs / 60 % 60,
                secs % 60,
                rng.pick(&METHODS),
                rng.pick(&PATHS),
                rng.pick(&REFERERS),
                rng.pick(&AGENTS),
            )
        })
        .collect()
}

fn run_all(c: &mut Criterion, name: &str, converter: &dyn Converter, lines: &[&[u8]]) {
    let bytes: usize = lines.iter().map(|l| l.len()).sum();
    let mut out = Vec::with_capacity(64 * 1024);
    // A converter that skips lines would flatter itself: every line must convert.
    for line in lines {
        out.clear();
        assert!(
            converter.convert(line, &mut out).unwrap_or(false),
            "{name}: {}",
            String::from_utf8_lossy(line)
        );
    }
    let mut group = c.benchmark_group("converters");
    group.throughput(Throughput::Bytes(bytes as u64));
    group.bench_function(name, |b| {
        b.iter(|| {
            for line in lines {
                out.clear();
                let _ = black_box(converter.convert(black_box(line), &mut out));
            }
        })
    });
    group.finish();
}

fn converters(c: &mut Criterion) {
    let mut taxi = TAXI.split_inclusive('\n');
    let header = taxi.next().unwrap_or_default().trim_end();
    let fields: Vec<String> = header.split(',').map(str::to_string).collect();
    let taxi: Vec<&[u8]> = taxi.map(str::as_bytes).collect();
    let csv = CsvToJson::new(&fields, ",", JsonFormat::Compact).expect("CSVTOJSON");
    run_all(c, "csvtojson_taxi", &csv, &taxi);

    let log = access_log();
    let log: Vec<&[u8]> = log.iter().map(|l| l.as_bytes()).collect();
    let combined = LogToJson::new(
        LogFormat::CombinedApacheLog,
        None,
        None,
        JsonFormat::Compact,
    )
    .expect("LOGTOJSON");
    run_all(c, "logtojson_combined", &combined, &log);

    let meta = serde_json::json!({"host": "web-1", "env": "prod"});
    let add = AddMetadata::new(&meta, true, JsonFormat::Compact);
    run_all(c, "addmetadata_access_log", &add, &log);
}

criterion_group!(benches, converters);
criterion_main!(benches);
