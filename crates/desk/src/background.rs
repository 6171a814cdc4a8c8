//! The production driver: tokio tasks that call the desk's steps every second with the
//! injected clock's time. Tests call the steps themselves instead.

use std::sync::Arc;
use std::time::Duration;

use crate::clock::Clock;
use crate::desk::Desk;

/// How often the background tasks run the desk's steps.
pub const TICK_INTERVAL: Duration = Duration::from_secs(1);
/// How often report deadlines are checked for reminders (deadlines are in minutes and hours).
pub const REPORT_REMINDER_INTERVAL: Duration = Duration::from_secs(30);

/// Running background tasks; dropping this stops them.
#[derive(Debug)]
pub struct BackgroundTasks {
    handles: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for BackgroundTasks {
    fn drop(&mut self) {
        for handle in &self.handles {
            handle.abort();
        }
    }
}

/// Spawns four loops on the current tokio runtime: evaluation (monitors, incidents,
/// escalation), delivery, probes, and report-deadline reminders. They run apart so a slow probe or a hanging channel
/// never delays detection. Errors are logged and the loop goes on.
pub fn spawn_background(desk: Arc<Desk>, clock: Arc<dyn Clock>) -> BackgroundTasks {
    let mut handles = Vec::new();
    {
        let (desk, clock) = (desk.clone(), clock.clone());
        handles.push(tokio::spawn(async move {
            let mut interval = tokio::time::interval(TICK_INTERVAL);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                interval.tick().await;
                if let Err(err) = desk.evaluate(clock.now_ms()).await {
                    tracing::error!("desk evaluation failed: {err}");
                }
            }
        }));
    }
    {
        let (desk, clock) = (desk.clone(), clock.clone());
        handles.push(tokio::spawn(async move {
            let mut interval = tokio::time::interval(TICK_INTERVAL);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                interval.tick().await;
                if let Err(err) = desk.deliver_due(clock.now_ms()).await {
                    tracing::error!("desk delivery pass failed: {err}");
                }
            }
        }));
    }
    {
        let (desk, clock) = (desk.clone(), clock.clone());
        handles.push(tokio::spawn(async move {
            let mut interval = tokio::time::interval(REPORT_REMINDER_INTERVAL);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                interval.tick().await;
                if let Err(err) = desk.remind_reports(clock.now_ms()).await {
                    tracing::error!("report reminder pass failed: {err}");
                }
            }
        }));
    }
    handles.push(tokio::spawn(async move {
        let mut interval = tokio::time::interval(TICK_INTERVAL);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            if let Err(err) = desk.run_probes(clock.now_ms()).await {
                tracing::error!("desk probe pass failed: {err}");
            }
        }
    }));
    BackgroundTasks { handles }
}
