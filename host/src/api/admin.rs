//! The admin API: policy hot swap, rollback, stats and state reset. Every
//! route needs `Authorization: Bearer <token>`; the token comes from the
//! environment variable named by `serve --admin-token-env` (default
//! `TOLLGATE_ADMIN_TOKEN`). Without a configured token the admin API answers
//! 403 and says how to enable it.

use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde_json::json;
use std::sync::Arc;

use crate::gateway::Gateway;
use crate::gateway::admin::AdminError;

/// Who may use the admin API.
#[derive(Clone)]
pub struct AdminAuth {
    /// The expected bearer token; `None` disables the admin API.
    pub token: Option<Arc<str>>,
    /// The environment variable it is read from (for the 403 hint).
    pub env: Arc<str>,
}

/// The admin routes, behind the bearer-token check.
pub fn router(gw: Arc<Gateway>, auth: AdminAuth) -> Router {
    Router::new()
        .route("/admin/policies", get(list))
        .route("/admin/policies/{slot}", put(swap))
        .route("/admin/policies/{slot}/rollback", post(rollback))
        .route("/admin/state/reset", post(reset))
        .layer(middleware::from_fn_with_state(auth, check))
        .with_state(gw)
}

async fn check(State(auth): State<AdminAuth>, req: Request, next: Next) -> Response {
    let Some(token) = &auth.token else {
        let detail = format!(
            "the admin API is disabled: set the environment variable {} to a secret token before starting `tollgate serve`, then send `Authorization: Bearer <token>`",
            auth.env
        );
        return (StatusCode::FORBIDDEN, Json(json!({ "detail": detail }))).into_response();
    };
    let given = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if !constant_time_eq(given.as_bytes(), token.as_bytes()) {
        let detail = "missing or wrong admin token: send `Authorization: Bearer <token>`";
        return (
            StatusCode::UNAUTHORIZED,
            [("www-authenticate", "Bearer")],
            Json(json!({ "detail": detail })),
        )
            .into_response();
    }
    next.run(req).await
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn list(State(gw): State<Arc<Gateway>>) -> Response {
    Json(json!({ "policies": gw.policy_views(), "pools": gw.state().pools() })).into_response()
}

/// `PUT /admin/policies/{slot}`: the body is the component bytes, or JSON
/// `{"path": "..."}` naming a component file on the server (relative paths
/// are relative to the config dir), or `{"builtin": "NAME"}`.
async fn swap(
    State(gw): State<Arc<Gateway>>,
    Path(slot): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let is_json = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let (source, bytes) = if is_json {
        let v = serde_json::from_slice::<serde_json::Value>(&body).unwrap_or_default();
        let field = |k: &str| v.get(k).and_then(|p| p.as_str()).map(str::to_owned);
        match (field("path"), field("builtin")) {
            (Some(path), None) => {
                let full = gw.config().dir.join(&path);
                match std::fs::read(&full) {
                    Ok(b) => (full.display().to_string(), b),
                    Err(e) => {
                        return error(
                            StatusCode::UNPROCESSABLE_ENTITY,
                            format!("cannot read {}: {e}", full.display()),
                        );
                    }
                }
            }
            (None, Some(name)) => match crate::builtin::component(&name) {
                Some(b) => (format!("builtin:{name}"), b.to_vec()),
                None => {
                    let names: Vec<_> = crate::builtin::BUILTIN.iter().map(|(n, _)| *n).collect();
                    return error(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        format!(
                            "no built-in policy `{name}` (built-in: {})",
                            names.join(", ")
                        ),
                    );
                }
            },
            _ => {
                return error(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "send the component bytes, or JSON {\"path\": \"file.wasm\"} or {\"builtin\": \"NAME\"}".into(),
                );
            }
        }
    } else {
        (
            format!("admin upload ({} bytes)", body.len()),
            body.to_vec(),
        )
    };
    let result = tokio::task::spawn_blocking(move || gw.swap_policy(&slot, source, &bytes)).await;
    match result {
        Ok(Ok(view)) => Json(json!({ "status": "swapped", "policy": view })).into_response(),
        Ok(Err(e)) => admin_error(e),
        Err(e) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("swap task failed: {e}"),
        ),
    }
}

async fn rollback(State(gw): State<Arc<Gateway>>, Path(slot): Path<String>) -> Response {
    match gw.rollback_policy(&slot) {
        Ok(view) => Json(json!({ "status": "rolled_back", "policy": view })).into_response(),
        Err(e) => admin_error(e),
    }
}

async fn reset(State(gw): State<Arc<Gateway>>) -> Response {
    gw.reset_policy_state();
    Json(json!({ "status": "ok", "message": "policy state reset" })).into_response()
}

fn admin_error(e: AdminError) -> Response {
    let status = match e {
        AdminError::UnknownSlot(..) => StatusCode::NOT_FOUND,
        AdminError::Refused(_) => StatusCode::UNPROCESSABLE_ENTITY,
        AdminError::NoPrevious(_) => StatusCode::CONFLICT,
    };
    error(status, e.to_string())
}

fn error(status: StatusCode, detail: String) -> Response {
    (status, Json(json!({ "detail": detail }))).into_response()
}
