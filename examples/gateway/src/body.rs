//! The body types every part of the gateway shares, and the plain-text responses it answers
//! with itself.

use std::error::Error as StdError;

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};

/// Error type of streamed bodies.
pub type BoxError = Box<dyn StdError + Send + Sync>;
/// The body type of requests sent upstream and of responses to clients.
pub type Body = BoxBody<Bytes, BoxError>;

/// A plain-text error response.
pub fn text_response(status: StatusCode, text: impl Into<String>) -> Response<Body> {
    let mut text = text.into();
    text.push('\n');
    let mut resp = Response::new(
        Full::new(Bytes::from(text))
            .map_err(|never| match never {})
            .boxed(),
    );
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}
