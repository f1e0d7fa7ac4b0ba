//! A 5GTANGO manager's answer read as the host reads a WebAssembly
//! manager's: [`reply_from_tango`] takes the model's reading
//! ([`Reply::from_tango`]) and applies the host's rules to what the manager
//! said, so an answer from the bus is bounded and sanitized like one from a
//! sandbox.

use serde_json::Value;

use crate::event::{Event, Reply};
use crate::invoke::{Cause, Fault, MAX_ERROR_MESSAGE_BYTES};
use crate::sandbox::sanitized;
use tango_model::reply::Unanswered;

/// Reads a 5GTANGO manager's answer to `event`. An error message above
/// [`MAX_ERROR_MESSAGE_BYTES`] is [`Fault::ErrorMessageTooLarge`], and its
/// control characters are escaped; an answer without the event's reply
/// shape is [`Fault::InvalidReply`].
pub fn reply_from_tango(event: Event, answer: &Value) -> Result<Reply, Cause> {
    Reply::from_tango(event, answer).map_err(|unanswered| match unanswered {
        Unanswered::NotHandled => Cause::NotHandled,
        Unanswered::Failed { message, .. } if message.len() > MAX_ERROR_MESSAGE_BYTES => {
            Cause::Fault(Fault::ErrorMessageTooLarge {
                size_bytes: message.len(),
            })
        }
        Unanswered::Failed { message, content } => Cause::Answered {
            message: sanitized(&message),
            content,
        },
        Unanswered::Malformed(problem) => Cause::Fault(Fault::InvalidReply(problem)),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use tango_model::fsm::FsmEvent;

    use super::*;

    #[test]
    fn an_answer_from_the_bus_is_bounded_and_sanitized_like_a_guests() {
        let start = Event::Fsm(FsmEvent::Start);
        assert_eq!(
            reply_from_tango(
                start,
                &json!({"status": "ERROR", "error": "no \u{1b}[31mvim", "content": {"x": 1}})
            ),
            Err(Cause::Answered {
                message: sanitized("no \u{1b}[31mvim"),
                content: Some(json!({"x": 1}))
            })
        );
        assert!(!sanitized("no \u{1b}[31mvim").contains('\u{1b}'));
        assert!(matches!(
            reply_from_tango(
                start,
                &json!({"status": "ERROR", "error": "x".repeat(MAX_ERROR_MESSAGE_BYTES + 1)})
            ),
            Err(Cause::Fault(Fault::ErrorMessageTooLarge { .. }))
        ));
        assert_eq!(reply_from_tango(start, &Value::Null), Err(Cause::NotHandled));
        assert!(matches!(
            reply_from_tango(start, &json!({"status": 1})),
            Err(Cause::Fault(Fault::InvalidReply(_)))
        ));
        assert_eq!(
            reply_from_tango(start, &json!({"status": "completed"})),
            Ok(Reply::Started(Vec::new()))
        );
    }
}
