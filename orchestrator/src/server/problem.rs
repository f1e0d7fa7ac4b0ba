//! ProblemDetails (RFC 9457) bodies, and the one mapping of every error the
//! API can meet to an HTTP status and a problem type.

use axum::Json;
use axum::extract::rejection::{BytesRejection, JsonRejection, PathRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::access::{AccessError, AuthFailure};
use crate::lcm::LcmError;
use crate::package::OnboardingProblem;

/// The problem types of the API: `urn:wasmano:problem:<kind>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemKind {
    /// 400: malformed JSON, a missing field, a wrong enum value.
    Validation,
    /// 401: no, invalid, expired or revoked token.
    Unauthenticated,
    /// 403: the role is too weak.
    Forbidden,
    /// 404: no such resource, or another project's.
    NotFound,
    /// 405: the route does not take this method.
    MethodNotAllowed,
    /// 406: an unsupported `Version` or `Accept`.
    UnsupportedVersion,
    /// 409: the resource's state does not allow the request.
    StateConflict,
    /// 409: another operation holds the NS instance.
    OperationInProgress,
    /// 409: a descriptor identity is onboarded with other content.
    IdentityClash,
    /// 413: the body is too large.
    PayloadTooLarge,
    /// 415: not the media type the route takes.
    UnsupportedMediaType,
    /// 422: well-formed but names something unusable.
    Unprocessable,
    /// 422: the package does not validate.
    PackageInvalid,
    /// 500: a bug or a broken data directory.
    Internal,
}

impl ProblemKind {
    fn parts(self) -> (StatusCode, &'static str) {
        match self {
            Self::Validation => (StatusCode::BAD_REQUEST, "validation"),
            Self::Unauthenticated => (StatusCode::UNAUTHORIZED, "unauthenticated"),
            Self::Forbidden => (StatusCode::FORBIDDEN, "forbidden"),
            Self::NotFound => (StatusCode::NOT_FOUND, "not-found"),
            Self::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method-not-allowed"),
            Self::UnsupportedVersion => (StatusCode::NOT_ACCEPTABLE, "unsupported-version"),
            Self::StateConflict => (StatusCode::CONFLICT, "state-conflict"),
            Self::OperationInProgress => (StatusCode::CONFLICT, "operation-in-progress"),
            Self::IdentityClash => (StatusCode::CONFLICT, "identity-clash"),
            Self::PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "payload-too-large"),
            Self::UnsupportedMediaType => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported-media-type"),
            Self::Unprocessable => (StatusCode::UNPROCESSABLE_ENTITY, "unprocessable"),
            Self::PackageInvalid => (StatusCode::UNPROCESSABLE_ENTITY, "package-invalid"),
            Self::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }

    /// The HTTP status.
    pub fn status(self) -> StatusCode {
        self.parts().0
    }
}

/// The body of every error answer (`application/problem+json`).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ProblemDetails {
    /// `urn:wasmano:problem:<kind>`: `validation`, `unauthenticated`,
    /// `forbidden`, `not-found`, `method-not-allowed`,
    /// `unsupported-version`, `state-conflict`, `operation-in-progress`,
    /// `identity-clash`, `payload-too-large`, `unsupported-media-type`,
    /// `unprocessable`, `package-invalid` or `internal`.
    #[serde(rename = "type")]
    #[schema(example = "urn:wasmano:problem:not-found")]
    pub problem_type: String,
    /// The status's reason phrase.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong, for a person.
    pub detail: String,
    /// Every problem of a package that did not onboard (`package-invalid`,
    /// `identity-clash`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problems: Option<Vec<PackageProblem>>,
}

/// One problem of a package: where, and what.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct PackageProblem {
    /// The file, relative to the package root.
    pub file: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// The field path, when the problem is with one field.
    pub path: Option<String>,
    /// What is wrong.
    pub detail: String,
}

impl From<&OnboardingProblem> for PackageProblem {
    fn from(problem: &OnboardingProblem) -> Self {
        Self {
            file: problem.file.display().to_string(),
            line: problem.line,
            path: (!problem.path.is_empty()).then(|| problem.path.clone()),
            detail: problem.message.clone(),
        }
    }
}

/// An error answer.
#[derive(Debug, Clone)]
pub struct Problem {
    kind: ProblemKind,
    detail: String,
    problems: Option<Vec<PackageProblem>>,
    /// The failure, when the problem is a 401.
    auth: Option<AuthFailure>,
}

impl Problem {
    /// A problem of `kind` saying `detail`.
    pub fn new(kind: ProblemKind, detail: impl Into<String>) -> Self {
        Self {
            kind,
            detail: detail.into(),
            problems: None,
            auth: None,
        }
    }

    /// 404 for a resource the caller cannot see or that does not exist.
    pub fn not_found(kind: &str, id: &str) -> Self {
        Self::new(ProblemKind::NotFound, format!("no {kind} {id}"))
    }

    /// A package's problems, listed in the body.
    fn with_problems(mut self, problems: &[OnboardingProblem]) -> Self {
        self.problems = Some(problems.iter().map(PackageProblem::from).collect());
        self
    }

    /// The problem's kind.
    pub fn kind(&self) -> ProblemKind {
        self.kind
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let (status, name) = self.kind.parts();
        let body = ProblemDetails {
            problem_type: format!("urn:wasmano:problem:{name}"),
            title: status.canonical_reason().unwrap_or("error").to_owned(),
            status: status.as_u16(),
            detail: self.detail,
            problems: self.problems,
        };
        let mut response = (status, Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(failure) = self.auth {
            let challenge = match failure {
                AuthFailure::Missing => "Bearer realm=\"wasmano\"",
                _ => "Bearer realm=\"wasmano\", error=\"invalid_token\"",
            };
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
        }
        response
    }
}

impl From<AuthFailure> for Problem {
    fn from(failure: AuthFailure) -> Self {
        Self {
            auth: Some(failure),
            ..Self::new(ProblemKind::Unauthenticated, failure.to_string())
        }
    }
}

impl From<LcmError> for Problem {
    fn from(error: LcmError) -> Self {
        let detail = error.to_string();
        match error {
            LcmError::NotFound { .. } => Self::new(ProblemKind::NotFound, detail),
            LcmError::StateConflict(_) => Self::new(ProblemKind::StateConflict, detail),
            LcmError::OperationInProgress(_) => Self::new(ProblemKind::OperationInProgress, detail),
            LcmError::Unprocessable(_) => Self::new(ProblemKind::Unprocessable, detail),
            LcmError::PackageUnreadable(_) => Self::new(ProblemKind::Validation, detail),
            LcmError::PackageInvalid(problems) => {
                Self::new(ProblemKind::PackageInvalid, detail).with_problems(&problems)
            }
            LcmError::IdentityClash(problems) => Self::new(ProblemKind::IdentityClash, detail).with_problems(&problems),
            LcmError::Store(_)
            | LcmError::Records(_)
            | LcmError::Infrastructure(_)
            | LcmError::Template(_)
            | LcmError::Engine(_)
            | LcmError::Module { .. }
            | LcmError::DataDir(_) => {
                tracing::error!("internal error: {detail}");
                Self::new(ProblemKind::Internal, detail)
            }
        }
    }
}

impl From<AccessError> for Problem {
    fn from(error: AccessError) -> Self {
        let detail = error.to_string();
        match error {
            AccessError::NameTaken(_) => Self::new(ProblemKind::StateConflict, detail),
            AccessError::InvalidName(_) => Self::new(ProblemKind::Validation, detail),
            AccessError::UnknownProject(_) | AccessError::InvalidScope(_) => {
                Self::new(ProblemKind::Unprocessable, detail)
            }
            AccessError::Backend(_) => {
                tracing::error!("internal error: {detail}");
                Self::new(ProblemKind::Internal, detail)
            }
        }
    }
}

impl From<JsonRejection> for Problem {
    fn from(rejection: JsonRejection) -> Self {
        let kind = match rejection {
            JsonRejection::MissingJsonContentType(_) => ProblemKind::UnsupportedMediaType,
            JsonRejection::BytesRejection(ref bytes) if is_too_large(bytes) => ProblemKind::PayloadTooLarge,
            _ => ProblemKind::Validation,
        };
        Self::new(kind, rejection.body_text())
    }
}

impl From<BytesRejection> for Problem {
    fn from(rejection: BytesRejection) -> Self {
        let kind = if is_too_large(&rejection) {
            ProblemKind::PayloadTooLarge
        } else {
            ProblemKind::Validation
        };
        Self::new(kind, rejection.body_text())
    }
}

fn is_too_large(rejection: &BytesRejection) -> bool {
    rejection.status() == StatusCode::PAYLOAD_TOO_LARGE
}

impl From<PathRejection> for Problem {
    fn from(rejection: PathRejection) -> Self {
        Self::new(ProblemKind::Validation, rejection.body_text())
    }
}

impl From<QueryRejection> for Problem {
    fn from(rejection: QueryRejection) -> Self {
        Self::new(ProblemKind::Validation, rejection.body_text())
    }
}
