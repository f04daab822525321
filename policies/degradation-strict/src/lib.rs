//! strict
pub struct Strict;

impl policy_degradation::Variant for Strict {
    const NAME: &'static str = "degradation-strict";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DEFAULT_LEVELS: Option<&'static str> = Some("{}");
}

#[cfg(target_arch = "wasm32")]
type Policy = policy_degradation::Policy<Strict>;
#[cfg(target_arch = "wasm32")]
policy_degradation::export!(Policy with_types_in policy_degradation);
