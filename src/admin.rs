//! The admin HTTP listener: a plain thread (never a shard) serving Prometheus `/metrics`.
//! It only reads the shards' atomic counters.

use std::sync::Arc;

use crate::metrics::{render_prometheus, ShardMetrics};

/// Serve until the process exits.
pub fn serve(listener: std::net::TcpListener, metrics: Vec<Arc<ShardMetrics>>) {
    let server = match tiny_http::Server::from_listener(listener, None) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "admin listener failed");
            return;
        }
    };
    for request in server.incoming_requests() {
        let url = request.url().to_string();
        let response = match url.as_str() {
            "/metrics" => tiny_http::Response::from_string(render_prometheus(&metrics))
                .with_header(
                    tiny_http::Header::from_bytes(
                        &b"Content-Type"[..],
                        &b"text/plain; version=0.0.4"[..],
                    )
                    .expect("static header"),
                ),
            "/healthz" => tiny_http::Response::from_string("ok\n"),
            _ => tiny_http::Response::from_string("not found\n").with_status_code(404),
        };
        let _ = request.respond(response);
    }
}
