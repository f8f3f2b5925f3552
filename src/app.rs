//! What every endpoint shares: the server's state, and how an outcome
//! becomes an HTTP response (the EC2 error document for every error).

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;

use crate::activity::RequestLog;
use crate::auth::{AuthMode, Authenticator};
use crate::faults::Faults;
use crate::metrics::Metrics;
use eipd_domain::error::ApiError;
use eipd_protocol::xml::error_document;
use eipd_store::Store;

/// The server's state, shared by every connection and endpoint.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub auth: Arc<Authenticator>,
    pub metrics: Arc<Metrics>,
    pub started: Instant,
    /// Fault injection (off unless configured).
    pub faults: Arc<Faults>,
    /// The last requests answered, for the dashboard.
    pub requests: Arc<RequestLog>,
}

pub(crate) fn new_request_id() -> String {
    // From the thread's RNG: Uuid::new_v4 asks the OS for entropy (a system
    // call) on every request.
    let id = uuid::Builder::from_random_bytes(rand::random()).into_uuid();
    id.hyphenated().encode_lower(&mut uuid::Uuid::encode_buffer()).to_owned()
}

pub(crate) fn xml_response(status: StatusCode, request_id: &str, body: String) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml;charset=UTF-8"));
    if let Ok(v) = HeaderValue::from_str(request_id) {
        headers.insert("x-amzn-requestid", v);
    }
    response
}

pub(crate) fn error_response(error: &ApiError, request_id: &str) -> Response {
    let status = StatusCode::from_u16(error.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    xml_response(status, request_id, error_document(error, request_id))
}

/// The 403 answer of an endpoint that shows or changes every account (the
/// dashboard, fault injection) under `--auth strict`; `None` in open mode.
pub(crate) fn refused_under_strict(app: &AppState, what: &str) -> Option<Response> {
    if app.auth.mode != AuthMode::Strict {
        return None;
    }
    let e = ApiError::access_denied(format!("{what} is disabled under --auth strict."));
    Some(error_response(&e, &new_request_id()))
}
