//! What the four protocols share: the parsed request, the reply, and each protocol's error shape.

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use serde_json::{Value, json};

/// A request as the services read it.
pub(super) struct Request {
    pub(super) method: String,
    /// The path as sent (percent-encoded); split it with [`Request::segments`].
    pub(super) path: String,
    /// Decoded query parameters in order; a bare `?notification` is `("notification", "")`.
    pub(super) query: Vec<(String, String)>,
    /// `X-Amz-Target` (the awsJson operation).
    pub(super) target: Option<String>,
    /// `x-amz-expected-bucket-owner` (S3's `ExpectedBucketOwner`).
    pub(super) expected_bucket_owner: Option<String>,
    pub(super) body: Vec<u8>,
}

impl Request {
    /// The decoded path segments, without empty ones.
    pub(super) fn segments(&self) -> Vec<String> {
        self.path
            .split('/')
            .filter(|s| !s.is_empty())
            .map(percent_decode)
            .collect()
    }

    /// The value of query parameter `name`.
    pub(super) fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// True when the query has the key `name` (with or without a value).
    pub(super) fn has_param(&self, name: &str) -> bool {
        self.param(name).is_some()
    }

    /// The body as a JSON object (`{}` when empty or not JSON).
    pub(super) fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|_| json!({}))
    }

    /// The body as `application/x-www-form-urlencoded` pairs (awsQuery).
    pub(super) fn form(&self) -> Vec<(String, String)> {
        parse_pairs(&String::from_utf8_lossy(&self.body))
    }
}

/// `a=1&b&c=x%20y` as decoded pairs (`+` is a space, as in forms).
pub(super) fn parse_pairs(text: &str) -> Vec<(String, String)> {
    text.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let decode = |s: &str| percent_decode(&s.replace('+', " "));
            (decode(k), decode(v))
        })
        .collect()
}

/// Decodes `%XX` escapes; malformed escapes are kept as they are.
pub(super) fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Escapes text for an XML element or attribute.
pub(super) fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A reply before it becomes an HTTP response.
#[derive(Debug)]
pub(super) struct Reply {
    pub(super) status: u16,
    pub(super) headers: Vec<(&'static str, String)>,
    pub(super) body: Vec<u8>,
}

impl Reply {
    /// A JSON reply with the awsJson 1.1 content type (restJson accepts it too).
    pub(super) fn json(status: u16, body: &Value) -> Reply {
        Reply {
            status,
            headers: vec![("content-type", "application/x-amz-json-1.1".to_owned())],
            body: body.to_string().into_bytes(),
        }
    }

    /// An XML reply.
    pub(super) fn xml(status: u16, body: impl Into<String>) -> Reply {
        Reply {
            status,
            headers: vec![("content-type", "application/xml".to_owned())],
            body: body.into().into_bytes(),
        }
    }

    /// A reply without a body.
    pub(super) fn empty(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// The same reply with one more header.
    pub(super) fn header(mut self, name: &'static str, value: impl Into<String>) -> Reply {
        self.headers.push((name, value.into()));
        self
    }

    pub(super) fn into_http(self) -> HttpResponse {
        // Every status the services use is a valid one.
        let status = StatusCode::try_from(self.status).expect("an HTTP status");
        let mut response = HttpResponse::new(status, SdkBody::from(self.body));
        for (name, value) in self.headers {
            response.headers_mut().insert(name, value);
        }
        response
    }
}

/// A JSON-protocol error (awsJson and restJson): the code in `x-amzn-ErrorType` and `__type`,
/// plus service-specific `fields`.
pub(super) fn json_error(status: u16, code: &str, message: &str, fields: &[(&str, &str)]) -> Reply {
    let mut body = json!({ "__type": code, "message": message });
    for (k, v) in fields {
        body[*k] = json!(v);
    }
    Reply::json(status, &body).header("x-amzn-errortype", code)
}

/// How an XML protocol wraps its errors.
#[derive(Clone, Copy)]
pub(super) enum XmlErrors {
    /// awsQuery (STS): `<ErrorResponse><Error>…</Error></ErrorResponse>`.
    Wrapped,
    /// restXml (S3): `<Error>…</Error>`.
    Unwrapped,
}

/// An XML-protocol error.
pub(super) fn xml_error(style: XmlErrors, status: u16, code: &str, message: &str) -> Reply {
    let error = format!(
        "<Code>{}</Code><Message>{}</Message>",
        xml_escape(code),
        xml_escape(message)
    );
    Reply::xml(
        status,
        match style {
            XmlErrors::Wrapped => format!(
                "<ErrorResponse><Error><Type>Sender</Type>{error}</Error><RequestId>fake</RequestId></ErrorResponse>"
            ),
            XmlErrors::Unwrapped => format!("<Error>{error}<RequestId>fake</RequestId></Error>"),
        },
    )
}

/// The partition of a region, for ARNs.
pub(super) fn partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_pairs_decode() {
        assert_eq!(percent_decode("arn%3Aaws%3Alambda%ZZ"), "arn:aws:lambda%ZZ");
        assert_eq!(
            parse_pairs("Action=AssumeRole&RoleSessionName=a+b&notification"),
            vec![
                ("Action".into(), "AssumeRole".into()),
                ("RoleSessionName".into(), "a b".into()),
                ("notification".into(), String::new()),
            ]
        );
        assert_eq!(xml_escape("a<&>\""), "a&lt;&amp;&gt;&quot;");
    }
}
