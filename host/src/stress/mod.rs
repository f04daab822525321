//! The stress tester (`tollgate stress`): the seed's nine closed-loop (plus three `openai_*`)
//! scenarios and scenario files with open-loop arrivals, seeded plans, the
//! seed's reports plus breakdowns per tenant and priority class and goodput,
//! and policy-variant comparisons through the admin API.
//!
//! The flow: [`scenario`] (what to send) → [`plan`] (the seeded request
//! sequence, decided before sending) → [`runner`] (sending and polling) →
//! [`report`] (CSV / JSON / Markdown) — and [`variants`] runs that once per
//! policy variant. [`trivial`] is a do-nothing server for measuring the tester.

pub mod plan;
pub mod report;
pub mod rng;
pub mod runner;
pub mod scenario;
pub mod trivial;
pub mod variants;

pub use plan::{PlanIter, Planned, plan};
pub use runner::{RequestResult, RunOptions, RunOutcome, client, run};
pub use scenario::{Priority, RequestType, Scenario};
