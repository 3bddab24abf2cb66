//! `/sandbox/v1`: the request log and fault control over HTTP (not logged, never faulted).

use std::sync::Arc;

use axum::extract::Request;
use axum::http::Method;
use axum::response::Response;
use serde_json::json;

use super::AppState;
use super::http::{self, Query};
use crate::faults::FaultSpec;
use crate::store::ApiError;

pub(super) async fn handle(state: &Arc<AppState>, req: Request) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().trim_end_matches('/').to_string();
    let q = Query::parse(req.uri().query()).unwrap_or_default();
    let Ok(body) = axum::body::to_bytes(req.into_body(), http::MAX_BODY).await else {
        return http::error(&ApiError::too_large());
    };
    let result: Result<Response, ApiError> = match (method, path.as_str()) {
        (Method::GET, "/sandbox/v1/requests") => {
            let since = q.value("since").and_then(|s| s.parse().ok()).unwrap_or(0);
            Ok(http::json(
                200,
                &json!({"items": state.log.since(since), "lastSeq": state.log.last_seq()}),
                &[],
            ))
        }
        (Method::DELETE, "/sandbox/v1/requests") => {
            state.log.clear();
            Ok(http::json(200, &json!({"cleared": true}), &[]))
        }
        (Method::GET, "/sandbox/v1/verbs") => {
            let items: Vec<_> = state
                .log
                .verbs_used()
                .into_iter()
                .map(|(group, resource, verb)| json!({"group": group, "resource": resource, "verb": verb}))
                .collect();
            Ok(http::json(200, &json!({"items": items}), &[]))
        }
        (Method::GET, "/sandbox/v1/watches") => {
            let open = state.open_watches.load(std::sync::atomic::Ordering::SeqCst);
            Ok(http::json(200, &json!({"open": open}), &[]))
        }
        (Method::GET, "/sandbox/v1/faults") => {
            Ok(http::json(200, &json!({"items": state.faults.list()}), &[]))
        }
        (Method::DELETE, "/sandbox/v1/faults") => {
            state.faults.clear();
            Ok(http::json(200, &json!({"cleared": true}), &[]))
        }
        (Method::POST, "/sandbox/v1/faults") => post_fault(state, &body),
        _ => Err(ApiError::unknown_resource()),
    };
    result.unwrap_or_else(|e| http::error(&e))
}

fn post_fault(state: &Arc<AppState>, body: &[u8]) -> Result<Response, ApiError> {
    let spec: FaultSpec =
        serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("invalid fault: {e}")))?;
    if spec.action.is_one_shot() {
        state.run_action(&spec.action, &spec.matcher)?;
        return Ok(http::json(200, &json!({"applied": spec.action}), &[]));
    }
    let id = state
        .faults
        .add(spec)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    Ok(http::json(201, &json!({"id": id}), &[]))
}
