//! The HTTP side: request ids, body limits, timeouts, logging, and the one
//! place where an outcome becomes an HTTP response.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::sync::watch;

use crate::activity;
pub use crate::app::AppState;
use crate::app::{error_response, new_request_id, xml_response};
use crate::auth::{AuthMode, RequestParts, Service};
use crate::sts::{self, StsAction};
use eipd_api::{self as api, Action, Ctx};
use eipd_domain::error::{ApiError, ApiResult};
use eipd_domain::{Flavor, Scope};
use eipd_protocol::Params;
use eipd_protocol::xml::{error_document, query_error_document, query_success_document, success_document};

/// Largest request body accepted (EC2 refuses far smaller documents).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// How long a client may take to send its headers, and then its body.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
pub const BODY_TIMEOUT: Duration = Duration::from_secs(30);

/// Answers requests: the EC2 API at `/` straight from the connection, every
/// other endpoint through axum's router (its routing and extraction were
/// ~8% of the instructions of a DescribeAddresses). Connections share one
/// behind an Arc: a request clones nothing else (every clone of a shared
/// handle is a write to a cache line both cores use).
pub struct Endpoints {
    state: Arc<AppState>,
    others: TowerToHyperService<Router>,
}

impl Endpoints {
    pub fn new(state: AppState) -> Self {
        let state = Arc::new(state);
        let others = TowerToHyperService::new(routes().with_state(state.clone()));
        Self { state, others }
    }

    pub async fn answer<B>(&self, request: axum::http::Request<B>) -> Response
    where
        B: HttpBody<Data = Bytes> + Send + 'static,
        B::Error: Into<axum::BoxError>,
    {
        if request.uri().path() == "/" {
            return ec2(&self.state, request).await;
        }
        match hyper::service::Service::call(&self.others, request.map(Body::new)).await {
            Ok(response) => response,
            Err(never) => match never {},
        }
    }
}

/// Every endpoint but the EC2 API's `/`.
fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route("/moto-api/reset", post(reset))
        .merge(crate::dashboard::routes())
        .merge(crate::faults::routes())
        .fallback(not_found)
}

/// Serves until `shutdown` turns true; then stops accepting, lets every
/// request already received be answered (each connection closes after its
/// answer) for up to `grace`, and returns. A client whose request was taken
/// gets its answer: a mutation is never left ambiguous by a shutdown.
///
/// At most `max_connections` are served at once: one more is answered
/// `503 ServiceUnavailable` and closed at once, so that idle connections can
/// never use up the process's file descriptors and stall every new client.
pub async fn run(
    listener: TcpListener,
    state: AppState,
    mut shutdown: watch::Receiver<bool>,
    grace: Duration,
    max_connections: usize,
) -> anyhow::Result<()> {
    let endpoints = Arc::new(Endpoints::new(state));
    let connections = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(max_connections));
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // Out of file descriptors and the like: back off, keep serving.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => break,
        };
        let _ = stream.set_nodelay(true);
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tokio::spawn(refuse_connection(stream, max_connections));
            continue;
        };
        let endpoints = endpoints.clone();
        let service = hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
            let endpoints = endpoints.clone();
            async move { Ok::<_, Infallible>(endpoints.answer(request).await) }
        });
        let conn = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(HEADER_TIMEOUT)
            .keep_alive(true)
            // A client may shut its side down once the request is sent
            // (`Connection: close` and shutdown(SHUT_WR)); it still gets its
            // answer.
            .half_close(true)
            .serve_connection(TokioIo::new(stream), service);
        let conn = connections.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
            drop(slot);
        });
    }
    drop(listener);
    let open = connections.count();
    if open > 0 {
        tracing::info!(connections = open, grace_secs = grace.as_secs_f64(), "answering the requests in flight");
    }
    if tokio::time::timeout(grace, connections.shutdown()).await.is_err() {
        tracing::warn!(grace_secs = grace.as_secs_f64(), "requests still in flight after the grace period are dropped");
    }
    Ok(())
}

/// The answer to a connection over the cap: 503 and the EC2 error document,
/// written without reading the request (a client retries it elsewhere or
/// later), then the connection is closed.
async fn refuse_connection(mut stream: TcpStream, max_connections: usize) {
    let error = ApiError::service_unavailable(format!(
        "eipd serves at most {max_connections} connections at once (--max-connections); try again shortly"
    ));
    let request_id = new_request_id();
    let body = error_document(&error, &request_id);
    let head = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/xml;charset=UTF-8\r\nx-amzn-requestid: {request_id}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(body.as_bytes()).await?;
        stream.shutdown().await
    })
    .await;
    tracing::warn!(max_connections, "connection refused: too many open connections");
}

/// Reads the body within the size and time limits.
async fn read_body<B>(body: B) -> ApiResult<Bytes>
where
    B: HttpBody<Data = Bytes>,
    B::Error: Into<axum::BoxError>,
{
    let mut collect = std::pin::pin!(Limited::new(body, MAX_BODY_BYTES).collect());
    // The body mostly comes in the same read as the headers: only one still
    // on its way needs a timer (arming and cancelling one on every request
    // was ~2% of the request path).
    let first = std::future::poll_fn(|cx| Poll::Ready(collect.as_mut().poll(cx))).await;
    let received = match first {
        Poll::Ready(received) => Ok(received),
        Poll::Pending => tokio::time::timeout(BODY_TIMEOUT, collect).await,
    };
    match received {
        Err(_) => Err(ApiError::request_timeout("The request body was not received in time.")),
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => {
            Err(ApiError::request_entity_too_large(format!("The request body is larger than {MAX_BODY_BYTES} bytes.")))
        }
        Ok(Err(e)) => Err(ApiError::incomplete_body(format!("The request body could not be read: {e}"))),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
    }
}

/// Query-protocol requests come as a form POST (or, as EC2 also allows, a GET
/// with the parameters in the query string).
fn check_content_type(headers: &HeaderMap) -> ApiResult<()> {
    const FORM: &str = "application/x-www-form-urlencoded";
    let Some(value) = headers.get(header::CONTENT_TYPE) else { return Ok(()) };
    let bytes = value.as_bytes();
    if bytes.len() >= FORM.len() && bytes[..FORM.len()].eq_ignore_ascii_case(FORM.as_bytes()) {
        return Ok(());
    }
    let value = value.to_str().unwrap_or("").to_ascii_lowercase();
    Err(ApiError::unsupported_media_type(format!(
        "The content type '{value}' is not supported: send application/x-www-form-urlencoded."
    )))
}

async fn ec2<B>(app: &AppState, request: axum::http::Request<B>) -> Response
where
    B: HttpBody<Data = Bytes>,
    B::Error: Into<axum::BoxError>,
{
    let started = Instant::now();
    let request_id = new_request_id();
    let (parts, body) = request.into_parts();
    // The action, once known, for the metrics of refused requests.
    let mut known_action = None;
    // Whether the error was injected by fault injection (logged quietly).
    let mut injected = false;
    // For the request log: who asked, what the request named it.
    let mut asked: Option<(Scope, Vec<(&'static str, String)>)> = None;
    // Whether the request was signed for STS (then answered in its documents).
    let mut is_sts = false;
    let outcome = async {
        if parts.method != Method::POST && parts.method != Method::GET {
            return Err(ApiError::method_not_allowed(format!("The method {} is not allowed: use POST.", parts.method)));
        }
        let body = read_body(body).await?;
        let mut params = if parts.method == Method::POST {
            check_content_type(&parts.headers)?;
            Params::decode(&body)?
        } else {
            Params::default()
        };
        if let Some(query) = parts.uri.query() {
            params.merge(Params::decode(query.as_bytes())?)?;
        }
        let request = RequestParts {
            method: parts.method.as_str(),
            path: parts.uri.path(),
            query: parts.uri.query().unwrap_or(""),
            headers: &parts.headers,
            body: &body,
        };
        let (principal, service) = app.auth.authenticate(&request, &mut params)?;
        asked = Some((principal.scope.clone(), activity::subjects(&params)));
        if service == Service::Sts {
            is_sts = true;
            return match sts::decode(params)? {
                action @ StsAction::GetCallerIdentity => Ok(Reply::Sts(action, sts::get_caller_identity(&principal))),
            };
        }
        let name = params.action().ok_or_else(ApiError::missing_action)?;
        let action = Action::parse(name).ok_or_else(|| ApiError::invalid_action(name))?;
        known_action = Some(action);
        if let Err(e) = app.faults.inject(action).await {
            injected = true;
            return Err(e);
        }
        let scope = principal.scope.clone();
        let stale = app.faults.stale_view(&scope, action).map(Arc::new);
        let before = app.faults.before_mutation(&scope, action, &app.store);
        let ctx = Ctx { action, store: &app.store, principal, stale };
        let output = api::dispatch(&ctx, params).await?;
        if let Some(before) = before {
            app.faults.mutated(scope, before);
        }
        Ok(Reply::Ec2(action, output))
    }
    .await;
    let elapsed = started.elapsed();
    let elapsed_us = elapsed.as_micros() as u64;
    match &outcome {
        Ok(Reply::Ec2(action, _)) => app.metrics.observe_ok(*action, elapsed),
        // STS calls are not EC2 actions: the request log shows them.
        Ok(Reply::Sts(..)) => {}
        Err(_) if is_sts => {}
        Err(error) => app.metrics.observe(known_action, error.code, elapsed),
    }
    let (scope, subjects) = asked.map_or((None, Vec::new()), |(scope, subjects)| (Some(scope), subjects));
    app.requests.record(activity::Outcome {
        request_id: &request_id,
        action: match (known_action, &outcome) {
            (Some(action), _) => action.name(),
            (None, Ok(Reply::Sts(action, _))) => action.name(),
            // An action eipd does not serve (the metrics' label too).
            (None, Err(e)) if e.code == "InvalidAction" => "unknown",
            (None, _) => "-",
        },
        scope: scope.as_ref(),
        status: outcome.as_ref().map_or_else(|e| e.status, |_| 200),
        error: outcome.as_ref().err().map(|e| (e.code, e.message.as_str())),
        elapsed,
        subjects,
    });
    match outcome {
        Ok(Reply::Ec2(action, output)) => {
            tracing::debug!(%request_id, action = action.name(), status = 200, elapsed_us, "request");
            xml_response(StatusCode::OK, &request_id, success_document(action.name(), &request_id, output.as_ref()))
        }
        Ok(Reply::Sts(action, identity)) => {
            tracing::debug!(%request_id, sts_action = action.name(), status = 200, elapsed_us, "request");
            let body = query_success_document(sts::NAMESPACE, action.name(), &request_id, &identity);
            xml_response(StatusCode::OK, &request_id, body)
        }
        Err(error) => {
            if injected {
                tracing::debug!(%request_id, code = error.code, status = error.status, elapsed_us, "injected fault");
            } else if error.status >= 500 {
                tracing::error!(%request_id, code = error.code, message = %error.message, elapsed_us, "request failed");
            } else {
                tracing::debug!(%request_id, code = error.code, status = error.status, elapsed_us, "request refused");
            }
            if is_sts {
                let status = StatusCode::from_u16(error.status).unwrap_or(StatusCode::BAD_REQUEST);
                xml_response(status, &request_id, query_error_document(sts::NAMESPACE, &error, &request_id))
            } else {
                error_response(&error, &request_id)
            }
        }
    }
}

/// A request's answer once it passed authentication.
enum Reply {
    Ec2(Action, api::Output),
    Sts(StsAction, sts::CallerIdentity),
}

/// How long /health and /metrics wait for the store's answer.
const HEALTH_CHECK_TIMEOUT: Duration = Duration::from_secs(2);

async fn metrics(State(app): State<Arc<AppState>>) -> Response {
    let stats = app.store.stats();
    let writable = app.store.check(HEALTH_CHECK_TIMEOUT).await.is_ok();
    let body = app.metrics.render(stats.addresses, stats.partitions, writable);
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], body).into_response()
}

/// `GET /health`: 200 `ok` while the store can take writes; 503
/// `degraded` with the reason while it cannot (a failed journal write,
/// PostgreSQL unreachable, a writer that does not answer). Reads may still
/// work then; a load balancer should send writes elsewhere.
async fn health(State(app): State<Arc<AppState>>) -> Response {
    let stats = app.store.stats();
    let checked = app.store.check(HEALTH_CHECK_TIMEOUT).await;
    let mut body = serde_json::json!({
        "status": if checked.is_ok() { "ok" } else { "degraded" },
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_seconds": app.started.elapsed().as_secs(),
        "addresses": stats.addresses,
        "partitions": stats.partitions,
    });
    let status = match checked {
        Ok(()) => StatusCode::OK,
        Err(e) => {
            body["reason"] = e.to_string().into();
            StatusCode::SERVICE_UNAVAILABLE
        }
    };
    (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

/// `POST /moto-api/reset`: wipes every account's state (D1).
async fn reset(State(app): State<Arc<AppState>>) -> Response {
    let request_id = new_request_id();
    if app.auth.mode == AuthMode::Strict {
        let e = ApiError::access_denied("The reset endpoint is disabled under --auth strict.");
        return error_response(&e, &request_id);
    }
    match app.store.reset().await {
        Ok(()) => {
            app.faults.forget_history();
            tracing::info!("state reset through /moto-api/reset");
            let flavor = if app.store.settings().flavor == Flavor::Moto { "moto" } else { "aws" };
            (
                [(header::CONTENT_TYPE, "application/json")],
                serde_json::json!({"status": "ok", "flavor": flavor}).to_string(),
            )
                .into_response()
        }
        Err(e) => error_response(&api::store_error(e), &request_id),
    }
}

async fn not_found(request: Request) -> Result<Response, Infallible> {
    let request_id = new_request_id();
    let error = ApiError::not_found(format!("No such endpoint: {}", request.uri().path()));
    Ok(error_response(&error, &request_id))
}

/// Binds the listener, with a message a person can act on.
pub async fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr).await.map_err(|e| match e.kind() {
        std::io::ErrorKind::AddrInUse => anyhow::anyhow!(
            "cannot listen on {addr}: the port is taken (is another eipd running? choose another with --listen HOST:PORT)"
        ),
        _ => anyhow::anyhow!("cannot listen on {addr}: {e}"),
    })
}
