//! The exact stochastic simulation of a continuous-time Markov chain: Gillespie's direct
//! method. A [`Model`] names its reaction channels and their propensities (rates); the
//! [`Gillespie`] engine draws the time to the next event from Exp(a₀), a₀ the sum of the
//! propensities, and which channel fires with probability aᵢ / a₀, then lets the model fire
//! it and update the propensities it changed.
//!
//! Channels are aggregated by the model (for the protocol: "some honest contributor
//! contributes" at rate `n × λ`), so a model with thousands of agents still has tens of
//! channels and the linear search over them stays cheap.

use rand::{RngExt, SeedableRng};

/// The random number generator of every simulation: PCG-64 (MCG variant), a fixed
/// algorithm, so a seed means the same run on every machine and every version of `rand`.
pub type SimRng = rand_pcg::Pcg64Mcg;

/// The generator of run `run` at sweep point `point` of a simulation seeded with `seed`:
/// independent streams whatever order (or thread) the runs are computed in.
pub fn rng_for(seed: u64, point: u64, run: u64) -> SimRng {
    let mut x = seed;
    let mut mix = |v: u64| {
        // SplitMix64 over the three coordinates.
        x = x.wrapping_add(v).wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let a = mix(point);
    let b = mix(run);
    SimRng::seed_from_u64(a ^ b.rotate_left(17))
}

/// A continuous-time Markov chain, as reaction channels.
pub trait Model {
    /// The number of channels; fixed for the life of the model.
    fn channels(&self) -> usize;
    /// Writes every channel's propensity (≥ 0, finite) into `out`.
    fn propensities(&self, out: &mut [f64]);
    /// Fires channel `channel` at time `t` and rewrites the propensities it changed in
    /// `props` (at least those; rewriting all of them is correct, only slower).
    fn fire(&mut self, channel: usize, t: f64, rng: &mut SimRng, props: &mut [f64]);
}

/// Gillespie's direct method over a [`Model`].
#[derive(Debug)]
pub struct Gillespie<M> {
    pub model: M,
    pub rng: SimRng,
    /// The simulation time.
    pub t: f64,
    /// Events fired so far.
    pub events: u64,
    props: Vec<f64>,
}

/// What one step did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Step {
    /// `channel` fired at the (new) time.
    Fired { channel: usize, dt: f64 },
    /// The next event would come after the horizon: time is now the horizon, nothing fired.
    Horizon,
    /// Every propensity is zero: nothing can happen again (time is now the horizon).
    Absorbed,
}

impl<M: Model> Gillespie<M> {
    pub fn new(model: M, rng: SimRng) -> Gillespie<M> {
        let mut props = vec![0.0; model.channels()];
        model.propensities(&mut props);
        Gillespie {
            model,
            rng,
            t: 0.0,
            events: 0,
            props,
        }
    }

    /// The current propensities.
    pub fn propensities(&self) -> &[f64] {
        &self.props
    }

    /// Recomputes every propensity from the model (after the caller changed the model
    /// outside of [`Model::fire`]).
    pub fn refresh(&mut self) {
        self.model.propensities(&mut self.props);
    }

    /// Fires the next event if it comes at or before `horizon`, first calling `observe`
    /// with the model and how long its state held (up to the event, or to the horizon).
    ///
    /// Memorylessness makes stopping at the horizon exact: the chain resumes from there
    /// with a fresh draw.
    pub fn step_until(&mut self, horizon: f64, observe: impl FnOnce(&M, f64)) -> Step {
        let before = self.t;
        let a0 = total(&self.props);
        let dt = if a0 > 0.0 && a0.is_finite() {
            // Exp(1) by rand_distr's ziggurat: a table lookup and a comparison nearly every
            // time, where -ln(1 - u) costs a logarithm (a tenth of a Vilar step).
            let e: f64 = self.rng.sample(rand_distr::Exp1);
            e / a0
        } else {
            f64::INFINITY
        };
        if before + dt > horizon {
            observe(&self.model, horizon - before);
            self.t = horizon;
            return if dt.is_finite() {
                Step::Horizon
            } else {
                Step::Absorbed
            };
        }
        observe(&self.model, dt);
        let target = self.rng.random::<f64>() * a0;
        let channel = pick(&self.props, target);
        self.t = before + dt;
        self.events += 1;
        self.model
            .fire(channel, self.t, &mut self.rng, &mut self.props);
        Step::Fired { channel, dt }
    }

    /// Runs until `horizon` (or absorption), calling `observe` before each event with the
    /// model and how long its state held (for time averages).
    pub fn run_until(&mut self, horizon: f64, mut observe: impl FnMut(&M, f64)) {
        while let Step::Fired { .. } = self.step_until(horizon, &mut observe) {}
    }
}

/// The sum of the propensities, a₀, in four interleaved lanes: each step's additions form
/// a dependency chain a quarter as long as a plain left-to-right sum's, which was a fifth
/// of a Vilar step. It can differ from the plain sum (and from [`pick`]'s running sum) in
/// the last bits; `pick` already handles a target at or above its own total.
fn total(props: &[f64]) -> f64 {
    let mut lanes = [0.0; 4];
    let mut chunks = props.chunks_exact(4);
    for c in &mut chunks {
        for (l, p) in lanes.iter_mut().zip(c) {
            *l += p;
        }
    }
    let rest: f64 = chunks.remainder().iter().sum();
    (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]) + rest
}

/// The channel whose cumulative propensity first exceeds `target` (the last positive one
/// when rounding leaves `target` at the very top).
fn pick(props: &[f64], target: f64) -> usize {
    let mut acc = 0.0;
    let mut last = 0;
    for (i, p) in props.iter().enumerate() {
        if *p > 0.0 {
            acc += p;
            last = i;
            if target < acc {
                return i;
            }
        }
    }
    last
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pick_follows_cumulative_propensities_and_skips_zero_channels() {
        let p = [0.0, 1.0, 0.0, 2.0, 0.0];
        assert_eq!(pick(&p, 0.0), 1);
        assert_eq!(pick(&p, 0.999), 1);
        assert_eq!(pick(&p, 1.0), 3);
        assert_eq!(pick(&p, 2.999), 3);
        // Rounding at the top never picks a zero channel.
        assert_eq!(pick(&p, 3.0), 3);
    }

    #[test]
    fn total_is_the_sum_for_every_length() {
        for n in 0..12 {
            // Whole numbers: every order of addition gives the exact sum.
            let props: Vec<f64> = (1..=n).map(f64::from).collect();
            assert_eq!(total(&props), f64::from(n * (n + 1) / 2), "n = {n}");
        }
        let props = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7];
        assert!((total(&props) - 2.8).abs() < 1e-15);
    }

    #[test]
    fn streams_differ_by_point_and_run() {
        let draw = |p, r| rng_for(7, p, r).random::<u64>();
        assert_eq!(draw(0, 0), draw(0, 0));
        assert_ne!(draw(0, 0), draw(0, 1));
        assert_ne!(draw(0, 1), draw(1, 0));
    }
}
