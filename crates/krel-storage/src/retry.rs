//! Retrying transient failures (timeouts, resets, 408, 429, 5xx) with exponential backoff.

use std::future::Future;
use std::time::Duration;

use crate::StorageError;

/// How often and how patiently to retry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub attempts: u32,
    /// Wait before the first retry; doubled each time, with jitter.
    pub initial_delay: Duration,
    /// The longest wait between attempts.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        RetryPolicy {
            attempts: 6,
            initial_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(5),
        }
    }
}

/// The outcome of one attempt that failed.
pub(crate) enum Failed {
    /// Worth another attempt.
    Transient(StorageError),
    /// Final.
    Fatal(StorageError),
}

/// How long one metadata request may take before it counts as a transient failure.
pub(crate) const STAT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// How long one upload attempt may take: two minutes, plus the time to send `size` bytes at
/// 256 KiB/s. A hung connection then fails and is retried instead of hanging the push.
pub(crate) fn upload_timeout(size: u64) -> std::time::Duration {
    std::time::Duration::from_secs(120 + size / (256 * 1024))
}

/// Runs `future`, turning a timeout into a transient failure.
pub(crate) async fn within<T>(
    limit: std::time::Duration,
    action: &'static str,
    key: &str,
    future: impl Future<Output = Result<T, Failed>>,
) -> Result<T, Failed> {
    match tokio::time::timeout(limit, future).await {
        Ok(result) => result,
        Err(_) => Err(Failed::Transient(StorageError::Request {
            action,
            key: key.to_string(),
            reason: format!("no answer within {limit:?}"),
            status: None,
            cause: crate::Cause::Other,
        })),
    }
}

/// True for HTTP statuses worth retrying.
pub(crate) fn transient_status(status: u16) -> bool {
    matches!(status, 408 | 429 | 500..=599)
}

impl RetryPolicy {
    /// Runs `attempt` until it succeeds, fails fatally, or the attempts are used up.
    pub(crate) async fn run<T, F, Fut>(&self, what: &str, mut attempt: F) -> Result<T, StorageError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Failed>>,
    {
        let mut delay = self.initial_delay;
        let mut number = 1;
        loop {
            match attempt().await {
                Ok(value) => return Ok(value),
                Err(Failed::Fatal(err)) => return Err(err),
                Err(Failed::Transient(err)) if number >= self.attempts.max(1) => return Err(err),
                Err(Failed::Transient(err)) => {
                    tracing::warn!(what, attempt = number, error = %err, "transient failure; retrying");
                    tokio::time::sleep(jitter(delay)).await;
                    delay = (delay * 2).min(self.max_delay);
                    number += 1;
                }
            }
        }
    }
}

/// 50-100% of `delay`, so that parallel uploads do not retry in lockstep.
fn jitter(delay: Duration) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let fraction = 0.5 + f64::from(nanos % 1000) / 2000.0;
    delay.mul_f64(fraction)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    fn err() -> StorageError {
        StorageError::Request {
            action: "uploading",
            key: "k".into(),
            reason: "503".into(),
            status: Some(503),
            cause: crate::Cause::Other,
        }
    }

    #[tokio::test]
    async fn retries_transient_failures_up_to_the_limit() {
        let policy = RetryPolicy {
            attempts: 3,
            initial_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(2),
        };
        let calls = AtomicU32::new(0);
        let result: Result<(), _> = policy
            .run("x", || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(Failed::Transient(err()))
            })
            .await;
        assert!(result.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 3);

        let calls = AtomicU32::new(0);
        let result = policy
            .run("x", || async {
                if calls.fetch_add(1, Ordering::SeqCst) < 2 {
                    Err(Failed::Transient(err()))
                } else {
                    Ok(7)
                }
            })
            .await;
        assert_eq!(result.unwrap(), 7);

        let calls = AtomicU32::new(0);
        let result: Result<(), _> = policy
            .run("x", || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(Failed::Fatal(err()))
            })
            .await;
        assert!(result.is_err());
        assert_eq!(
            calls.load(Ordering::SeqCst),
            1,
            "fatal errors are not retried"
        );
    }
}
