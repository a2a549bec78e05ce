//! One fuzz driver for every target in the workspace.
//!
//! A target is a closure that builds its inputs from an [`Entropy`] (a
//! random source) and exercises the code under test; it must not panic.
//! [`fuzz_target!`](crate::fuzz_target) runs it two ways:
//!
//! - **As a test** (`cargo test`, stable Rust): seeded, time-boxed loops.
//!   `FUZZ_SECONDS` (per target, default 3), `FUZZ_ITERATIONS` (a cap),
//!   `FUZZ_SEED` (replays a run), `FUZZ_CASE` (replays the one case a
//!   failure names). Each target prints its seed, iterations, rate and a
//!   tally of outcomes. A panic in a task the code spawned on a tokio
//!   runtime counts as the case's panic.
//! - **Coverage-guided**, under a fuzzing engine (`cargo bolero test
//!   <target> -p <package>` with libFuzzer, AFL or honggfuzz; they build
//!   with `--cfg fuzzing`): the engine's input bytes are the entropy, so
//!   its mutations steer every choice a generator makes, and bolero keeps
//!   the corpus and shrinks a failing input.

use std::collections::BTreeMap;
use std::io::Write;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};

#[cfg(fuzzing)]
#[doc(hidden)]
pub use bolero;

/// Counts by outcome, for the summary line.
pub type Tally = BTreeMap<String, u64>;

/// Adds one to `outcome`'s count.
pub fn bump(tally: &mut Tally, outcome: impl Into<String>) {
    *tally.entry(outcome.into()).or_default() += 1;
}

/// The random source a target draws from: a fuzzing engine's input bytes
/// first (so coverage feedback steers the choices), then a generator seeded
/// from them, so a short input still yields a whole case.
pub struct Entropy<'a> {
    bytes: &'a [u8],
    rest: StdRng,
}

impl<'a> Entropy<'a> {
    /// Entropy from an engine's input.
    pub fn from_bytes(bytes: &'a [u8]) -> Entropy<'a> {
        let seed = bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
        });
        Entropy {
            bytes,
            rest: StdRng::seed_from_u64(seed),
        }
    }
}

impl Entropy<'static> {
    /// Entropy from a seed alone (the test loop's cases).
    pub fn from_seed(seed: u64) -> Entropy<'static> {
        Entropy {
            bytes: &[],
            rest: StdRng::seed_from_u64(seed),
        }
    }
}

impl RngCore for Entropy<'_> {
    fn next_u32(&mut self) -> u32 {
        let mut buf = [0; 4];
        self.fill_bytes(&mut buf);
        u32::from_le_bytes(buf)
    }

    fn next_u64(&mut self) -> u64 {
        let mut buf = [0; 8];
        self.fill_bytes(&mut buf);
        u64::from_le_bytes(buf)
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        let taken = dest.len().min(self.bytes.len());
        let (input, rest) = self.bytes.split_at(taken);
        dest[..taken].copy_from_slice(input);
        self.bytes = rest;
        self.rest.fill_bytes(&mut dest[taken..]);
    }
}

/// One of `values`, uniformly.
pub fn pick<T: Clone>(rng: &mut impl RngCore, values: &[T]) -> T {
    values[rng.random_range(0..values.len())].clone()
}

/// An encoding mutated the way fuzzers do: bit flips, interesting bytes,
/// insertions, deletions, truncation, splices.
pub fn mutate(rng: &mut impl RngCore, mut bytes: Vec<u8>) -> Vec<u8> {
    for _ in 0..rng.random_range(1..=2) {
        let len = bytes.len();
        match rng.random_range(0..6) {
            0 if len > 0 => bytes[rng.random_range(0..len)] ^= 1 << rng.random_range(0..8),
            1 if len > 0 => {
                bytes[rng.random_range(0..len)] =
                    pick(rng, &[0x00, 0xff, 0x7f, 0x80, 0x0a, 0x12, 0x22])
            }
            2 => bytes.insert(rng.random_range(0..=len), rng.random()),
            3 if len > 0 => {
                bytes.remove(rng.random_range(0..len));
            }
            4 => bytes.truncate(rng.random_range(0..=len)),
            5 if len > 0 => {
                let start = rng.random_range(0..len);
                let end = rng.random_range(start..=len.min(start + 64));
                let slice = bytes[start..end].to_vec();
                let at = rng.random_range(0..=len);
                bytes.splice(at..at, slice);
            }
            _ => {}
        }
    }
    bytes
}

/// Bytes for a decoder: now and then (15%) up to `noise_len` random bytes,
/// otherwise the encoding `valid` builds, mutated.
pub fn noise_or_mutated<R: RngCore>(
    rng: &mut R,
    noise_len: u32,
    valid: impl FnOnce(&mut R) -> Vec<u8>,
) -> Vec<u8> {
    if rng.random_bool(0.15) {
        (0..rng.random_range(0..noise_len))
            .map(|_| rng.random())
            .collect()
    } else {
        let valid = valid(rng);
        mutate(rng, valid)
    }
}

/// Runs a fuzz target: see the module documentation. Use it as the body
/// of a `#[test]`: `fuzz_target!("review/prost_requests", |rng, tally| …)`.
#[cfg(not(fuzzing))]
#[macro_export]
macro_rules! fuzz_target {
    ($name:expr, $case:expr) => {
        $crate::fuzz::run_as_test($name, $case)
    };
}

/// Under a fuzzing engine: the engine's input is the entropy. The
/// engine's harness (`bolero::check!`) expands at the call site, so each
/// target keeps its own corpus.
#[cfg(fuzzing)]
#[macro_export]
macro_rules! fuzz_target {
    ($name:expr, $case:expr) => {{
        // The engine catches a case's panic and reports its input; what the
        // case holds (servers, stores) is never used after one.
        let mut state = ::std::panic::AssertUnwindSafe((
            $crate::fuzz::target($case),
            $crate::fuzz::Tally::new(),
        ));
        $crate::fuzz::bolero::check!().for_each(move |bytes: &[u8]| {
            // Through `DerefMut`, so the closure captures the wrapper whole.
            let (case, tally) = &mut *state;
            case(&mut $crate::fuzz::Entropy::from_bytes(bytes), tally)
        });
    }};
}

/// Gives a target closure its signature (for every lifetime of its entropy).
pub fn target<F: FnMut(&mut Entropy<'_>, &mut Tally)>(case: F) -> F {
    case
}

/// Panics in tasks a target's code spawned, which `catch_unwind` does not see.
static SPAWNED_PANICS: AtomicU64 = AtomicU64::new(0);

fn count_spawned_panics() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            // A test thread's own panics are caught where they happen.
            if std::thread::current().name() == Some("tokio-runtime-worker") {
                SPAWNED_PANICS.fetch_add(1, Relaxed);
            }
            previous(info);
        }));
    });
}

fn env<T: std::str::FromStr>(name: &str) -> Option<T> {
    let value = std::env::var(name).ok()?;
    Some(
        value
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={value:?} is not a valid value")),
    )
}

fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// The test loop: fresh seeded cases until the time or iteration budget is
/// spent; a panic fails the test naming the seed and case that replay it.
pub fn run_as_test(target: &str, mut case: impl FnMut(&mut Entropy<'_>, &mut Tally)) {
    count_spawned_panics();
    let seconds: f64 = env("FUZZ_SECONDS").unwrap_or(3.0);
    let cap: Option<u64> = env("FUZZ_ITERATIONS");
    let seed: u64 = env("FUZZ_SEED").unwrap_or_else(rand::random);
    let only: Option<u64> = env("FUZZ_CASE");
    let mut tally = Tally::new();
    let mut master = StdRng::seed_from_u64(seed ^ fnv(target));
    let started = Instant::now();
    let budget = Duration::from_secs_f64(seconds.max(0.0));
    let mut iterations = 0u64;
    loop {
        let done = match only {
            Some(_) => iterations == 1,
            None => started.elapsed() >= budget || cap.is_some_and(|cap| iterations >= cap),
        };
        if done {
            break;
        }
        let case_seed = only.unwrap_or_else(|| master.random());
        let mut entropy = Entropy::from_seed(case_seed);
        let before = SPAWNED_PANICS.load(Relaxed);
        let outcome = catch_unwind(AssertUnwindSafe(|| case(&mut entropy, &mut tally)));
        let message = match outcome {
            Err(panic) => Some(
                panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_default(),
            ),
            Ok(()) if SPAWNED_PANICS.load(Relaxed) != before => {
                Some("a spawned task panicked (see above)".into())
            }
            Ok(()) => None,
        };
        if let Some(message) = message {
            panic!(
                "fuzz {target}: panic at iteration {iterations} (FUZZ_SEED={seed}); \
                 replay the case alone with FUZZ_CASE={case_seed}: {message}"
            );
        }
        iterations += 1;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let _ = writeln!(
        std::io::stderr(),
        "fuzz {target}: seed {seed}, {iterations} iterations in {elapsed:.1} s ({:.0}/s), no panic; {tally:?}",
        iterations as f64 / elapsed.max(1e-9),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_bytes_come_first_then_a_generator_seeded_from_them() {
        let mut entropy = Entropy::from_bytes(&[1, 0, 0, 0, 2]);
        assert_eq!(entropy.next_u32(), 1);
        let mut again = Entropy::from_bytes(&[1, 0, 0, 0, 2]);
        again.next_u32();
        // The fifth byte, then the seeded rest: the same for the same input.
        assert_eq!(entropy.next_u64(), again.next_u64());
        assert_eq!(
            Entropy::from_seed(7).next_u64(),
            Entropy::from_seed(7).next_u64()
        );
    }

    #[test]
    fn the_loop_counts_outcomes_and_names_a_failing_case() {
        std::env::set_var("FUZZ_ITERATIONS", "50");
        run_as_test("test-support/ok", |rng, tally| {
            bump(
                tally,
                if rng.random_bool(0.5) {
                    "heads"
                } else {
                    "tails"
                },
            )
        });
        let failure = catch_unwind(|| {
            run_as_test("test-support/panics", |rng, _| {
                assert!(rng.random_range(0..4) != 0, "drew zero")
            })
        })
        .expect_err("a panicking case fails the target");
        let message = failure.downcast_ref::<String>().unwrap();
        assert!(message.contains("FUZZ_CASE="), "{message}");
        assert!(message.contains("drew zero"), "{message}");
    }
}
