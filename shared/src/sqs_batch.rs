//! One SQS batch consumed the way every qrie queue consumer does it: each message handled in
//! its own span, a bounded number at once, and the failures answered to Lambda as partial
//! batch failures (`ReportBatchItemFailures`), so that SQS redelivers only those.
//!
//! [`consume`] is the whole loop; the event processor ([`crate::process`]) and the object
//! scanner's worker ([`crate::object_scan::worker`]) both use it, and keep their own tallies
//! from the per-message results it returns in batch order.
//!
//! - **Bounded concurrency**: at most `concurrency` messages are in hand at once; a slow one
//!   does not hold up the start of the next (no head-of-line blocking), yet the results come
//!   back in batch order.
//! - **A span per message**: the caller builds it with [`message_span!`], which names the
//!   message id and receive count, and declares the fields the caller records later (an event
//!   name, a job id).
//! - **Failures per message id**: every failed message is listed in
//!   [`SqsBatchResponse::batch_item_failures`]. A failed message without an id is listed with
//!   an empty identifier, which Lambda rejects, so the whole batch is retried: a retry is
//!   better than a message lost. A record without a body fails with the consumer's error for
//!   [`MissingBody`].
//! - **Retryable vs poison** is decided by [`MessageFailure`], the one trait that also gives
//!   the Lambda [`Diagnostic`] its error type (`Retryable` / `NonRetryable`). A poison message
//!   still fails, so SQS dead-letters it after the queue's receive limit rather than dropping
//!   it; it is logged at error level, a retryable failure at warn.

use std::future::Future;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsMessage};
use futures::StreamExt;
use lambda_runtime::Diagnostic;
use tracing::{error, warn, Instrument, Span};

/// A failure of one message (an SQS record, or the event of one Lambda invocation): whether
/// a redelivery may succeed. Poison messages (retrying cannot help) answer false.
pub trait MessageFailure: std::error::Error {
    /// False for messages that can never succeed as sent.
    fn is_retryable(&self) -> bool;

    /// The Lambda error for this failure: `Retryable` or `NonRetryable`, with its message.
    fn diagnostic(&self) -> Diagnostic {
        Diagnostic {
            error_type: if self.is_retryable() {
                "Retryable"
            } else {
                "NonRetryable"
            }
            .to_owned(),
            error_message: self.to_string(),
        }
    }
}

/// An SQS record that carries no body: each consumer turns it into its own (poison) error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("SQS record has no body")]
pub struct MissingBody;

/// What a handler is given of one record besides its body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivery<'a> {
    /// The SQS message id (absent only in malformed events).
    pub message_id: Option<&'a str>,
    /// `ApproximateReceiveCount`, if SQS sent it as a number.
    pub receive_count: Option<u32>,
}

impl<'a> Delivery<'a> {
    /// The delivery facts of `record`.
    pub fn of(record: &'a SqsMessage) -> Self {
        Self {
            message_id: record.message_id.as_deref(),
            receive_count: record
                .attributes
                .get("ApproximateReceiveCount")
                .and_then(|v| v.parse().ok()),
        }
    }
}

/// The span of one message: `message_id` and `receive_count` from the [`Delivery`], then the
/// caller's own fields (usually `tracing::field::Empty`, recorded while the message is
/// handled).
///
/// ```
/// use qrie::message_span;
/// use qrie::sqs_batch::Delivery;
/// let delivery = Delivery { message_id: Some("m-1"), receive_count: Some(2) };
/// let span = message_span!(delivery, job = tracing::field::Empty);
/// span.record("job", "job-1");
/// ```
#[macro_export]
macro_rules! message_span {
    ($delivery:expr $(, $field:ident = $value:expr)* $(,)?) => {{
        let delivery: &$crate::sqs_batch::Delivery<'_> = &$delivery;
        ::tracing::info_span!(
            "message",
            message_id = delivery.message_id.unwrap_or_default(),
            receive_count = delivery.receive_count,
            $($field = $value),*
        )
    }};
}

/// The result of one message, with its id.
#[derive(Debug)]
pub struct Handled<T, E> {
    pub message_id: Option<String>,
    pub result: Result<T, E>,
}

/// A consumed batch: the per-message results in batch order, and the answer to Lambda.
#[derive(Debug)]
pub struct Consumed<T, E> {
    pub results: Vec<Handled<T, E>>,
    pub response: SqsBatchResponse,
}

impl<T, E: MessageFailure> Consumed<T, E> {
    /// How many messages failed.
    pub fn failed(&self) -> usize {
        self.results.iter().filter(|h| h.result.is_err()).count()
    }

    /// How many messages failed for good (poison).
    pub fn poison(&self) -> usize {
        self.results
            .iter()
            .filter(|h| matches!(&h.result, Err(e) if !e.is_retryable()))
            .count()
    }
}

/// Handles every record of `records` with `handle` (given the body and the [`Delivery`]), at
/// most `concurrency` at once (at least one), each inside the span `span` builds for it, and
/// returns the results in batch order with the batch item failures.
pub async fn consume<'r, T, E, S, H, F>(
    records: &'r [SqsMessage],
    concurrency: usize,
    span: S,
    handle: H,
) -> Consumed<T, E>
where
    E: MessageFailure + From<MissingBody>,
    S: Fn(&Delivery<'r>) -> Span,
    H: Fn(&'r str, Delivery<'r>) -> F,
    F: Future<Output = Result<T, E>>,
{
    let span = &span;
    let handle = &handle;
    let mut indexed: Vec<(usize, Result<T, E>)> = futures::stream::iter(records.iter().enumerate())
        .map(|(index, record)| async move {
            let delivery = Delivery::of(record);
            let message_span = span(&delivery);
            let work = async move {
                let result = match record.body.as_deref() {
                    Some(body) => handle(body, delivery).await,
                    None => Err(E::from(MissingBody)),
                };
                if let Err(e) = &result {
                    if e.is_retryable() {
                        warn!(error = %e, "message failed; SQS will redeliver it");
                    } else {
                        error!(error = %e, "poison message; SQS will dead-letter it");
                    }
                }
                result
            };
            (index, work.instrument(message_span).await)
        })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    indexed.sort_by_key(|(index, _)| *index);
    let mut response = SqsBatchResponse::default();
    let results = indexed
        .into_iter()
        .map(|(index, result)| {
            let message_id = records[index].message_id.clone();
            if result.is_err() {
                if message_id.is_none() {
                    // Lambda then retries the whole batch: better than losing the message.
                    error!("a failed message has no message id");
                }
                let mut failure = BatchItemFailure::default();
                failure.item_identifier = message_id.clone().unwrap_or_default();
                response.batch_item_failures.push(failure);
            }
            Handled { message_id, result }
        })
        .collect();
    Consumed { results, response }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;
    use std::time::Duration;

    #[derive(Debug, thiserror::Error, PartialEq)]
    enum TestError {
        #[error("no body")]
        NoBody,
        #[error("poison {0}")]
        Poison(String),
        #[error("transient {0}")]
        Transient(String),
    }

    impl From<MissingBody> for TestError {
        fn from(_: MissingBody) -> Self {
            TestError::NoBody
        }
    }

    impl MessageFailure for TestError {
        fn is_retryable(&self) -> bool {
            matches!(self, TestError::Transient(_))
        }
    }

    fn message(id: Option<&str>, body: Option<&str>) -> SqsMessage {
        let mut m = SqsMessage::default();
        m.message_id = id.map(str::to_owned);
        m.body = body.map(str::to_owned);
        m
    }

    fn numbered(n: usize) -> Vec<SqsMessage> {
        (0..n)
            .map(|i| message(Some(&format!("m{i}")), Some(&i.to_string())))
            .collect()
    }

    fn no_span(_: &Delivery<'_>) -> Span {
        Span::none()
    }

    /// Yields to the executor `times` times: lets other messages run without any clock.
    async fn yield_times(times: usize) {
        for _ in 0..times {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test]
    async fn given_messages_finishing_in_reverse_when_consumed_then_results_are_in_batch_order() {
        // Given five messages, the first of which takes the longest
        let records = numbered(5);
        // When consumed all at once
        let consumed = consume(&records, 5, no_span, |body, _| async move {
            let i: usize = body.parse().map_err(|_| TestError::Poison(body.into()))?;
            yield_times(10 - 2 * i).await;
            Ok::<_, TestError>(i)
        })
        .await;
        // Then the results come back in batch order, with their ids, and nothing failed
        let got: Vec<(Option<String>, usize)> = consumed
            .results
            .into_iter()
            .map(|h| (h.message_id, h.result.unwrap()))
            .collect();
        let want: Vec<(Option<String>, usize)> =
            (0..5).map(|i| (Some(format!("m{i}")), i)).collect();
        assert_eq!(got, want);
        assert!(consumed.response.batch_item_failures.is_empty());
    }

    #[tokio::test]
    async fn given_a_bound_when_consumed_then_at_most_that_many_messages_are_in_hand() {
        // Given twelve messages that each stay in hand for a few polls, and a bound of three
        let records = numbered(12);
        let in_hand = AtomicUsize::new(0);
        let most = AtomicUsize::new(0);
        let done = AtomicUsize::new(0);
        let (in_hand, most, done) = (&in_hand, &most, &done);
        // When consumed
        let consumed = consume(&records, 3, no_span, |_, _| async move {
            let now = in_hand.fetch_add(1, Ordering::SeqCst) + 1;
            most.fetch_max(now, Ordering::SeqCst);
            yield_times(3).await;
            in_hand.fetch_sub(1, Ordering::SeqCst);
            done.fetch_add(1, Ordering::SeqCst);
            Ok::<_, TestError>(())
        })
        .await;
        // Then the bound was reached and never passed, and every message was handled
        assert_eq!(most.load(Ordering::SeqCst), 3);
        assert_eq!(done.load(Ordering::SeqCst), 12);
        assert_eq!(consumed.results.len(), 12);
    }

    #[tokio::test]
    async fn given_a_slow_first_message_when_consumed_then_later_messages_still_start() {
        // Given a bound of two and a first message that can only finish once the third ran
        let records = numbered(3);
        let (third_ran, wait_for_third) = tokio::sync::oneshot::channel::<()>();
        let third_ran = Mutex::new(Some(third_ran));
        let wait_for_third = Mutex::new(Some(wait_for_third));
        // When consumed (the timeout only turns a hang into a failure)
        let consumed = tokio::time::timeout(
            Duration::from_secs(10),
            consume(&records, 2, no_span, |body, _| {
                let waiter = (body == "0")
                    .then(|| wait_for_third.lock().unwrap().take())
                    .flatten();
                let signal = (body == "2")
                    .then(|| third_ran.lock().unwrap().take())
                    .flatten();
                async move {
                    if let Some(waiter) = waiter {
                        waiter
                            .await
                            .map_err(|_| TestError::Transient("lost".into()))?;
                    }
                    if let Some(signal) = signal {
                        let _ = signal.send(());
                    }
                    Ok::<_, TestError>(body.to_owned())
                }
            }),
        )
        .await
        .expect("the slow first message held up the third");
        // Then all three succeed, in batch order
        let bodies: Vec<String> = consumed
            .results
            .into_iter()
            .map(|h| h.result.unwrap())
            .collect();
        assert_eq!(bodies, ["0", "1", "2"]);
    }

    #[tokio::test]
    async fn given_poison_retryable_and_bodyless_messages_when_consumed_then_each_failure_is_reported_by_id(
    ) {
        // Given a good, a poison, a retryable and a bodyless message
        let records = [
            message(Some("good"), Some("ok")),
            message(Some("bad"), Some("poison")),
            message(Some("flaky"), Some("transient")),
            message(Some("empty"), None),
        ];
        // When consumed
        let consumed = consume(&records, 2, no_span, |body, _| async move {
            match body {
                "poison" => Err(TestError::Poison(body.into())),
                "transient" => Err(TestError::Transient(body.into())),
                _ => Ok(()),
            }
        })
        .await;
        // Then every failure is listed by id, and poison is told from retryable
        let ids: Vec<&str> = consumed
            .response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        assert_eq!(ids, ["bad", "flaky", "empty"]);
        assert_eq!((consumed.failed(), consumed.poison()), (3, 2));
        assert!(matches!(consumed.results[3].result, Err(TestError::NoBody)));
    }

    #[tokio::test]
    async fn given_a_failed_message_without_id_when_consumed_then_it_is_reported_so_the_batch_is_retried(
    ) {
        // Given a failing message that has no id, next to a good one
        let records = [message(None, Some("x")), message(Some("good"), Some("ok"))];
        // When consumed
        let consumed = consume(&records, 4, no_span, |body, _| async move {
            if body == "x" {
                Err(TestError::Transient(body.into()))
            } else {
                Ok(())
            }
        })
        .await;
        // Then it is listed with an empty identifier (Lambda retries the whole batch), not dropped
        assert_eq!(consumed.response.batch_item_failures.len(), 1);
        assert_eq!(consumed.response.batch_item_failures[0].item_identifier, "");
        assert_eq!(consumed.results[0].message_id, None);
    }

    #[tokio::test]
    async fn given_a_record_when_handled_then_the_handler_sees_its_delivery() {
        // Given a record received for the third time
        let mut record = message(Some("m"), Some("b"));
        record
            .attributes
            .insert("ApproximateReceiveCount".into(), "3".into());
        let records = [record, message(Some("n"), Some("b"))];
        let seen = Mutex::new(Vec::new());
        let seen = &seen;
        // When consumed, with a span built by message_span!
        consume(
            &records,
            1,
            |d| message_span!(d, job = tracing::field::Empty),
            |_, delivery| {
                seen.lock().unwrap().push((
                    delivery.message_id.map(str::to_owned),
                    delivery.receive_count,
                ));

                async { Ok::<_, TestError>(()) }
            },
        )
        .await;
        // Then the handler was given its id and receive count (none when SQS sent none)
        assert_eq!(
            *seen.lock().unwrap(),
            [
                (Some("m".to_owned()), Some(3)),
                (Some("n".to_owned()), None)
            ]
        );
    }

    #[test]
    fn given_poison_and_retryable_failures_when_diagnosed_then_the_error_type_follows() {
        assert_eq!(
            TestError::Poison("p".into()).diagnostic().error_type,
            "NonRetryable"
        );
        let d = TestError::Transient("t".into()).diagnostic();
        assert_eq!(
            (d.error_type.as_str(), d.error_message.as_str()),
            ("Retryable", "transient t")
        );
    }
}
