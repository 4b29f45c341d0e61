//! Slots for live streams (SSE) in this replica: at most so many per client
//! address and so many in all. A stream holds its slot until it ends.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{Arc, Mutex},
};

use crate::error::ApiError;

/// How many live streams may be open, read from `gavel`'s flags (their doc
/// comments are the flags' help).
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct StreamLimits {
    /// Open live streams per client address.
    #[arg(
        id = "sse_per_ip",
        long = "sse-per-ip",
        value_name = "SSE_PER_IP",
        env = "GAVEL_SSE_PER_IP",
        default_value_t = 50
    )]
    pub per_ip: u32,
    /// Open live streams in one API process.
    #[arg(
        id = "sse_max",
        long = "sse-max",
        value_name = "SSE_MAX",
        env = "GAVEL_SSE_MAX",
        default_value_t = 10_000
    )]
    pub total: u32,
}

#[derive(Debug, Default)]
struct Open {
    total: u32,
    by_ip: HashMap<IpAddr, u32>,
}

/// The open streams, counted.
#[derive(Debug)]
pub struct StreamSlots {
    limits: StreamLimits,
    open: Arc<Mutex<Open>>,
}

/// One open stream's slot, given back when dropped.
#[derive(Debug)]
pub struct StreamSlot {
    ip: IpAddr,
    open: Arc<Mutex<Open>>,
}

impl StreamSlots {
    pub fn new(limits: StreamLimits) -> Self {
        Self {
            limits,
            open: Arc::default(),
        }
    }

    /// A slot for a new stream from `ip`, or the refusal to answer.
    pub fn take(&self, ip: IpAddr) -> Result<StreamSlot, ApiError> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if open.total >= self.limits.total {
            super::refused("sse_total");
            return Err(ApiError::new(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "too_many_streams",
                "this server holds as many live streams as it can; retry shortly or elsewhere",
            )
            .with_retry_after(5));
        }
        let mine = open.by_ip.entry(ip).or_default();
        if *mine >= self.limits.per_ip {
            super::refused("sse_ip");
            return Err(ApiError::new(
                axum::http::StatusCode::TOO_MANY_REQUESTS,
                "too_many_streams",
                format!(
                    "at most {} live streams per client address; close one first",
                    self.limits.per_ip
                ),
            )
            .with_retry_after(5));
        }
        *mine += 1;
        open.total += 1;
        metrics::gauge!("gavel_sse_streams").increment(1.0);
        Ok(StreamSlot {
            ip,
            open: self.open.clone(),
        })
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.total = open.total.saturating_sub(1);
        if let Some(mine) = open.by_ip.get_mut(&self.ip) {
            *mine -= 1;
            if *mine == 0 {
                open.by_ip.remove(&self.ip);
            }
        }
        metrics::gauge!("gavel_sse_streams").decrement(1.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_bounded_per_address_and_in_all_and_come_back() {
        let slots = StreamSlots::new(StreamLimits {
            per_ip: 2,
            total: 3,
        });
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let first = slots.take(a).unwrap();
        let _second = slots.take(a).unwrap();
        assert_eq!(slots.take(a).unwrap_err().status.as_u16(), 429);
        let _third = slots.take(b).unwrap();
        assert_eq!(slots.take(b).unwrap_err().status.as_u16(), 503);
        drop(first);
        assert!(slots.take(a).is_ok(), "a closed stream frees its slot");
    }
}
