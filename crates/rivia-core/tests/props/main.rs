//! Property tests of rivia-core's input decoders: the query language parser and the
//! pagination cursor links. Both read client-controlled text, so besides their example
//! tests they are checked on generated input: arbitrary input is answered with an error
//! rather than a panic, well-formed input is accepted, and results are deterministic.
//!
//! Each property runs a bounded number of cases so the whole binary takes about a second.

mod grammar;
mod page;
mod query;

use proptest::test_runner::{Config, RngAlgorithm};

/// Cases per property: enough to reach the odd corners, small enough to keep `cargo test`
/// quick on a shared machine.
const CASES: u32 = 256;

/// The bounded configuration of every property. XorShift instead of the default ChaCha:
/// dependencies build unoptimised in the dev profile, where ChaCha took most of the run.
fn config() -> Config {
    Config {
        rng_algorithm: RngAlgorithm::XorShift,
        ..Config::with_cases(CASES)
    }
}
