//! The Gillespie engine against analytic results, on fixed seeds: stationary means and
//! variances of queues and birth–death processes, the law of the holding times, the law of
//! the channel chosen, absorption, and determinism.
//!
//! Monte Carlo checks use `R` independent runs (`rng_for(seed, 0, run)`), one time average
//! per run, and accept when the analytic value lies within mean ± 3·s/√R. Three standard
//! errors, not 1.96: a correct engine then fails a given check for 0.27 % of seeds instead
//! of 5 %, so a change that only redraws the random streams (an engine speedup, a new
//! seed) does not break the file by bad luck. Each check also asserts that the interval
//! is narrow (a few % of the value), so a biased engine cannot pass by a wide interval.

use masa_simulate::engine::{Gillespie, Model, SimRng, Step, rng_for};
use masa_simulate::network::Network;

/// A Monte Carlo estimate: the mean of per-run values and its 3-standard-error half-width.
#[derive(Debug)]
struct Estimate {
    mean: f64,
    half_width: f64,
}

impl Estimate {
    fn of(values: &[f64]) -> Estimate {
        let r = values.len() as f64;
        let mean = values.iter().sum::<f64>() / r;
        let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (r - 1.0);
        Estimate {
            mean,
            half_width: 3.0 * (var / r).sqrt(),
        }
    }

    /// Asserts that `expected` is in the interval and that the interval is narrower than
    /// `max_relative` of `expected` on each side.
    fn check(&self, expected: f64, max_relative: f64, what: &str) {
        eprintln!(
            "{what}: {:.5} ± {:.5} (analytic {expected:.5})",
            self.mean, self.half_width
        );
        assert!(
            (self.mean - expected).abs() <= self.half_width,
            "{what}: analytic {expected} outside {:.5} ± {:.5}",
            self.mean,
            self.half_width
        );
        assert!(
            self.half_width <= max_relative * expected,
            "{what}: interval ± {:.5} too wide to test {expected} (want ≤ {:.5})",
            self.half_width,
            max_relative * expected
        );
    }
}

/// The M/M/1 queue: arrivals at rate λ, services at rate μ while someone is in the system.
/// Not mass action (service does not grow with the queue), so a small hand model.
struct Queue {
    n: u64,
    arrival: f64,
    service: f64,
}

impl Model for Queue {
    fn channels(&self) -> usize {
        2
    }

    fn propensities(&self, out: &mut [f64]) {
        out[0] = self.arrival;
        out[1] = if self.n > 0 { self.service } else { 0.0 };
    }

    fn fire(&mut self, channel: usize, _t: f64, _rng: &mut SimRng, props: &mut [f64]) {
        match channel {
            0 => self.n += 1,
            _ => self.n -= 1,
        }
        self.propensities(props);
    }
}

#[test]
fn mm1_queue_length_and_idle_time_match_queueing_theory() {
    // ρ = 0.6: L = ρ / (1 − ρ) = 1.5 in the system, idle a fraction 1 − ρ = 0.4 of the time.
    // The queue relaxes in about 1 / (μ (1 − √ρ)²) ≈ 20 time units, so 200 of burn-in
    // and 2 000 observed per run.
    let (arrival, service) = (0.6, 1.0);
    let rho: f64 = arrival / service;
    let (burn_in, observed, runs) = (200.0, 2_000.0, 200);
    let mut lengths = Vec::new();
    let mut idle = Vec::new();
    for run in 0..runs {
        let queue = Queue {
            n: 0,
            arrival,
            service,
        };
        let mut g = Gillespie::new(queue, rng_for(1, 0, run));
        g.run_until(burn_in, |_, _| {});
        let (mut area, mut empty) = (0.0, 0.0);
        g.run_until(burn_in + observed, |q, dt| {
            area += q.n as f64 * dt;
            if q.n == 0 {
                empty += dt;
            }
        });
        lengths.push(area / observed);
        idle.push(empty / observed);
    }
    Estimate::of(&lengths).check(rho / (1.0 - rho), 0.05, "M/M/1 mean number in system");
    Estimate::of(&idle).check(1.0 - rho, 0.03, "M/M/1 idle fraction");
}

#[test]
fn immigration_death_is_poisson_with_mean_birth_over_death() {
    // Births at λ, deaths at μ·n: stationary Poisson(λ / μ), so mean = variance = 10.
    // Relaxation time 1 / μ = 1: 10 of burn-in, 200 observed per run.
    let (birth, death) = (10.0, 1.0);
    let net = Network::new(&[("n", 0)])
        .unwrap()
        .reaction(birth, &[], &[("n", 1)])
        .unwrap()
        .reaction(death, &[("n", 1)], &[("n", -1)])
        .unwrap();
    let expected = birth / death;
    let (burn_in, observed, runs) = (10.0, 200.0, 100);
    let mut means = Vec::new();
    let mut variances = Vec::new();
    for run in 0..runs {
        let mut g = Gillespie::new(net.clone(), rng_for(2, 0, run));
        g.run_until(burn_in, |_, _| {});
        let (mut first, mut centred) = (0.0, 0.0);
        g.run_until(burn_in + observed, |m, dt| {
            let n = m.count(0) as f64;
            first += n * dt;
            // Around the analytic mean, so the run's average of (n − λ/μ)² is an unbiased
            // estimate of the variance if the mean is right.
            centred += (n - expected).powi(2) * dt;
        });
        means.push(first / observed);
        variances.push(centred / observed);
    }
    Estimate::of(&means).check(expected, 0.02, "immigration-death mean");
    Estimate::of(&variances).check(expected, 0.05, "immigration-death variance");
}

#[test]
fn second_order_death_follows_the_combinatorial_propensity() {
    // Births at λ, and `2 A → A` at k·n(n−1)/2. Detailed balance on n ≥ 1 (the chain
    // leaves 0 and never returns): π(n+1) / π(n) = λ / (k (n+1) n / 2). Without the 1/2
    // (k·n(n−1)) the mean would be 4.7 instead of 6.6.
    let (birth, k) = (20.0, 1.0);
    let net = Network::new(&[("A", 1)])
        .unwrap()
        .reaction(birth, &[], &[("A", 1)])
        .unwrap()
        .reaction(k, &[("A", 2)], &[("A", -1)])
        .unwrap();
    let mut weight = 1.0;
    let (mut total, mut moment) = (0.0, 0.0);
    for n in 1..200 {
        total += weight;
        moment += n as f64 * weight;
        let n = n as f64;
        weight *= birth / (k * (n + 1.0) * n / 2.0);
    }
    let expected = moment / total;
    let (burn_in, observed, runs) = (5.0, 100.0, 60);
    let mut means = Vec::new();
    for run in 0..runs {
        let mut g = Gillespie::new(net.clone(), rng_for(3, 0, run));
        g.run_until(burn_in, |_, _| {});
        let mut area = 0.0;
        g.run_until(burn_in + observed, |m, dt| area += m.count(0) as f64 * dt);
        means.push(area / observed);
    }
    Estimate::of(&means).check(expected, 0.02, "second-order death mean");
}

#[test]
fn pure_death_is_absorbed_after_the_mean_harmonic_time() {
    // n from 10 down at μ·n: absorbed after a sum of Exp(μk), k = 10..1, of mean H₁₀ / μ.
    let death = 2.0;
    let net = Network::new(&[("n", 10)])
        .unwrap()
        .reaction(death, &[("n", 1)], &[("n", -1)])
        .unwrap();
    let harmonic: f64 = (1..=10).map(|k| 1.0 / f64::from(k)).sum();
    let mut times = Vec::new();
    for run in 0..10_000 {
        let mut g = Gillespie::new(net.clone(), rng_for(4, 0, run));
        let mut last_event = 0.0;
        loop {
            match g.step_until(100.0, |_, _| {}) {
                Step::Fired { .. } => last_event = g.t,
                Step::Absorbed => break,
                Step::Horizon => panic!("run {run} still alive at t = 100"),
            }
        }
        assert_eq!((g.events, g.model.count(0), g.t), (10, 0, 100.0));
        times.push(last_event);
    }
    Estimate::of(&times).check(harmonic / death, 0.02, "time to absorption");
}

/// The Kolmogorov–Smirnov statistic of `sample` against Exp(1).
fn ks_against_exp1(sample: &[f64]) -> f64 {
    let mut x = sample.to_vec();
    x.sort_by(f64::total_cmp);
    let n = x.len() as f64;
    x.iter()
        .enumerate()
        .map(|(i, &v)| {
            let f = 1.0 - (-v).exp();
            (f - i as f64 / n).max((i + 1) as f64 / n - f)
        })
        .fold(0.0, f64::max)
}

#[test]
fn holding_times_times_total_propensity_are_exp1_and_the_test_has_power() {
    // On the Vilar oscillator a₀ changes at every event; τ·a₀ (a₀ of the state the time was
    // drawn in) must be Exp(1) whatever the state.
    let n = 20_000;
    let mut g = Gillespie::new(Network::vilar(), rng_for(5, 0, 0));
    let mut scaled = Vec::with_capacity(n);
    while scaled.len() < n {
        let a0: f64 = g.propensities().iter().sum();
        match g.step_until(f64::INFINITY, |_, _| {}) {
            Step::Fired { dt, .. } => scaled.push(dt * a0),
            other => panic!("the vilar oscillator never stops, got {other:?}"),
        }
    }
    // Asymptotic Kolmogorov critical value at α = 0.01: 1.628 / √n ≈ 0.0115.
    let critical = 1.628 / (n as f64).sqrt();
    let d = ks_against_exp1(&scaled);
    eprintln!("KS D = {d:.5}, critical {critical:.5}");
    assert!(
        d < critical,
        "τ·a₀ is not Exp(1): D = {d:.5} ≥ {critical:.5}"
    );

    // Power: the same test on the same draws rejects a 10 % error in the rate (D ≈ 0.035
    // expected) and a uniform law of the same mean.
    let slow: Vec<f64> = scaled.iter().map(|x| x * 1.1).collect();
    let d_slow = ks_against_exp1(&slow);
    assert!(d_slow > critical, "missed τ·a₀·1.1: D = {d_slow:.5}");
    let fast: Vec<f64> = scaled.iter().map(|x| x / 1.1).collect();
    let d_fast = ks_against_exp1(&fast);
    assert!(d_fast > critical, "missed τ·a₀/1.1: D = {d_fast:.5}");
    // Exp(1) through its own CDF is uniform on (0, 1); twice that is uniform of mean 1.
    let uniform: Vec<f64> = scaled.iter().map(|x| 2.0 * (1.0 - (-x).exp())).collect();
    let d_uniform = ks_against_exp1(&uniform);
    assert!(
        d_uniform > critical,
        "missed a uniform law: D = {d_uniform:.5}"
    );
}

/// Fixed propensities; firing changes nothing.
struct Fixed(Vec<f64>);

impl Model for Fixed {
    fn channels(&self) -> usize {
        self.0.len()
    }

    fn propensities(&self, out: &mut [f64]) {
        out.copy_from_slice(&self.0);
    }

    fn fire(&mut self, _channel: usize, _t: f64, _rng: &mut SimRng, _props: &mut [f64]) {}
}

#[test]
fn channels_fire_in_proportion_to_their_propensities() {
    let props = vec![1.0, 0.0, 2.0, 3.0, 0.0, 0.5];
    let a0: f64 = props.iter().sum();
    let n = 60_000;
    let mut g = Gillespie::new(Fixed(props.clone()), rng_for(6, 0, 0));
    let mut counts = vec![0u64; props.len()];
    for _ in 0..n {
        match g.step_until(f64::INFINITY, |_, _| {}) {
            Step::Fired { channel, .. } => counts[channel] += 1,
            other => panic!("fixed positive propensities never stop, got {other:?}"),
        }
    }
    assert_eq!(
        (counts[1], counts[4]),
        (0, 0),
        "a zero channel fired: {counts:?}"
    );
    // Pearson's χ² over the 4 positive channels (3 degrees of freedom); the 0.001 critical
    // value is 16.27. An off-by-one or a bias of 3 % on one channel exceeds it.
    let chi2: f64 = props
        .iter()
        .zip(&counts)
        .filter(|&(&p, _)| p > 0.0)
        .map(|(&p, &c)| {
            let expected = n as f64 * p / a0;
            (c as f64 - expected).powi(2) / expected
        })
        .sum();
    assert!(chi2 < 16.27, "χ² = {chi2:.2} for counts {counts:?}");
}

/// The first `steps` events of a Vilar run: channel, holding time (bits) and final state.
fn vilar_trajectory(rng: SimRng, steps: usize) -> (Vec<(usize, u64)>, Vec<i64>) {
    let mut g = Gillespie::new(Network::vilar(), rng);
    let mut events = Vec::with_capacity(steps);
    for _ in 0..steps {
        match g.step_until(f64::INFINITY, |_, _| {}) {
            Step::Fired { channel, dt } => events.push((channel, dt.to_bits())),
            other => panic!("the vilar oscillator never stops, got {other:?}"),
        }
    }
    (events, g.model.counts().to_vec())
}

#[test]
fn same_seed_same_trajectory_other_runs_other_trajectories() {
    let steps = 5_000;
    let reference = vilar_trajectory(rng_for(42, 0, 0), steps);
    assert_eq!(reference, vilar_trajectory(rng_for(42, 0, 0), steps));
    for other in [rng_for(42, 0, 1), rng_for(42, 1, 0), rng_for(43, 0, 0)] {
        let (events, _) = vilar_trajectory(other, steps);
        assert_ne!(events, reference.0);
    }
}

#[test]
fn stopping_at_horizons_does_not_change_the_time_average() {
    // Memorylessness: observing at every whole time unit (a fresh draw after each stop)
    // gives the same stationary mean as one long stretch.
    let net = Network::new(&[("n", 10)])
        .unwrap()
        .reaction(10.0, &[], &[("n", 1)])
        .unwrap()
        .reaction(1.0, &[("n", 1)], &[("n", -1)])
        .unwrap();
    let (observed, runs) = (200u32, 60);
    let mut means = Vec::new();
    for run in 0..runs {
        let mut g = Gillespie::new(net.clone(), rng_for(7, 0, run));
        g.run_until(10.0, |_, _| {});
        let mut area = 0.0;
        for t in 1..=observed {
            // Small stops (0.1) each time unit, as a sampling loop would make.
            for stop in 1..=10 {
                let horizon = 10.0 + f64::from(t - 1) + f64::from(stop) / 10.0;
                g.run_until(horizon, |m, dt| area += m.count(0) as f64 * dt);
                assert_eq!(g.t, horizon);
            }
        }
        means.push(area / f64::from(observed));
    }
    Estimate::of(&means).check(10.0, 0.03, "mean with frequent horizons");
}
