//! lenient
pub struct Lenient;

impl policy_degradation::Variant for Lenient {
    const NAME: &'static str = "degradation-lenient";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DEFAULT_LEVELS: Option<&'static str> = Some("{}");
}

#[cfg(target_arch = "wasm32")]
type Policy = policy_degradation::Policy<Lenient>;
#[cfg(target_arch = "wasm32")]
policy_degradation::export!(Policy with_types_in policy_degradation);
