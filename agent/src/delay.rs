//! Delays every packet the kernel queues to us (iptables `-j NFQUEUE`) by a
//! fixed time, then lets it through. The kernel has no netem here, so this
//! is how a slow link is made; packets keep their order because the delay
//! is the same for all.

use std::collections::VecDeque;
use std::io::ErrorKind;
use std::time::{Duration, Instant};

use nfq::{Queue, Verdict};

pub fn run(queue_num: u16, delay: Duration) -> std::io::Result<()> {
    let mut queue = Queue::open()?;
    queue.bind(queue_num)?;
    // If we die, traffic flows again rather than stalling the cluster.
    queue.set_fail_open(queue_num, true)?;
    queue.set_nonblocking(true);
    eprintln!(
        "vls-chaos-agent: delaying packets on queue {queue_num} by {} ms",
        delay.as_millis()
    );
    let mut held = VecDeque::new();
    loop {
        let mut got_any = false;
        loop {
            match queue.recv() {
                Ok(mut msg) => {
                    msg.set_verdict(Verdict::Accept);
                    held.push_back((Instant::now() + delay, msg));
                    got_any = true;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
        }
        let now = Instant::now();
        while held.front().is_some_and(|(due, _)| *due <= now) {
            if let Some((_, msg)) = held.pop_front() {
                queue.verdict(msg)?;
            }
        }
        if !got_any {
            let until_next = held
                .front()
                .map(|(due, _)| due.saturating_duration_since(now))
                .unwrap_or(Duration::from_millis(1));
            std::thread::sleep(
                until_next.clamp(Duration::from_micros(200), Duration::from_millis(1)),
            );
        }
    }
}
