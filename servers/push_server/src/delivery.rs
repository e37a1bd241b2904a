//! The delivery side: a thread running a current-thread tokio runtime that takes pushes from
//! the bounded drop-oldest queue (`queue.rs`), sends them through the configured providers
//! with at most `PushMaxInFlight` requests in flight (multiplexed on one HTTP/2 connection per
//! provider),
//! retries 429s, 5xx and connection failures with exponential back-off and jitter, counts
//! every outcome in [`PushStats`] and hands dead tokens back to the reactor.
//!
//! The reactor never waits for it: `Delivery::submit` only appends to the queue.

use std::sync::Arc;
use std::sync::mpsc::Sender;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use log::{debug, info, warn};
use rand::Rng;
use tokio::sync::Semaphore;

use crate::apns::{Apns, ApnsError};
use crate::attempt::Attempt;
use crate::config::DeliveryConfig;
use crate::fcm::{Fcm, FcmError};
use crate::http_client::{self, ClientError};
use crate::push::{DeadToken, Provider, Push};
use crate::queue::DropOldestQueue;
use crate::stats::{Outcome, PushStats};

/// Longest back-off between two tries.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Why delivery cannot start.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// The HTTP client cannot be built.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// APNs is configured but its key is unusable.
    #[error(transparent)]
    Apns(#[from] ApnsError),
    /// FCM is configured but its service account is unusable.
    #[error(transparent)]
    Fcm(#[from] FcmError),
    /// The runtime or its thread cannot be started.
    #[error("cannot start the delivery thread")]
    Spawn(#[source] std::io::Error),
}

/// The configured providers.
#[derive(Debug)]
struct Providers {
    apns: Option<Apns>,
    fcm: Option<Fcm>,
}

impl Providers {
    async fn send(&self, push: &Push) -> Attempt {
        match (push.provider, &self.apns, &self.fcm) {
            (Provider::Apns, Some(apns), _) => apns.send(push).await,
            (Provider::Fcm, _, Some(fcm)) => fcm.send(push).await,
            _ => Attempt::Failed("provider not configured".to_owned()),
        }
    }
}

/// Retry policy.
#[derive(Debug, Clone, Copy)]
struct Retry {
    max: u32,
    base: Duration,
}

impl Retry {
    /// The wait before retry number `n` (from 1): base × 2^(n-1), at most [`MAX_BACKOFF`],
    /// then a random point in its upper half so that retries of many pushes spread out.
    fn backoff(self, n: u32) -> Duration {
        let full = self
            .base
            .saturating_mul(1 << n.saturating_sub(1).min(16))
            .min(MAX_BACKOFF);
        let half = full / 2;
        half + full
            .saturating_sub(half)
            .mul_f64(rand::rng().random::<f64>())
    }
}

/// Everything a delivery task needs.
#[derive(Debug)]
struct Shared {
    providers: Providers,
    stats: Arc<PushStats>,
    dead: Sender<DeadToken>,
    retry: Retry,
}

/// The running delivery side; stops (dropping what is queued) when dropped.
#[derive(Debug)]
pub(crate) struct Delivery {
    queue: Arc<DropOldestQueue<Push>>,
    in_flight: Arc<Semaphore>,
    stats: Arc<PushStats>,
    apns: bool,
    fcm: bool,
    thread: Option<JoinHandle<()>>,
}

impl Delivery {
    /// Reads the credentials, builds the client and starts the thread. A provider that is not
    /// configured is named once here; its tokens are answered with result 1.
    pub(crate) fn start(
        config: &DeliveryConfig,
        stats: Arc<PushStats>,
        dead: Sender<DeadToken>,
    ) -> Result<Self, DeliveryError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(DeliveryError::Spawn)?;
        let client = http_client::build(config.ca_file.as_deref())?;
        let apns = match &config.apns {
            Some(c) => {
                let apns = Apns::new(c, config.apns_host.clone(), client.clone())?;
                info!(
                    "apns enabled: host={} topic={} key_id={}",
                    config.apns_host, c.topic, c.key_id
                );
                Some(apns)
            }
            None => {
                info!("apns not configured (no ApnsKeyPath): ios tokens are not pushed");
                None
            }
        };
        let fcm = match &config.fcm {
            Some(c) => {
                let fcm = Fcm::new(
                    &c.service_account_path,
                    &config.fcm_host,
                    c.token_uri.as_deref(),
                    client,
                )?;
                info!("fcm enabled: {fcm:?}");
                Some(fcm)
            }
            None => {
                info!(
                    "fcm not configured (no FcmServiceAccountPath): android tokens are not pushed"
                );
                None
            }
        };
        let (has_apns, has_fcm) = (apns.is_some(), fcm.is_some());
        let queue = Arc::new(DropOldestQueue::new(config.queue_size));
        let in_flight = Arc::new(Semaphore::new(config.max_in_flight));
        let shared = Arc::new(Shared {
            providers: Providers { apns, fcm },
            stats: Arc::clone(&stats),
            dead,
            retry: Retry {
                max: config.retry_max,
                base: Duration::from_millis(config.retry_base_ms),
            },
        });
        let thread = thread::Builder::new()
            .name("push_delivery".to_owned())
            .spawn({
                let queue = Arc::clone(&queue);
                let in_flight = Arc::clone(&in_flight);
                move || runtime.block_on(dispatch(queue, in_flight, shared))
            })
            .map_err(DeliveryError::Spawn)?;
        Ok(Self {
            queue,
            in_flight,
            stats,
            apns: has_apns,
            fcm: has_fcm,
            thread: Some(thread),
        })
    }

    /// Whether `provider` is configured.
    pub(crate) fn serves(&self, provider: Provider) -> bool {
        match provider {
            Provider::Apns => self.apns,
            Provider::Fcm => self.fcm,
        }
    }

    /// Queues `push`; when the queue is full the oldest push is dropped and counted.
    pub(crate) fn submit(&self, push: Push) {
        if let Some(old) = self.queue.push(push) {
            self.stats.dropped();
            debug!(
                "push queue full, oldest dropped: provider={} user={}",
                old.provider.name(),
                old.user_id
            );
        }
    }
}

impl Drop for Delivery {
    fn drop(&mut self) {
        self.queue.close();
        self.in_flight.close();
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                warn!("push delivery thread panicked");
            }
        }
    }
}

/// Takes pushes off the queue while a request slot is free; each runs as its own task.
async fn dispatch(
    queue: Arc<DropOldestQueue<Push>>,
    in_flight: Arc<Semaphore>,
    shared: Arc<Shared>,
) {
    loop {
        let Ok(permit) = Arc::clone(&in_flight).acquire_owned().await else {
            return;
        };
        let Some(push) = queue.pop().await else {
            return;
        };
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            deliver(&shared, push).await;
            drop(permit);
        });
    }
}

/// Sends one push, retrying as the policy allows, and records the outcome.
async fn deliver(shared: &Shared, push: Push) {
    let provider = push.provider.name();
    let mut retries = 0;
    loop {
        match shared.providers.send(&push).await {
            Attempt::Delivered => {
                shared.stats.outcome(push.provider, Outcome::Delivered);
                debug!("push delivered: provider={provider} user={}", push.user_id);
                return;
            }
            Attempt::TokenDead(why) => {
                shared.stats.outcome(push.provider, Outcome::TokenDead);
                info!(
                    "device token dead, clearing: provider={provider} user={} why={why}",
                    push.user_id
                );
                // The reactor sends the clear request; it is gone only when the server stops.
                let _ = shared.dead.send(DeadToken {
                    user_id: push.user_id,
                    token: push.token,
                });
                return;
            }
            Attempt::Failed(why) => {
                shared.stats.outcome(push.provider, Outcome::Failed);
                warn!(
                    "push refused: provider={provider} user={} why={why}",
                    push.user_id
                );
                return;
            }
            Attempt::Retry(why) if retries >= shared.retry.max => {
                shared.stats.outcome(push.provider, Outcome::Failed);
                warn!(
                    "push failed after {retries} retries: provider={provider} user={} why={why}",
                    push.user_id
                );
                return;
            }
            Attempt::Retry(why) => {
                retries += 1;
                shared.stats.retried();
                let wait = shared.retry.backoff(retries);
                debug!(
                    "push retry {retries} in {wait:?}: provider={provider} user={} why={why}",
                    push.user_id
                );
                tokio::time::sleep(wait).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_stays_in_the_upper_half_and_is_capped() {
        let retry = Retry {
            max: 5,
            base: Duration::from_millis(100),
        };
        for n in 1..=4 {
            let full = Duration::from_millis(100 << (n - 1));
            for _ in 0..50 {
                let wait = retry.backoff(n);
                assert!(wait >= full / 2 && wait <= full, "{n}: {wait:?}");
            }
        }
        assert!(retry.backoff(40) <= MAX_BACKOFF);
    }
}
