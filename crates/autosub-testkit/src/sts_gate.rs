//! A local STS endpoint in front of moto that denies AssumeRole into chosen roles, as AWS does
//! when a role's trust policy does not allow the caller (moto assumes any role).
//!
//! Point `AWS_ENDPOINT_URL_STS` at [`StsGate::endpoint`]; every other request goes to moto
//! unchanged.

use std::net::SocketAddr;

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::State;
use axum::http::{Request, Response, StatusCode};

/// AccessDenied, as STS words it for a role whose trust policy rejects the caller.
const DENIED: &str = r#"<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>User: arn:aws:sts::123456789012:assumed-role/autosub-central/autosub is not authorized to perform: sts:AssumeRole on resource: DENIED_ROLE</Message></Error><RequestId>00000000-0000-0000-0000-000000000000</RequestId></ErrorResponse>"#;

/// The running gate; it stops when dropped.
pub struct StsGate {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Clone)]
struct Gate {
    upstream: String,
    denied_roles: Vec<String>,
    client: reqwest::Client,
}

impl StsGate {
    /// Starts a gate on a free loopback port that forwards to `upstream` (moto's endpoint) and
    /// denies AssumeRole into `denied_roles` (role ARNs).
    pub async fn start(upstream: &str, denied_roles: &[&str]) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let gate = Gate {
            upstream: upstream.trim_end_matches('/').to_owned(),
            denied_roles: denied_roles.iter().map(|r| (*r).to_owned()).collect(),
            client: reqwest::Client::new(),
        };
        let app = Router::new().fallback(handle).with_state(gate);
        let task = tokio::spawn(async move {
            // The gate lives as long as the test; a failed accept loop ends it.
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { addr, task })
    }

    /// The gate's endpoint URL.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for StsGate {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn handle(State(gate): State<Gate>, request: Request<Body>) -> Response<Body> {
    let (parts, body) = request.into_parts();
    let Ok(body) = to_bytes(body, 1 << 20).await else {
        return reply(StatusCode::BAD_REQUEST, "unreadable body".into());
    };
    let form: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    let field = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    if field("Action") == Some("AssumeRole")
        && let Some(role) = field("RoleArn")
        && gate.denied_roles.iter().any(|d| d == role)
    {
        return reply(StatusCode::FORBIDDEN, DENIED.replace("DENIED_ROLE", role));
    }
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut forward = gate
        .client
        .request(parts.method.clone(), format!("{}{path}", gate.upstream))
        .body(body.to_vec());
    for (name, value) in &parts.headers {
        if name != "host" && name != "content-length" {
            forward = forward.header(name, value);
        }
    }
    match forward.send().await {
        Ok(upstream) => {
            let status = upstream.status();
            let headers = upstream.headers().clone();
            let bytes = upstream.bytes().await.unwrap_or_default();
            let mut response = Response::new(Body::from(bytes));
            *response.status_mut() = status;
            for (name, value) in &headers {
                if name != "content-length" && name != "transfer-encoding" {
                    response.headers_mut().insert(name, value.clone());
                }
            }
            response
        }
        Err(e) => reply(StatusCode::BAD_GATEWAY, e.to_string()),
    }
}

fn reply(status: StatusCode, body: String) -> Response<Body> {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response
}
