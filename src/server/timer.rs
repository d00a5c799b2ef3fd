//! hyper's timer for served connections: one alarm per connection instead
//! of one registration in tokio's timer wheel per request.
//!
//! hyper's HTTP/1.1 header read timeout (the slowloris defence) creates a
//! sleep each time it starts to wait for a request head and drops it when
//! the head arrived: with hyper-util's `TokioTimer`, every keep-alive
//! request allocated a tokio `Sleep`, looked up the runtime's handle,
//! inserted an entry into the timer wheel and removed it again under the
//! wheel's lock (`benches/serve.rs`, `perf`: about 2.5 % of the server's CPU
//! time for 13-byte responses at 512 connections, work the hand-written
//! loop without a timeout does not do).
//!
//! [`ConnectionTimer`] gives every connection one alarm, a tokio `Sleep`
//! created when the connection first waits for a deadline and then kept:
//! a sleep hyper creates only records its deadline, and when polled
//! before its deadline it makes sure the alarm is armed no later than that
//! deadline (it usually is: then nothing but the deadline is read). As
//! hyper's deadlines only move later (each head's is `now + timeout`), the
//! armed alarm usually stays where it is; it fires at most once per timeout
//! period without a deadline having passed, and is then moved to the
//! current one. So a request costs a small allocation (hyper boxes every
//! sleep) and a clock read, and the wheel is touched about once per timeout
//! per connection. A deadline is never late: a sleep is ready as soon as
//! tokio's clock reaches it, and the alarm is never armed after a deadline
//! that is waited for.
//!
//! The clock is read at most once per poll of the connection's future
//! (hyper asks for it on every HTTP/2 frame, for its keep-alive pings):
//! what the sleeps and hyper see during one poll is that reading. A
//! deadline that passes later in the same poll is seen at the next one,
//! which the alarm brings.
//!
//! The connection's alarm lives in a task-local set by [`with_alarm`]
//! around the connection's future (so it is found without a pointer of its
//! own, in memory the connection's task is already touching). A sleep created outside
//! it, or polled by another task than the one the alarm wakes, gets a tokio
//! `Sleep` of its own, as with `TokioTimer`.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::time::{Instant, Sleep};

use crate::waker_identity::waker_identity;

tokio::task_local! {
    /// The alarm of the connection whose future is being polled.
    static ALARM: RefCell<Alarm>;
}

/// Runs a connection's future with an alarm for its sleeps.
pub(super) fn with_alarm<F: Future>(connection: F) -> impl Future<Output = F::Output> {
    ALARM.scope(RefCell::default(), FreshClock { connection })
}

pin_project_lite::pin_project! {
    /// Forgets the clock reading of the connection's previous poll, so that
    /// each poll reads the clock at most once.
    struct FreshClock<F> {
        #[pin]
        connection: F,
    }
}

impl<F: Future> Future for FreshClock<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let _ = ALARM.try_with(|alarm| {
            if let Ok(mut alarm) = alarm.try_borrow_mut() {
                alarm.now = None;
            }
        });
        self.project().connection.poll(cx)
    }
}

/// tokio's clock; inside a connection's future, as read once per poll of
/// it (see [`Alarm::now`]).
pub(super) fn now() -> Instant {
    ALARM
        .try_with(|alarm| alarm.try_borrow_mut().ok().map(|mut alarm| alarm.now()))
        .ok()
        .flatten()
        .unwrap_or_else(Instant::now)
}

/// hyper's [`Timer`](hyper::rt::Timer) for [`serve`](super::serve)'s
/// connections (see the module docs).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct ConnectionTimer;

impl hyper::rt::Timer for ConnectionTimer {
    fn sleep(&self, duration: std::time::Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        self.sleep_until((now() + duration).into_std())
    }

    fn sleep_until(&self, deadline: std::time::Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(ConnectionSleep::new(Instant::from_std(deadline)))
    }

    fn reset(&self, sleep: &mut Pin<Box<dyn hyper::rt::Sleep>>, new_deadline: std::time::Instant) {
        match sleep.as_mut().downcast_mut_pin::<ConnectionSleep>() {
            Some(mut sleep) => sleep.deadline = Instant::from_std(new_deadline),
            None => *sleep = self.sleep_until(new_deadline),
        }
    }

    /// tokio's clock, so that paused time (tests) moves hyper's deadlines.
    /// Inside a connection, read once per poll of it: hyper asks for the
    /// time on every HTTP/2 frame it receives (the keep-alive ping's
    /// bookkeeping) and every HTTP/1.1 request head it waits for, and on
    /// this machine a clock read was 1 % of the server's time for small
    /// HTTP/2 responses. A reading is at most one poll old; the deadlines
    /// it computes are seconds long.
    fn now(&self) -> std::time::Instant {
        now().into_std()
    }
}

/// One connection's alarm. Lives in the connection's future (the
/// task-local's slot), so checking it touches no memory of its own.
#[derive(Debug, Default)]
struct Alarm {
    /// `None` until the connection first waits.
    sleep: Option<Pin<Box<Sleep>>>,
    /// The deadline `sleep` is armed for (kept here so that the common case
    /// does not touch `sleep`).
    armed: Option<Instant>,
    /// Identity (data, vtable) of the waker `sleep` holds: the task the
    /// alarm wakes. The sleep keeps a clone of it, so that task stays alive
    /// and its identity cannot be reused.
    task: Option<(usize, usize)>,
    /// The clock as read during this poll of the connection's future;
    /// cleared before each poll ([`FreshClock`]).
    now: Option<Instant>,
}

impl Alarm {
    /// tokio's clock, read at most once per poll of the connection.
    fn now(&mut self) -> Instant {
        *self.now.get_or_insert_with(Instant::now)
    }

    /// Arranges for `cx`'s task to be woken no later than `deadline`
    /// (which has not passed). `Err` if the alarm wakes another task.
    fn arm(&mut self, deadline: Instant, now: Instant, cx: &mut Context<'_>) -> Result<(), ()> {
        let task = waker_identity(cx.waker());
        if *self.task.get_or_insert(task) != task {
            return Err(());
        }
        match self.armed {
            // Armed for no later than `deadline`, and not fired yet: it will
            // wake this task (it was polled by it).
            Some(armed) if armed <= deadline && armed > now => Ok(()),
            // Not yet armed, armed too late (a deadline moved earlier), or
            // fired for a deadline that has moved on since.
            _ => {
                let sleep = self
                    .sleep
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
                sleep.as_mut().reset(deadline);
                self.armed = Some(deadline);
                // Registers the task's waker (`deadline` is after `now`, so
                // tokio's timer has not reached it). Outside tokio's coop
                // budget: with the budget spent, a `Sleep` returns `Pending`
                // without registering, and this alarm would wake nobody.
                let _ = std::pin::pin!(tokio::task::unconstrained(sleep.as_mut())).poll(cx);
                Ok(())
            }
        }
    }
}

/// A sleep of [`ConnectionTimer`]: a deadline, checked against tokio's
/// clock. The connection's own phase timers (`connection.rs`) use one too,
/// inline, with its deadline moved as the phase changes.
pub(super) struct ConnectionSleep {
    deadline: Instant,
    /// A `Sleep` of its own, when polled outside its connection's future or
    /// by another task than the one the alarm wakes.
    own: Option<Pin<Box<Sleep>>>,
}

impl ConnectionSleep {
    /// A sleep until `deadline`.
    pub(super) fn new(deadline: Instant) -> Self {
        ConnectionSleep {
            deadline,
            own: None,
        }
    }

    /// Moves the deadline (earlier or later).
    pub(super) fn reset(&mut self, deadline: Instant) {
        self.deadline = deadline;
    }
}

impl Future for ConnectionSleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        let deadline = this.deadline;
        if this.own.is_none() {
            // Inside the connection's future: its clock reading, and its
            // alarm (a deadline that passes later in this poll is seen at
            // the next, which the alarm or the I/O brings).
            let decided = ALARM.try_with(|alarm| {
                let mut alarm = alarm.try_borrow_mut().ok()?;
                let now = alarm.now();
                if now >= deadline {
                    return Some(Poll::Ready(()));
                }
                alarm.arm(deadline, now, cx).ok().map(|()| Poll::Pending)
            });
            if let Ok(Some(poll)) = decided {
                return poll;
            }
        }
        if Instant::now() >= deadline {
            return Poll::Ready(());
        }
        let own = this
            .own
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if own.deadline() != deadline {
            own.as_mut().reset(deadline);
        }
        own.as_mut().poll(cx)
    }
}

impl hyper::rt::Sleep for ConnectionSleep {}

#[cfg(test)]
mod tests {
    use std::future::poll_fn;
    use std::pin::Pin;
    use std::task::Poll;
    use std::time::Duration;

    use hyper::rt::Timer;
    use tokio::time::Instant;

    use super::{with_alarm, ConnectionTimer};

    /// Whether `sleep` is ready now (one poll by the current task).
    async fn ready(sleep: &mut Pin<Box<dyn hyper::rt::Sleep>>) -> bool {
        poll_fn(|cx| Poll::Ready(sleep.as_mut().poll(cx).is_ready())).await
    }

    async fn deadlines_hold() {
        let timer = ConnectionTimer;
        let start = Instant::now();
        // hyper waits for a head (deadline 30 s), the head comes at 10 s.
        let mut first = timer.sleep(Duration::from_secs(30));
        assert!(!ready(&mut first).await);
        tokio::time::sleep(Duration::from_secs(10)).await;
        drop(first);
        // The next head's deadline is 40 s: the alarm, armed for 30 s,
        // fires then and must not end this one early.
        let mut second = timer.sleep(Duration::from_secs(30));
        assert!(!ready(&mut second).await);
        tokio::time::timeout(Duration::from_secs(29), &mut second)
            .await
            .expect_err("not before its deadline");
        assert!(!ready(&mut second).await);
        (&mut second).await;
        assert_eq!(start.elapsed(), Duration::from_secs(40));
        // A deadline moved earlier (reset) is kept.
        let mut third = timer.sleep(Duration::from_secs(60));
        assert!(!ready(&mut third).await);
        timer.reset(
            &mut third,
            (Instant::now() + Duration::from_secs(5)).into_std(),
        );
        (&mut third).await;
        assert_eq!(start.elapsed(), Duration::from_secs(45));
    }

    #[tokio::test(start_paused = true)]
    async fn deadlines_hold_with_the_connections_alarm() {
        with_alarm(deadlines_hold()).await;
    }

    #[tokio::test(start_paused = true)]
    async fn deadlines_hold_outside_a_connection() {
        deadlines_hold().await;
    }

    /// A connection that spent tokio's coop budget when it starts to wait
    /// still gets its wake-up at the deadline.
    #[tokio::test(start_paused = true)]
    async fn the_alarm_is_armed_with_the_coop_budget_spent() {
        with_alarm(async {
            let timer = ConnectionTimer;
            let start = Instant::now();
            let mut sleep = timer.sleep(Duration::from_secs(30));
            // Spend the budget: a tokio channel's `recv` consumes it.
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
            for _ in 0..1_000 {
                tx.send(()).expect("send");
            }
            let spent = poll_fn(|cx| loop {
                if rx.poll_recv(cx).is_pending() {
                    return Poll::Ready(sleep.as_mut().poll(cx).is_pending());
                }
            })
            .await;
            assert!(spent, "not ready before its deadline");
            tokio::time::timeout(Duration::from_secs(60), &mut sleep)
                .await
                .expect("woken at its deadline");
            assert_eq!(start.elapsed(), Duration::from_secs(30));
        })
        .await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_sleep_polled_by_another_task_wakes_that_task() {
        with_alarm(async {
            let timer = ConnectionTimer;
            let start = Instant::now();
            let mut mine = timer.sleep(Duration::from_secs(30));
            assert!(!ready(&mut mine).await);
            // Another task waits for an earlier deadline of this
            // connection: it gets its own sleep, and this task's wake-up
            // at 30 s stays.
            let theirs = timer.sleep(Duration::from_secs(5));
            tokio::spawn(theirs).await.expect("other task");
            assert_eq!(start.elapsed(), Duration::from_secs(5));
            mine.await;
            assert_eq!(start.elapsed(), Duration::from_secs(30));
        })
        .await;
    }
}
