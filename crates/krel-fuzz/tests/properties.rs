//! Property tests: every parser of outside input returns (an `Ok` or an `Err`) and never
//! panics, on arbitrary bytes, on text from its alphabet and on mutated valid inputs; versions
//! and build versions print back to what they parse from, and order consistently.

use krel_fuzz::{generate, targets, Rng};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn no_parser_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        for target in targets() {
            (target.run)(&bytes);
        }
    }

    #[test]
    fn no_parser_panics_on_generated_and_mutated_inputs(seed in any::<u64>()) {
        let mut rng = Rng::new(seed);
        for target in targets() {
            let input = generate(&target, &mut rng);
            (target.run)(&input);
        }
    }

    #[test]
    fn versions_print_back_and_order_by_their_parts(
        major in 0u64..3, minor in 0u64..40, patch in 0u64..20,
        label in prop::sample::select(vec!["", "-alpha.", "-beta.", "-rc."]), n in 0u64..5,
    ) {
        let text = if label.is_empty() {
            format!("v{major}.{minor}.{patch}")
        } else {
            format!("v{major}.{minor}.{patch}{label}{n}")
        };
        let version: krel_version::Version = text.parse().unwrap();
        prop_assert_eq!(version.to_string(), text.clone());
        let official: krel_version::Version = format!("v{major}.{minor}.{patch}").parse().unwrap();
        prop_assert!(version <= official, "{} sorts after {}", version, official);
        if !label.is_empty() {
            let described = format!("{text}.3+0123456789abcd");
            let build: krel_version::BuildVersion = described.parse().unwrap();
            prop_assert_eq!(build.to_string(), described);
        }
    }
}

#[test]
fn every_seed_is_accepted_as_input() {
    for target in targets() {
        for seed in (target.seeds)() {
            (target.run)(&seed);
        }
    }
}
