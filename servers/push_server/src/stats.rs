//! Delivery counters, shared by the reactor and the delivery thread and readable from the
//! server handle ([`crate::ServerHandle::stats`]). Plain relaxed atomics: each counter is
//! independent, nothing is derived from two of them at once.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::push::Provider;

/// Counters of one provider.
#[derive(Debug, Default)]
struct ProviderCounters {
    delivered: AtomicU64,
    token_dead: AtomicU64,
    failed: AtomicU64,
}

/// What happened to one push in the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The provider accepted it.
    Delivered,
    /// The provider said the token is dead; it is cleared through db_proxy.
    TokenDead,
    /// Refused for good, or still failing after the last retry.
    Failed,
}

/// The live counters.
#[derive(Debug, Default)]
pub struct PushStats {
    apns: ProviderCounters,
    fcm: ProviderCounters,
    dropped: AtomicU64,
    retried: AtomicU64,
    tokens_cleared: AtomicU64,
    unroutable: AtomicU64,
}

impl PushStats {
    fn provider(&self, provider: Provider) -> &ProviderCounters {
        match provider {
            Provider::Apns => &self.apns,
            Provider::Fcm => &self.fcm,
        }
    }

    pub(crate) fn outcome(&self, provider: Provider, outcome: Outcome) {
        let p = self.provider(provider);
        let counter = match outcome {
            Outcome::Delivered => &p.delivered,
            Outcome::TokenDead => &p.token_dead,
            Outcome::Failed => &p.failed,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn dropped(&self) {
        self.dropped.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn retried(&self) {
        self.retried.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn token_cleared(&self) {
        self.tokens_cleared.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn unroutable(&self) {
        self.unroutable.fetch_add(1, Ordering::Relaxed);
    }

    /// The counters as they are now.
    pub fn snapshot(&self) -> StatsSnapshot {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let provider = |p: &ProviderCounters| ProviderSnapshot {
            delivered: load(&p.delivered),
            token_dead: load(&p.token_dead),
            failed: load(&p.failed),
        };
        StatsSnapshot {
            apns: provider(&self.apns),
            fcm: provider(&self.fcm),
            dropped: load(&self.dropped),
            retried: load(&self.retried),
            tokens_cleared: load(&self.tokens_cleared),
            unroutable: load(&self.unroutable),
        }
    }
}

/// One provider's counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProviderSnapshot {
    /// Pushes the provider accepted.
    pub delivered: u64,
    /// Pushes refused because the token is dead.
    pub token_dead: u64,
    /// Pushes refused for another reason or still failing after the last retry.
    pub failed: u64,
}

/// All counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// APNs outcomes.
    pub apns: ProviderSnapshot,
    /// FCM outcomes.
    pub fcm: ProviderSnapshot,
    /// Pushes dropped from the full queue (the oldest go first).
    pub dropped: u64,
    /// Retries after a 429, a 5xx or a connection failure.
    pub retried: u64,
    /// Clear requests sent to db_proxy for dead tokens.
    pub tokens_cleared: u64,
    /// Tokens of a client type no configured provider serves (result 1 to msg_server).
    pub unroutable: u64,
}
