//! The admin HTTP listener: a plain thread (never a shard) serving Prometheus `/metrics`, the
//! JSON status document `/v1/status`, the live status page `/` (one self-contained HTML file,
//! embedded in the binary), liveness (`/v1/health`, `/healthz`) and readiness
//! (`/v1/status/ready`). It only reads what the shards publish: atomic counters, heartbeat
//! stamps and once-a-second snapshots.

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
            "/v1/health" | "/healthz" | "/v1/status/ready" => health_response(path, &metrics),
            _ => tiny_http::Response::from_string("not found\n").with_status_code(404),
        };
        let _ = request.respond(response);
    }
}

/// Liveness (`/v1/health`, `/healthz`: every shard's heartbeat is fresh) or readiness
/// (`/v1/status/ready`: live, and every shard has finished recovery): 200, or 503 with the
/// reason. `/healthz` answers in plain text, the others in JSON.
fn health_response(
    path: &str,
    metrics: &[Arc<ShardMetrics>],
) -> tiny_http::Response<std::io::Cursor<Vec<u8>>> {
    let health = crate::metrics::health::health(metrics, crate::metrics::health::clock_ms());
    let ok = if path == "/v1/status/ready" {
        health.ready
    } else {
        health.live
    };
    let status = if ok { 200 } else { 503 };
    let response = if path == "/healthz" {
        let line = if health.live {
            "ok".to_string()
        } else {
            health.reason.clone().unwrap_or_default()
        };
        tiny_http::Response::from_string(line + "\n")
    } else {
        let body = serde_json::json!({
            "status": if ok { "ok" } else if health.live { "starting" } else { "down" },
            "live": health.live,
            "ready": health.ready,
            "reason": health.reason,
            "shards": health.shards,
        });
        text(body.to_string(), "application/json")
    };
    response.with_status_code(status)
}

fn text(body: String, content_type: &str) -> tiny_http::Response<std::io::Cursor<Vec<u8>>> {
    tiny_http::Response::from_string(body).with_header(
        tiny_http::Header::from_bytes(&b"Content-Type"[..], content_type.as_bytes())
            .expect("static header"),
    )
}
