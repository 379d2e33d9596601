//! The admin listener's live status page, in a real headless browser (Debian's chromium): while
//! records are produced, the page shows the topic with non-zero throughput and a consumer group
//! that fell behind with its lag; a screenshot is kept as a test artifact
//! (target/artifacts/status-page.png). Also: `/v1/status` and `/metrics`.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

mod harness;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use harness::{sluice_bin, Broker};

const TOPIC: &str = "status-page-events";
const GROUP: &str = "status-page-readers";
/// How long the status document may take to show the produce traffic (two snapshot intervals
/// plus slack on a loaded machine).
const RATE_TIMEOUT: Duration = Duration::from_secs(20);
/// The browser's own deadline: load, run the page's script, render.
const BROWSER_TIMEOUT: Duration = Duration::from_secs(90);

fn http_get(b: &Broker, path: &str) -> (String, String) {
    let (status, head, body) = b.admin_get(path);
    assert_eq!(status, 200, "{path}: {head}");
    (head, body)
}

/// Produce through the CLI until `stop` is set.
fn produce_until(b: &Broker, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    let brokers = b.bootstrap_addr().to_string();
    std::thread::spawn(move || {
        let lines: String = (0..500)
            .map(|i| format!("key-{i}:status page record {i} {}\n", "x".repeat(100)))
            .collect();
        while !stop.load(Ordering::Relaxed) {
            let mut child = Command::new(sluice_bin())
                .args(["produce", TOPIC, "--key-separator", ":", "--acks", "1"])
                .env("SLUICE_BROKERS", &brokers)
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .spawn()
                .expect("run sluice produce");
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(lines.as_bytes())
                .expect("feed lines");
            assert!(
                child.wait().expect("wait").success(),
                "sluice produce failed"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    })
}

fn chromium() -> PathBuf {
    for c in ["chromium", "chromium-browser"] {
        for dir in std::env::var("PATH").unwrap_or_default().split(':') {
            let p = Path::new(dir).join(c);
            if p.is_file() {
                return p;
            }
        }
    }
    panic!("chromium not found: run scripts/install-test-deps.sh (installs Debian's chromium)");
}

/// Run headless chromium on `url` with `mode` (`--dump-dom` or `--screenshot=...`).
fn browse(url: &str, mode: &str, profile: &Path) -> String {
    let mut child = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--hide-scrollbars",
            "--window-size=1200,800",
            // Let the page's script fetch /v1/status and render before the DOM is taken.
            "--virtual-time-budget=5000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(mode)
        .arg(url)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run chromium");
    let mut stdout = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + BROWSER_TIMEOUT;
    loop {
        if let Some(status) = child.try_wait().expect("wait chromium") {
            assert!(status.success(), "chromium {mode} exited with {status}");
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("chromium {mode} did not finish within {BROWSER_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    reader.join().expect("chromium output")
}

/// The value of attribute `attr` on the element carrying `marker` in `dom`.
fn attribute(dom: &str, marker: &str, attr: &str) -> Option<String> {
    let at = dom.find(marker)?;
    let start = dom[..at].rfind('<')?;
    let end = at + dom[at..].find('>')?;
    let tag = &dom[start..end];
    let key = format!("{attr}=\"");
    let v = tag.find(&key)? + key.len();
    Some(tag[v..].split('"').next()?.to_string())
}

#[test]
fn status_page_shows_a_topic_being_produced_to_in_a_headless_browser() {
    let b = Broker::start("status-page", &["--cores", "2"]);
    let created = Command::new(sluice_bin())
        .args(["topic", "create", TOPIC, "-p", "4"])
        .env("SLUICE_BROKERS", b.bootstrap_addr().to_string())
        .output()
        .expect("create topic");
    assert!(created.status.success(), "{created:?}");
    let stop = Arc::new(AtomicBool::new(false));
    let producer = produce_until(&b, stop.clone());

    // The JSON document first: the topic, its partitions and a positive rate.
    let deadline = Instant::now() + RATE_TIMEOUT;
    let status = loop {
        let (head, body) = http_get(&b, "/v1/status");
        assert!(head.contains("application/json"), "{head}");
        let v: serde_json::Value = serde_json::from_str(&body).expect("status JSON");
        let topic = v["topics"]
            .as_array()
            .and_then(|t| t.iter().find(|t| t["name"] == TOPIC))
            .cloned();
        if topic
            .as_ref()
            .is_some_and(|t| t["bytes_in_per_sec"].as_f64().unwrap_or(0.0) > 0.0)
        {
            break v;
        }
        assert!(
            Instant::now() < deadline,
            "no produce rate for {TOPIC} within {RATE_TIMEOUT:?}: {v}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(
        status["shards"].as_array().map(Vec::len),
        Some(2),
        "{status}"
    );
    let topic = status["topics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == TOPIC)
        .unwrap();
    assert_eq!(topic["partitions"], 4);
    assert!(
        topic["records_in_per_sec"].as_f64().unwrap() > 0.0,
        "{topic}"
    );

    // A group that reads a little and falls behind the producer.
    let read = Command::new(sluice_bin())
        .args([
            "consume",
            TOPIC,
            "--group",
            GROUP,
            "--from-beginning",
            "-n",
            "20",
            "--timeout-ms",
            "60000",
        ])
        .env("SLUICE_BROKERS", b.bootstrap_addr().to_string())
        .output()
        .expect("consume");
    assert!(read.status.success(), "{read:?}");
    let deadline = Instant::now() + RATE_TIMEOUT;
    loop {
        let (_, body) = http_get(&b, "/v1/status");
        let v: serde_json::Value = serde_json::from_str(&body).expect("status JSON");
        let group = v["groups"]
            .as_array()
            .and_then(|g| g.iter().find(|g| g["name"] == GROUP))
            .cloned();
        if let Some(g) = group.filter(|g| g["lag"].as_i64().unwrap_or(0) > 0) {
            assert_eq!(g["state"], "Empty", "{g}");
            let parts = g["partitions"].as_array().expect("per-partition lag");
            assert!(!parts.is_empty(), "{g}");
            assert_eq!(
                parts.iter().filter_map(|p| p["lag"].as_i64()).sum::<i64>(),
                g["lag"].as_i64().unwrap(),
                "{g}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no lag for {GROUP} within {RATE_TIMEOUT:?}: {v}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    // Then the page, as a browser renders it.
    let url = format!("http://{}/", b.admin_addr());
    let (head, page) = http_get(&b, "/");
    assert!(head.contains("text/html"), "{head}");
    assert!(
        !page.contains("src=\"http") && !page.contains("href=\"http"),
        "the page loads nothing from outside"
    );
    let profile = tempfile::tempdir_in(harness::tmp_root()).expect("browser profile");
    let dom = browse(&url, "--dump-dom", profile.path());
    let marker = format!("data-topic=\"{TOPIC}\"");
    let rate: f64 = attribute(&dom, &marker, "data-bytes-in-per-sec")
        .unwrap_or_else(|| panic!("the rendered page has no row for {TOPIC}:\n{dom}"))
        .parse()
        .expect("rate attribute");
    assert!(rate > 0.0, "the page shows {TOPIC} with no throughput");
    assert!(dom.contains("data-shard=\"1\""), "both shards rendered");
    for shard in ["0", "1"] {
        let up = attribute(&dom, &format!("data-shard=\"{shard}\""), "data-up");
        assert_eq!(up.as_deref(), Some("true"), "shard {shard} shown up");
    }
    assert!(dom.contains(">serving<"), "shard state column");
    let lag: i64 = attribute(&dom, &format!("data-group=\"{GROUP}\""), "data-lag")
        .unwrap_or_else(|| panic!("the rendered page has no row for group {GROUP}:\n{dom}"))
        .parse()
        .expect("lag attribute");
    assert!(lag > 0, "the page shows {GROUP} with no lag");
    assert!(
        dom.contains(&format!("{TOPIC}-0: ")),
        "per-partition lag rendered"
    );

    let artifacts = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target")
        .join("artifacts");
    std::fs::create_dir_all(&artifacts).expect("artifacts dir");
    let shot = artifacts.join("status-page.png");
    let _ = std::fs::remove_file(&shot);
    browse(
        &url,
        &format!("--screenshot={}", shot.display()),
        profile.path(),
    );
    let png = std::fs::read(&shot).expect("screenshot written");
    assert!(png.starts_with(b"\x89PNG"), "screenshot is a PNG");

    stop.store(true, Ordering::Relaxed);
    producer.join().expect("producer thread");
}

#[test]
fn metrics_cover_latency_partitions_and_tail_cache() {
    let b = Broker::start("metrics-complete", &["--cores", "1"]);
    let mut child = Command::new(sluice_bin())
        .args(["produce", "m", "--acks", "all"])
        .env("SLUICE_BROKERS", b.bootstrap_addr().to_string())
        .stdin(Stdio::piped())
        .spawn()
        .expect("produce");
    child.stdin.take().unwrap().write_all(b"a\nb\nc\n").unwrap();
    assert!(child.wait().unwrap().success());
    // Partition gauges come from the shard's snapshot, published once a second.
    let deadline = Instant::now() + RATE_TIMEOUT;
    loop {
        let text = b.metrics_text();
        let hw = harness::metric_sum(
            &text,
            "sluice_partition_high_watermark",
            &[("topic", "m"), ("partition", "0")],
        );
        if hw == 3.0 {
            assert!(
                harness::metric_sum(&text, "sluice_partition_log_size_bytes", &[("topic", "m")])
                    > 0.0
            );
            assert_eq!(
                harness::metric_sum(&text, "sluice_partition_log_end_offset", &[("topic", "m")]),
                3.0
            );
            assert!(harness::metric_sum(&text, "sluice_tail_cache_budget_bytes", &[]) > 0.0);
            assert!(
                harness::metric_sum(
                    &text,
                    "sluice_request_duration_seconds_count",
                    &[("api", "Produce")]
                ) >= 1.0,
                "{text}"
            );
            assert!(text.contains(
                "sluice_request_duration_seconds_bucket{shard=\"0\",api=\"Produce\",le=\"+Inf\"}"
            ));
            break;
        }
        assert!(Instant::now() < deadline, "no partition gauges:\n{text}");
        std::thread::sleep(Duration::from_millis(200));
    }
}
