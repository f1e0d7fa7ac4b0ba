//! What every handler shares: the extractors, whose every refusal is a
//! ProblemDetails (the JSON body: an empty body reads as `{}`, another
//! media type is 415, a bad document 400, a large one 413; path and query
//! parameters that do not read, such as an id that is not UTF-8 or a
//! repeated query parameter, 400), `Location` answers, and the visibility
//! rules (another project's resource is a 404, a read-only caller's change
//! a 403).

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use utoipa::ToSchema;

use super::MAX_JSON_BYTES;
use super::problem::{Problem, ProblemKind};
use crate::access::Principal;
use crate::lcm::LcmError;

/// A JSON request body.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = Problem;

    async fn from_request(request: Request, state: &S) -> Result<Self, Problem> {
        let content_type = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .map(|value| value.split(';').next().unwrap_or("").trim().to_ascii_lowercase());
        let bytes = Bytes::from_request(request, state).await?;
        if bytes.len() > MAX_JSON_BYTES {
            return Err(Problem::new(
                ProblemKind::PayloadTooLarge,
                format!("a JSON body is at most {MAX_JSON_BYTES} bytes"),
            ));
        }
        let document: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            match content_type.as_deref() {
                Some("application/json") => &bytes,
                Some(other) if other.ends_with("+json") => &bytes,
                other => {
                    return Err(Problem::new(
                        ProblemKind::UnsupportedMediaType,
                        format!("the body must be application/json, not {}", other.unwrap_or("untyped")),
                    ));
                }
            }
        };
        serde_json::from_slice(document)
            .map(JsonBody)
            .map_err(|error| Problem::new(ProblemKind::Validation, format!("request body: {error}")))
    }
}

/// A request's path parameters, as axum's `Path` reads them.
#[derive(Debug)]
pub struct Path<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Path<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        let axum::extract::Path(value) = axum::extract::Path::from_request_parts(parts, state).await?;
        Ok(Self(value))
    }
}

/// A request's query parameters, as axum's `Query` reads them.
#[derive(Debug)]
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        let axum::extract::Query(value) = axum::extract::Query::from_request_parts(parts, state).await?;
        Ok(Self(value))
    }
}

/// How many items a list answers at most (SOL013 paging).
pub const PAGE_SIZE: usize = 100;

/// The query parameter naming the next page.
const MARKER: &str = "nextpage_opaque_marker";

/// One page of a list and the link to the next one.
#[derive(Debug)]
pub struct Page<T> {
    /// The page's items.
    pub items: Vec<T>,
    /// `Link: <…>; rel="next"` when more follow.
    next: Option<String>,
}

/// A list request's paging: the marker it names, and its other query
/// parameters, which the next page's link keeps. Markers are opaque to
/// clients; one this server did not make for this kind of list is a 400.
#[derive(Debug)]
struct PageQuery<'q> {
    marker: Option<&'q str>,
    kept: Vec<&'q str>,
}

impl<'q> PageQuery<'q> {
    fn of(query: Option<&'q str>) -> Self {
        let mut marker = None;
        let mut kept = Vec::new();
        for pair in query.unwrap_or("").split('&').filter(|pair| !pair.is_empty()) {
            match pair.strip_prefix(MARKER).and_then(|rest| rest.strip_prefix('=')) {
                Some(named) => marker = Some(named),
                None => kept.push(pair),
            }
        }
        Self { marker, kept }
    }

    /// The number the marker carries after `prefix` (`offset:`, `after:`).
    fn position<N: std::str::FromStr>(&self, prefix: &str) -> Result<Option<N>, Problem> {
        let Some(marker) = self.marker else {
            return Ok(None);
        };
        decode_marker(marker)
            .as_deref()
            .and_then(|text| text.strip_prefix(prefix))
            .and_then(|number| number.parse().ok())
            .map(Some)
            .ok_or_else(|| self.refused())
    }

    fn refused(&self) -> Problem {
        Problem::new(
            ProblemKind::Validation,
            format!("{MARKER} {:?} is not a marker of this list", self.marker.unwrap_or("")),
        )
    }

    /// `Link: <path?…&nextpage_opaque_marker=…>; rel="next"`.
    fn link(&self, path: &str, marker: &str) -> String {
        let marker = format!("{MARKER}={}", encode_marker(marker));
        let query: Vec<&str> = self.kept.iter().copied().chain([marker.as_str()]).collect();
        format!("<{path}?{}>; rel=\"next\"", query.join("&"))
    }
}

/// The page of `items` that the request's `nextpage_opaque_marker` names
/// (the first without one): for lists read whole, its marker the offset
/// into the filtered list.
pub fn paginate<T>(items: Vec<T>, path: &str, query: Option<&str>) -> Result<Page<T>, Problem> {
    let paging = PageQuery::of(query);
    let offset = match paging.position::<usize>("offset:")? {
        Some(offset) if offset <= items.len() => offset,
        Some(_) => return Err(paging.refused()),
        None => 0,
    };
    let next = (items.len() > offset + PAGE_SIZE).then(|| paging.link(path, &format!("offset:{}", offset + PAGE_SIZE)));
    let items = items.into_iter().skip(offset).take(PAGE_SIZE).collect();
    Ok(Page { items, next })
}

/// Where a page of a list read in creation order starts: after the row at
/// the request marker's position (a store's row number), or at the start.
/// Such a list reads only its page (and the rows its filter skips), and
/// rows created or deleted meanwhile move no other row to another page.
#[derive(Debug)]
pub struct KeysetPage<'q> {
    paging: PageQuery<'q>,
    /// The position the page starts after (0: the first page).
    pub after: i64,
}

impl<'q> KeysetPage<'q> {
    /// The page the request asks for.
    pub fn of(query: Option<&'q str>) -> Result<Self, Problem> {
        let paging = PageQuery::of(query);
        let after = paging.position::<i64>("after:")?.unwrap_or(0);
        Ok(Self { paging, after })
    }

    /// The page of `items`, with a link to the page after the row at
    /// position `more_after` when more rows follow.
    pub fn answer<T>(&self, items: Vec<T>, path: &str, more_after: Option<i64>) -> Page<T> {
        let next = more_after.map(|last| self.paging.link(path, &format!("after:{last}")));
        Page { items, next }
    }
}

fn encode_marker(marker: &str) -> String {
    base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, marker)
}

fn decode_marker(marker: &str) -> Option<String> {
    let bytes = base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, marker).ok()?;
    String::from_utf8(bytes).ok()
}

impl<T> Page<T> {
    /// The same page with other items (one per item, in order).
    pub fn with_items<U>(self, items: Vec<U>) -> Page<U> {
        Page { items, next: self.next }
    }

    /// The same page with each item turned into another.
    pub fn map<U>(self, turn: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(turn).collect(),
            next: self.next,
        }
    }
}

impl<T: Serialize> IntoResponse for Page<T> {
    fn into_response(self) -> Response {
        let mut response = axum::Json(self.items).into_response();
        if let Some(next) = self.next.and_then(|next| HeaderValue::from_str(&next).ok()) {
            response.headers_mut().insert(header::LINK, next);
        }
        response
    }
}

/// A link of a resource's `_links`, as SOL013 writes one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Link {
    /// The linked resource's path.
    pub href: String,
}

impl Link {
    /// A link to `href`.
    pub fn to(href: impl Into<String>) -> Self {
        Self { href: href.into() }
    }
}

/// `status` with `Location: location` and `body`.
pub fn located(status: StatusCode, location: &str, body: impl IntoResponse) -> Response {
    let mut response = (status, body).into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// 404 unless the caller may read resources of `project`.
pub fn readable(principal: &Principal, project: &str, kind: &str, id: &str) -> Result<(), Problem> {
    if principal.may_read(project) {
        Ok(())
    } else {
        Err(Problem::not_found(kind, id))
    }
}

/// A resource the caller may read: 404 when it does not exist or belongs
/// to a project the caller cannot see; a failing store stays a 500.
pub fn visible<T>(
    found: Result<T, LcmError>,
    principal: &Principal,
    project: impl FnOnce(&T) -> &str,
    kind: &str,
    id: &str,
) -> Result<T, Problem> {
    let resource = match found {
        Err(LcmError::NotFound { .. }) => return Err(Problem::not_found(kind, id)),
        found => found?,
    };
    readable(principal, project(&resource), kind, id)?;
    Ok(resource)
}

/// 404 unless the caller may read resources of `project`, 403 unless it
/// may change them.
pub fn writable(principal: &Principal, project: &str, kind: &str, id: &str) -> Result<(), Problem> {
    readable(principal, project, kind, id)?;
    if principal.may_write(project) {
        Ok(())
    } else {
        Err(Problem::new(
            ProblemKind::Forbidden,
            format!("a {} token may not change a {kind}", principal.role.as_str()),
        ))
    }
}

/// The project a new resource belongs to: the caller's own, or for a
/// system admin the `projectId` it names.
pub fn owning_project(principal: &Principal, named: Option<&str>) -> Result<String, Problem> {
    let project = match (&principal.project_id, named) {
        (Some(own), None) => own.clone(),
        (Some(own), Some(named)) if own == named => own.clone(),
        (Some(_), Some(named)) => return Err(Problem::not_found("project", named)),
        (None, Some(named)) => named.to_owned(),
        (None, None) => {
            return Err(Problem::new(
                ProblemKind::Validation,
                "a system-scoped token must name the owning project (projectId)",
            ));
        }
    };
    if principal.may_write(&project) {
        Ok(project)
    } else {
        Err(Problem::new(
            ProblemKind::Forbidden,
            format!("a {} token may not create resources", principal.role.as_str()),
        ))
    }
}
