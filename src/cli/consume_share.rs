//! `sluice consume --share-group G TOPIC`: one worker of a share group (KIP-932), as Kafka's
//! console share consumer is. The group's coordinator assigns partitions (shared with other
//! workers), records are acquired from their leaders, printed, and acknowledged with `--ack`
//! (implicit acknowledgement: each printed record's type goes with the next fetch, or with
//! the session's close). Records acquired but not printed (past `-n`) are released, so other
//! workers get them at once. Stops at COUNT records, after `--timeout-ms` without one, or on
//! Ctrl-C / SIGTERM; it then closes its share sessions and leaves the group.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::consume::{parse_template, quiet_on_broken_pipe, render, ConsumeArgs, ShareAck};
use sluice_client::share_member::{Ack, ShareMember};
use sluice_client::ClientError;

/// Longest one share fetch waits at the broker for records.
const SHARE_FETCH_WAIT_MS: u64 = 500;
/// Records asked per fetch and leader (Kafka's `max.poll.records` default).
const SHARE_POLL_RECORDS_MAX: u64 = 500;

pub fn run(args: &ConsumeArgs, group: &str) -> Result<(), ClientError> {
    let mut client = args.opts.client()?;
    // An unknown topic is an error here, not an empty subscription.
    client.topic(&args.topic, false)?;
    let ack = match args.ack {
        ShareAck::Accept => Ack::Accept,
        ShareAck::Release => Ack::Release,
        ShareAck::Reject => Ack::Reject,
    };
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        let _ = signal_hook::flag::register_conditional_default(signal, stop.clone());
        let _ = signal_hook::flag::register(signal, stop.clone());
    }
    let mut member = ShareMember::new(group, std::slice::from_ref(&args.topic));
    member.join(&mut client)?;
    let template = args.template.as_deref().map(parse_template);
    let idle_limit = args.timeout_ms.map(Duration::from_millis);
    let mut last_record = Instant::now();
    let mut printed: u64 = 0;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let result = 'fetching: loop {
        if args.count.is_some_and(|c| printed >= c) || stop.load(Ordering::Relaxed) {
            break Ok(());
        }
        let mut wait = Duration::from_millis(SHARE_FETCH_WAIT_MS).min(member.fetch_wait());
        if let Some(limit) = idle_limit {
            let left = limit.saturating_sub(last_record.elapsed());
            if left.is_zero() {
                break Ok(());
            }
            wait = wait.min(left);
        }
        if member.assigned().is_empty() {
            // More workers than partitions can leave one with nothing yet: heartbeat and wait.
            std::thread::sleep(wait);
        } else {
            let want = args
                .count
                .map_or(SHARE_POLL_RECORDS_MAX, |c| c.saturating_sub(printed))
                .clamp(1, SHARE_POLL_RECORDS_MAX);
            let round = member.fetch(&mut client, wait, want as i32)?;
            for e in &round.ack_errors {
                eprintln!(
                    "sluice: acknowledgement refused on partition {} ({}): those records return to the group",
                    e.1,
                    sluice_client::error::error_name(e.2)
                );
            }
            for r in round.records {
                if args.count.is_some_and(|c| printed >= c) {
                    // Not printed: back to the group for another worker.
                    member.acknowledge(&r, Ack::Release);
                    continue;
                }
                let line = render(args, template.as_deref(), r.partition, &r.record);
                if let Err(e) = writeln!(out, "{line}") {
                    // Closing the sessions releases what was not acknowledged.
                    break 'fetching quiet_on_broken_pipe(e);
                }
                printed += 1;
                last_record = Instant::now();
                member.acknowledge(&r, ack);
            }
            if let Err(e) = out.flush() {
                break quiet_on_broken_pipe(e);
            }
        }
        member.heartbeat_if_due(&mut client)?;
    };
    drop(out);
    member.close(&mut client)?;
    result?;
    if let Some(c) = args.count {
        if printed < c && !stop.load(Ordering::Relaxed) {
            return Err(ClientError::Timeout(format!(
                "{printed} of {c} records within --timeout-ms {}",
                args.timeout_ms.unwrap_or(0)
            )));
        }
    }
    Ok(())
}
