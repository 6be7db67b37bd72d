//! The benchmark baseline: GET /hello -> {"hello":"world"} with axum on a multi-thread
//! tokio runtime built exactly as warrant builds its own (default worker count).
//! Usage: bench-hello PORT   (binds 127.0.0.1:PORT; prints a line when ready)

use std::io::Write;

use axum::routing::get;
use axum::{Json, Router};

async fn hello() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "hello": "world" }))
}

fn main() {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .expect("usage: bench-hello PORT");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("bind");
        let app = Router::new().route("/hello", get(hello));
        {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "hello listening on http://127.0.0.1:{port}");
            let _ = out.flush();
        }
        axum::serve(listener, app).await.expect("serve");
    });
}
