//! The admin HTTP listener: a plain thread (never a shard) serving Prometheus `/metrics`, the
//! JSON status document `/v1/status`, the live status page `/` (one self-contained HTML file,
//! embedded in the binary) and `/healthz`. It only reads what the shards publish: atomic
//! counters and once-a-second snapshots.

pub mod status;

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::metrics::{render_prometheus, ShardMetrics, SNAPSHOT_INTERVAL_MS};

/// The status page: HTML, CSS and script in one file, no outside assets.
const STATUS_PAGE: &str = include_str!("page.html");

/// Serve until the process exits.
pub fn serve(listener: std::net::TcpListener, metrics: Vec<Arc<ShardMetrics>>) {
    let server = match tiny_http::Server::from_listener(listener, None) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "admin listener failed");
            return;
        }
    };
    let interval = Duration::from_millis(SNAPSHOT_INTERVAL_MS);
    let mut sampler = status::Sampler::new(&metrics);
    let mut last_sample = Instant::now();
    loop {
        // Wake at least once per interval to sample, so rates are ready on the first request.
        let request = match server.recv_timeout(interval) {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "admin listener failed");
                return;
            }
        };
        if last_sample.elapsed() >= interval {
            sampler.sample(&metrics);
            last_sample = Instant::now();
        }
        let Some(request) = request else { continue };
        let url = request.url().to_string();
        let path = url.split('?').next().unwrap_or("");
        let response = match path {
            "/metrics" => text(render_prometheus(&metrics), "text/plain; version=0.0.4"),
            "/v1/status" => text(sampler.status(&metrics).to_string(), "application/json"),
            "/" | "/index.html" => text(STATUS_PAGE.to_string(), "text/html; charset=utf-8"),
            "/healthz" => tiny_http::Response::from_string("ok\n"),
            _ => tiny_http::Response::from_string("not found\n").with_status_code(404),
        };
        let _ = request.respond(response);
    }
}

fn text(body: String, content_type: &str) -> tiny_http::Response<std::io::Cursor<Vec<u8>>> {
    tiny_http::Response::from_string(body).with_header(
        tiny_http::Header::from_bytes(&b"Content-Type"[..], content_type.as_bytes())
            .expect("static header"),
    )
}
