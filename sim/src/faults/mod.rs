//! The fault plan: what goes wrong, when. A scenario lists faults at fixed times and may ask for
//! random ones ("N per run, of these kinds"), which the seed draws, each with its heal. The
//! runner applies the expanded plan between `sim.step()` calls and writes every action into the
//! trace, so a failing run's trace says exactly which faults it saw.
//!
//! turmoil never retransmits: a partition or hold stalls TCP streams until repaired/released,
//! which the machines must survive with their request timeouts and keepalives.
//!
//! [`plan`] is the data (fault kinds, the random draws, the heals, what is left unhealed);
//! [`apply`] carries an action out on the turmoil sim.

pub mod apply;
pub mod plan;

pub use apply::apply;
pub use plan::*;

#[cfg(test)]
mod tests {
    use super::*;

    fn at(at_ms: u64, action: FaultAction) -> Fault {
        Fault { at_ms, action }
    }

    #[test]
    fn a_plan_is_healed_only_when_every_fault_is_undone() {
        let one = |h: &str| HostSet::One(h.to_string());
        let mut plan = vec![
            at(1, FaultAction::Crash { host: "is1".into() }),
            at(
                2,
                FaultAction::PartitionOneway {
                    from: one("is2"),
                    to: one("proxy1"),
                },
            ),
            at(
                3,
                FaultAction::Partition {
                    a: one("a"),
                    b: one("b"),
                },
            ),
            at(4, FaultAction::Latency { max_ms: 500 }),
        ];
        assert_eq!(unhealed(&plan, 20).len(), 4, "{:?}", unhealed(&plan, 20));
        plan.push(at(5, FaultAction::Start { host: "is1".into() }));
        plan.push(at(
            6,
            FaultAction::RepairOneway {
                from: one("is2"),
                to: one("proxy1"),
            },
        ));
        // A two-way repair named the other way round heals the same link.
        plan.push(at(
            7,
            FaultAction::Repair {
                a: one("b"),
                b: one("a"),
            },
        ));
        assert_eq!(unhealed(&plan, 20), vec!["latency 500 ms".to_string()]);
        plan.push(at(8, FaultAction::Latency { max_ms: 20 }));
        assert!(unhealed(&plan, 20).is_empty());
        // A one-way repair the other way round does not.
        plan.push(at(
            9,
            FaultAction::PartitionOneway {
                from: one("x"),
                to: one("y"),
            },
        ));
        plan.push(at(
            10,
            FaultAction::RepairOneway {
                from: one("y"),
                to: one("x"),
            },
        ));
        assert_eq!(unhealed(&plan, 20), vec!["oneway x-y".to_string()]);
    }
}
