//! What a scenario can run but certainly does not mean (a run in which nothing can happen):
//! [`Scenario::warnings`], printed by the CLI before the run goes ahead.

use super::Scenario;

impl Scenario {
    /// What is certainly not meant but can run: a run where nothing can happen. Printed as
    /// warnings by the CLI; the run goes ahead.
    pub fn warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        let duration = self.duration_ms;
        let mut warn = |cond: bool, text: String| {
            if cond {
                warnings.push(text);
            }
        };
        warn(
            self.tick_ms >= duration,
            format!(
                "tick_ms = {} is not shorter than the run ({duration} ms)",
                self.tick_ms
            ),
        );
        warn(
            self.network.latency_min_ms >= duration,
            format!(
                "network.latency_min_ms = {} ms: no message arrives before the end of the run ({duration} ms)",
                self.network.latency_min_ms
            ),
        );
        warn(
            self.client.tick_ms >= duration,
            format!(
                "client.tick_ms = {} ms: clients never tick before the end of the run ({duration} ms)",
                self.client.tick_ms
            ),
        );
        warn(
            self.client.connect_timeout_ms < 2 * self.network.latency_min_ms,
            format!(
                "client.connect_timeout_ms = {} ms is shorter than the quickest round trip (2 x network.latency_min_ms = {} ms): no connection is ever made",
                self.client.connect_timeout_ms,
                2 * self.network.latency_min_ms
            ),
        );
        warn(
            self.client.request_timeout_ms < 2 * self.network.latency_min_ms,
            format!(
                "client.request_timeout_ms = {} ms is shorter than the quickest round trip ({} ms): every request times out",
                self.client.request_timeout_ms,
                2 * self.network.latency_min_ms
            ),
        );
        warn(
            self.is.invite_timeout_ms < 2 * self.network.latency_max_ms,
            format!(
                "is.invite_timeout_ms = {} ms is shorter than a slow round trip (2 x network.latency_max_ms = {} ms): agents' answers to invites can come too late",
                self.is.invite_timeout_ms,
                2 * self.network.latency_max_ms
            ),
        );
        let first_submit = match self.workload.submits.iter().map(|s| s.at_ms).min() {
            Some(at_ms) => at_ms,
            None => self.workload.start_ms,
        };
        warn(
            self.workload.interactions > 0 && first_submit >= duration,
            format!(
                "the workload starts at {first_submit} ms, after the end of the run ({duration} ms): nothing is submitted"
            ),
        );
        warnings
    }
}
