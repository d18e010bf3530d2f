//! Sending one copy (and its baseline copy), reading the answers and comparing them.

use std::sync::atomic::Ordering;

use bytes::Bytes;
use gray_core::mirror::compare::Answer;
use gray_core::mirror::MirrorPlan;
use http::{HeaderValue, Request};
use http_body_util::{BodyExt, Full};
use tokio::sync::{oneshot, OwnedSemaphorePermit};

use super::shared::{
    Entry, Shared, BODY, COMPARED, DIFFERING, D_BODY, D_FIELD, D_HEADER, D_STATUS, FAILED, OK,
    SECRET_HEADERS, TIMEOUT, UNCOMPARED,
};
use super::tap::{kept_headers, Copying, PrimaryTap};
use crate::body::Body;
use crate::forward::{remove_hop_by_hop, upstream_uri};

/// A copy that may be sent: it holds one of its mirror's in-flight slots.
pub(crate) struct Ticket {
    pub(super) plan: MirrorPlan,
    pub(super) entry: Entry,
    pub(super) permit: OwnedSemaphorePermit,
    pub(super) shared: std::sync::Arc<Shared>,
}

impl Ticket {
    /// Sends the copy of a request without a body, at once. With a comparison, returns the
    /// tap to put on the primary's response.
    pub(crate) fn send_now(self, parts: &http::request::Parts) -> Option<PrimaryTap> {
        self.spawn(parts, async { Some(Bytes::new()) })
    }

    /// Sends the copy of a request with `body`: returns the body to send to the primary node,
    /// which passes every frame through unchanged and, while the body stays within the
    /// mirror's `max_body`, keeps a copy; the copy is sent once the body has ended. With a
    /// comparison, also the tap to put on the primary's response.
    pub(crate) fn send_with_body(
        self,
        parts: &http::request::Parts,
        body: Body,
    ) -> (Body, Option<PrimaryTap>) {
        let declared = parts
            .headers
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > self.plan.max_body) {
            self.entry.counts[BODY].fetch_add(1, Ordering::Relaxed);
            return (body, None);
        }
        let (tx, rx) = oneshot::channel();
        let tee = Copying::new(
            body,
            self.plan.max_body,
            Some(self.entry.clone()),
            move |b| {
                let _ = tx.send(b);
            },
        );
        let tap = self.spawn(parts, async move { rx.await.ok() });
        (BodyExt::boxed(tee), tap)
    }

    /// A copy's request head, for `node` of `group`.
    fn request(
        &self,
        parts: &http::request::Parts,
        group: &str,
        node: &str,
    ) -> Option<http::request::Builder> {
        let https = self.shared.upstream_tls.applies(group, node);
        let uri = upstream_uri(https, node, &parts.uri).ok()?;
        let mut b = Request::builder().method(parts.method.clone()).uri(uri);
        let h = b.headers_mut()?;
        h.clone_from(&parts.headers);
        remove_hop_by_hop(h);
        h.remove(http::header::CONTENT_LENGTH);
        if let Some(host) = &self.plan.host {
            h.insert(http::header::HOST, HeaderValue::from_str(host).ok()?);
        }
        h.insert(
            http::HeaderName::from_bytes(self.plan.header.as_bytes()).ok()?,
            HeaderValue::from_static("1"),
        );
        Some(b)
    }

    /// Runs the copy (and the baseline copy) on its own task once `body` yields the request
    /// body (`None`: no copy after all); with a comparison, returns the primary's tap.
    fn spawn(
        self,
        parts: &http::request::Parts,
        body: impl std::future::Future<Output = Option<Bytes>> + Send + 'static,
    ) -> Option<PrimaryTap> {
        let req = self.request(parts, &self.plan.group, &self.plan.node);
        let compare = self.plan.compare.clone();
        let baseline_req = compare
            .as_ref()
            .and_then(|c| c.baseline.as_ref())
            .map(|(g, n)| self.request(parts, g, n));
        let (tap, primary) = match &compare {
            Some(c) => {
                let (tx, rx) = oneshot::channel();
                let tap = PrimaryTap {
                    tx,
                    headers: c.headers.clone(),
                    max_body: c.max_body,
                };
                (Some(tap), Some(rx))
            }
            None => (None, None),
        };
        let (method, path) = (parts.method.to_string(), parts.uri.path().to_string());
        let Ticket {
            plan,
            entry,
            permit,
            shared,
        } = self;
        tokio::spawn(async move {
            let _slot = permit;
            let Some(req) = req else {
                entry.counts[FAILED].fetch_add(1, Ordering::Relaxed);
                return;
            };
            // No bytes: the body outgrew the limit (counted by the tee) or the client went
            // away; either way there is no copy.
            let Some(bytes) = body.await else {
                return;
            };
            let keep = compare.as_ref().map(|c| (c.headers.as_slice(), c.max_body));
            let candidate = exchange(&shared, req, bytes.clone(), keep, plan.timeout);
            let baseline = async {
                match baseline_req {
                    Some(Some(b)) => Some(exchange(&shared, b, bytes, keep, plan.timeout).await),
                    _ => None,
                }
            };
            let started = std::time::Instant::now();
            let candidate = async {
                let r = candidate.await;
                entry.latency.record(started.elapsed());
                r
            };
            let (candidate, baseline) = tokio::join!(candidate, baseline);
            let i = match &candidate {
                Ok(_) => OK,
                Err(Failed::Timeout) => TIMEOUT,
                Err(Failed::Exchange) => FAILED,
            };
            entry.counts[i].fetch_add(1, Ordering::Relaxed);
            let (Some(c), Some(primary)) = (compare, primary) else {
                return;
            };
            let primary = tokio::time::timeout(plan.timeout, primary).await;
            let baseline = match baseline {
                Some(Ok(Some(a))) => Some(a),
                _ => None,
            };
            let (Ok(Ok(primary)), Ok(Some(candidate))) = (primary, candidate) else {
                entry.counts[UNCOMPARED].fetch_add(1, Ordering::Relaxed);
                return;
            };
            let result = gray_core::mirror::compare::compare(
                &primary,
                &candidate,
                baseline.as_ref(),
                c.body,
                &c.ignore,
            );
            entry.counts[COMPARED].fetch_add(1, Ordering::Relaxed);
            if result.differences.is_empty() {
                return;
            }
            entry.counts[DIFFERING].fetch_add(1, Ordering::Relaxed);
            for d in &result.differences {
                let k = match d.kind() {
                    "status" => D_STATUS,
                    "header" => D_HEADER,
                    "field" => D_FIELD,
                    _ => D_BODY,
                };
                entry.counts[k].fetch_add(1, Ordering::Relaxed);
            }
            let differences: Vec<serde_json::Value> = result
                .differences
                .iter()
                .map(|d| {
                    let mut v = serde_json::to_value(d).unwrap_or_default();
                    if let gray_core::mirror::compare::Difference::Header { name, .. } = d {
                        if SECRET_HEADERS.contains(&name.as_str()) {
                            v["primary"] = "(redacted)".into();
                            v["candidate"] = "(redacted)".into();
                        }
                    }
                    v
                })
                .collect();
            shared.keep(serde_json::json!({
                "at_unix_ms": unix_ms(),
                "mirror": plan.mirror,
                "method": method,
                "path": path,
                "candidate": format!("{} {}", plan.group, plan.node),
                "baseline": c.baseline.as_ref().map(|(g, n)| format!("{g} {n}")),
                "differences": differences,
                "noise": result.noise,
            }));
        });
        tap
    }
}

/// Why a copy's exchange produced no answer.
enum Failed {
    Timeout,
    Exchange,
}

/// Sends one copy and reads its answer: the status, the `keep` headers and the body up to the
/// limit (`Ok(None)`: answered, but the body is longer than the limit); without `keep` the
/// answer is read and dropped.
async fn exchange(
    shared: &Shared,
    req: http::request::Builder,
    body: Bytes,
    keep: Option<(&[String], u64)>,
    timeout: std::time::Duration,
) -> Result<Option<Answer>, Failed> {
    let run = async {
        let req = req.body(Full::new(body)).map_err(|_| Failed::Exchange)?;
        let resp = shared
            .client
            .request(req)
            .await
            .map_err(|_| Failed::Exchange)?;
        let (parts, body) = resp.into_parts();
        let Some((names, max)) = keep else {
            // Read the answer to its end so the connection can be reused; drop it.
            body.collect().await.map_err(|_| Failed::Exchange)?;
            return Ok(None);
        };
        let headers = kept_headers(&parts.headers, names);
        match http_body_util::Limited::new(body, max as usize)
            .collect()
            .await
        {
            Ok(b) => Ok(Some(Answer {
                status: parts.status.as_u16(),
                headers,
                body: b.to_bytes().to_vec(),
            })),
            Err(e)
                if e.downcast_ref::<http_body_util::LengthLimitError>()
                    .is_some() =>
            {
                Ok(None)
            }
            Err(_) => Err(Failed::Exchange),
        }
    };
    tokio::time::timeout(timeout, run)
        .await
        .unwrap_or(Err(Failed::Timeout))
}

fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
