//! Answers and bodies common to the admin handlers.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use serde::de::DeserializeOwned;

pub(super) fn bad(e: impl std::fmt::Display) -> Response {
    (StatusCode::BAD_REQUEST, format!("{e}\n")).into_response()
}

pub(super) fn changed(result: gray_core::Result<u64>) -> Response {
    match result {
        Ok(generation) => Json(serde_json::json!({ "generation": generation })).into_response(),
        Err(e) => bad(e),
    }
}

pub(super) fn parse_json<T: DeserializeOwned>(body: &Bytes, what: &str) -> Result<T, String> {
    serde_json::from_slice(body).map_err(|e| format!("invalid {what} JSON: {e}"))
}
