//! Mass-action reaction networks defined at run time: species counts, reactions with a
//! rate constant, reactant orders and net changes, fired incrementally through a
//! dependency graph. They are the engine's reference models (checked against analytic
//! results in `tests/engine.rs`, timed against rebop in `benches/engine.rs`).
//!
//! Propensities follow the combinatorial form of mass action (Gillespie 1976): a
//! reaction of rate constant `k` with reactant orders `νₛ` has propensity
//! `k · Πₛ C(nₛ, νₛ)`, the number of distinct reactant combinations times `k`. So `A` gives
//! `k·A`, `A + B` gives `k·A·B` and `2 A` gives `k·A·(A−1)/2`. (Some tools, rebop among
//! them, drop the `1/νₛ!`; their `k` for a `2 A` reaction is half of ours.)

use crate::engine::{Model, SimRng};

/// Why a network definition was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum NetworkError {
    /// Two species share a name.
    #[error("species {name:?} is declared twice; give each species one name")]
    DuplicateSpecies {
        /// The name declared twice.
        name: String,
    },
    /// An initial count below zero.
    #[error("species {name:?} starts at {count}; counts must be zero or more")]
    NegativeCount {
        /// The species.
        name: String,
        /// Its initial count as given.
        count: i64,
    },
    /// A reaction names a species that was not declared.
    #[error("reaction {reaction} names unknown species {name:?}; declare it in Network::new")]
    UnknownSpecies {
        /// The index the reaction would have had (the reactions added before it).
        reaction: usize,
        /// The unknown name.
        name: String,
    },
    /// A rate constant that is negative, infinite or NaN.
    #[error("reaction {reaction} has rate constant {rate}; it must be finite and zero or more")]
    InvalidRate {
        /// The index the reaction would have had.
        reaction: usize,
        /// The rate constant as given.
        rate: f64,
    },
    /// A reactant listed with order 0.
    #[error("reaction {reaction} lists reactant {name:?} with order 0; leave it out instead")]
    ZeroOrder {
        /// The index the reaction would have had.
        reaction: usize,
        /// The reactant.
        name: String,
    },
    /// A species listed twice among the reactants, or twice among the changes.
    #[error("reaction {reaction} lists species {name:?} twice; give its total once")]
    RepeatedSpecies {
        /// The index the reaction would have had.
        reaction: usize,
        /// The species listed twice.
        name: String,
    },
    /// A reaction that removes more of a species than it takes as reactant, which could
    /// drive the count below zero.
    #[error(
        "reaction {reaction} removes {removes} of species {name:?} but takes only {order} as \
         reactant; its count could go below zero"
    )]
    RemovesMoreThanReactants {
        /// The index the reaction would have had.
        reaction: usize,
        /// The species.
        name: String,
        /// How many the reaction removes.
        removes: i64,
        /// Its order as reactant (0 if it is not one).
        order: u32,
    },
}

/// How a reaction's propensity follows from the counts. Copied into the dependency lists,
/// so firing finds everything it recomputes in one place.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Law {
    /// The rate constant divided by `Πₛ νₛ!`, so the propensity is this times the falling
    /// factorials of the counts.
    scale: f64,
    /// For a total order of at most 2 (nearly every reaction in practice): the propensity
    /// is `scale · (n[s₁] − o₁) · (n[s₂] − o₂)`, with the slots `(s, o)` padded with
    /// `(ONE, 0)`, `ONE` a pseudo-species after the real ones whose count is always 1. `A` is
    /// `[(A, 0), (ONE, 0)]`, `A + B` is `[(A, 0), (B, 0)]`, `2 A` is `[(A, 0), (A, 1)]`. It
    /// spares the hot path a loop and its branches.
    slots: [(usize, i64); 2],
    /// Total order above 2: `slots` is unused, the propensity takes the general loop over
    /// the reaction's reactants.
    general: bool,
}

/// What firing a reaction does, in one place for the hot path.
#[derive(Debug, Clone)]
struct Firing {
    /// `(species, net change)`, zero changes left out.
    changes: Vec<(usize, i64)>,
    /// The reactions whose propensity firing can change (those with a reactant it
    /// changes), ascending, each once, with their laws.
    dependents: Vec<(usize, Law)>,
}

/// The constants of one reaction, as given, and its propensity law.
#[derive(Debug, Clone)]
struct Reaction {
    /// The rate constant `k`, as given.
    rate: f64,
    law: Law,
    /// `reactants[reactants_at.0..reactants_at.1]`.
    reactants_at: (usize, usize),
}

/// A mass-action reaction network and its current species counts; a [`Model`] whose
/// channels are its reactions, in the order they were added.
///
/// ```
/// use masa_simulate::network::Network;
/// let sir = Network::new(&[("S", 999), ("I", 1), ("R", 0)])?
///     .reaction(1e-4, &[("S", 1), ("I", 1)], &[("S", -1), ("I", 1)])?
///     .reaction(0.01, &[("I", 1)], &[("I", -1), ("R", 1)])?;
/// assert_eq!(sir.count_of("S"), Some(999));
/// # Ok::<(), masa_simulate::network::NetworkError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Network {
    names: Vec<String>,
    /// The species' counts, then one more, always 1 (the `ONE` of `Law::slots`).
    counts: Vec<i64>,
    reactions: Vec<Reaction>,
    /// `(species, order)` of every reaction's reactants, reaction after reaction.
    reactants: Vec<(usize, u32)>,
    /// For each reaction, what firing it does.
    firing: Vec<Firing>,
    /// For each species, the reactions that take it as reactant.
    readers: Vec<Vec<usize>>,
    /// For each species, the reactions that change its count.
    changers: Vec<Vec<usize>>,
}

impl Network {
    /// A network of the given species (name, initial count) and no reactions yet.
    pub fn new(species: &[(&str, i64)]) -> Result<Network, NetworkError> {
        let mut names: Vec<String> = Vec::with_capacity(species.len());
        let mut counts = Vec::with_capacity(species.len());
        for &(name, count) in species {
            if names.iter().any(|n| n == name) {
                return Err(NetworkError::DuplicateSpecies { name: name.into() });
            }
            if count < 0 {
                return Err(NetworkError::NegativeCount {
                    name: name.into(),
                    count,
                });
            }
            names.push(name.into());
            counts.push(count);
        }
        // The `ONE` pseudo-species, at index `names.len()`.
        counts.push(1);
        Ok(Network {
            readers: vec![Vec::new(); names.len()],
            changers: vec![Vec::new(); names.len()],
            names,
            counts,
            reactions: Vec::new(),
            reactants: Vec::new(),
            firing: Vec::new(),
        })
    }

    /// Adds a reaction of rate constant `rate` (see the module documentation for the
    /// propensity), reactants `(species, order)` and net changes `(species, change)`.
    ///
    /// A catalyst is a reactant without a change (`DA → DA + MA` is reactants `[("DA", 1)]`,
    /// changes `[("MA", 1)]`). A reaction may not remove more of a species than its order
    /// as reactant, so counts never go below zero.
    pub fn reaction(
        mut self,
        rate: f64,
        reactants: &[(&str, u32)],
        changes: &[(&str, i64)],
    ) -> Result<Network, NetworkError> {
        let r = self.reactions.len();
        if !(rate.is_finite() && rate >= 0.0) {
            return Err(NetworkError::InvalidRate { reaction: r, rate });
        }
        let mut ins: Vec<(usize, u32)> = Vec::with_capacity(reactants.len());
        let mut scale = rate;
        for &(name, order) in reactants {
            let s = self.lookup(r, name)?;
            if order == 0 {
                return Err(NetworkError::ZeroOrder {
                    reaction: r,
                    name: name.into(),
                });
            }
            if ins.iter().any(|&(t, _)| t == s) {
                return Err(NetworkError::RepeatedSpecies {
                    reaction: r,
                    name: name.into(),
                });
            }
            for i in 2..=order {
                scale /= f64::from(i);
            }
            ins.push((s, order));
        }
        let mut outs: Vec<(usize, i64)> = Vec::with_capacity(changes.len());
        let mut listed: Vec<usize> = Vec::with_capacity(changes.len());
        for &(name, change) in changes {
            let s = self.lookup(r, name)?;
            if listed.contains(&s) {
                return Err(NetworkError::RepeatedSpecies {
                    reaction: r,
                    name: name.into(),
                });
            }
            listed.push(s);
            let order = ins.iter().find(|&&(t, _)| t == s).map_or(0, |&(_, o)| o);
            if change < -i64::from(order) {
                return Err(NetworkError::RemovesMoreThanReactants {
                    reaction: r,
                    name: name.into(),
                    removes: -change,
                    order,
                });
            }
            if change != 0 {
                outs.push((s, change));
            }
        }

        let one = self.names.len();
        let mut slots = [(one, 0); 2];
        let mut filled = 0;
        for &(s, order) in &ins {
            for o in 0..i64::from(order) {
                if filled < 2 {
                    slots[filled] = (s, o);
                }
                filled += 1;
            }
        }
        let law = Law {
            scale,
            slots,
            general: filled > 2,
        };

        // The dependency graph, kept up to date as reactions arrive: `r` depends on the
        // reactions that change one of its reactants, and its own dependents are the
        // readers of the species it changes (itself included, as it is already a reader).
        for &(s, _) in &ins {
            self.readers[s].push(r);
        }
        for &(s, _) in &outs {
            self.changers[s].push(r);
        }
        let mut own: Vec<usize> = outs
            .iter()
            .flat_map(|&(s, _)| self.readers[s].iter().copied())
            .collect();
        own.sort_unstable();
        own.dedup();
        let own = own
            .into_iter()
            .map(|q| (q, if q == r { law } else { self.reactions[q].law }))
            .collect();
        self.firing.push(Firing {
            changes: outs,
            dependents: own,
        });
        for &(s, _) in &ins {
            for &q in &self.changers[s] {
                // `r` is the newest reaction, so pushing it keeps each list ascending, and
                // checking the last entry is enough to keep it unique.
                let dependents = &mut self.firing[q].dependents;
                if q != r && dependents.last().map(|&(d, _)| d) != Some(r) {
                    dependents.push((r, law));
                }
            }
        }

        let reactants_at = (self.reactants.len(), self.reactants.len() + ins.len());
        self.reactants.extend(ins);
        self.reactions.push(Reaction {
            rate,
            law,
            reactants_at,
        });
        Ok(self)
    }

    /// The Vilar oscillator (Vilar, Kueh, Barkai and Leibler, "Mechanisms of
    /// noise-resistance in genetic oscillators", PNAS 99, 2002): an activator `A` and a
    /// repressor `R`, each transcribed from a gene (`DA`, `DR`) that `A` binds (`DA'`,
    /// `DR'`) to speed up transcription, and `A` sequestered by `R` into a complex `C`.
    ///
    /// 9 species in the order `DA, DR, DA', DR', MA, MR, A, R, C`, all at 0 but `DA` and
    /// `DR` at 1; 16 reactions with the paper's parameters: αA = 50, αA' = 500,
    /// αR = 0.01, αR' = 50, βA = 50, βR = 5, δMA = 10, δMR = 0.5, δA = 1, δR = 0.2, γA = 1,
    /// γR = 1, γC = 2, θA = 50, θR = 100. All reactions are first order or between two
    /// distinct species, so the `1/ν!` convention does not matter here.
    pub fn vilar() -> Network {
        let (alpha_a, alpha_a_p, alpha_r, alpha_r_p) = (50.0, 500.0, 0.01, 50.0);
        let (beta_a, beta_r) = (50.0, 5.0);
        let (delta_ma, delta_mr, delta_a, delta_r) = (10.0, 0.5, 1.0, 0.2);
        let (gamma_a, gamma_r, gamma_c) = (1.0, 1.0, 2.0);
        let (theta_a, theta_r) = (50.0, 100.0);
        let build = || {
            Network::new(&[
                ("DA", 1),
                ("DR", 1),
                ("DA'", 0),
                ("DR'", 0),
                ("MA", 0),
                ("MR", 0),
                ("A", 0),
                ("R", 0),
                ("C", 0),
            ])?
            // A binds and leaves the genes.
            .reaction(
                gamma_a,
                &[("DA", 1), ("A", 1)],
                &[("DA", -1), ("A", -1), ("DA'", 1)],
            )?
            .reaction(theta_a, &[("DA'", 1)], &[("DA'", -1), ("DA", 1), ("A", 1)])?
            .reaction(
                gamma_r,
                &[("DR", 1), ("A", 1)],
                &[("DR", -1), ("A", -1), ("DR'", 1)],
            )?
            .reaction(theta_r, &[("DR'", 1)], &[("DR'", -1), ("DR", 1), ("A", 1)])?
            // Transcription, faster from the bound genes.
            .reaction(alpha_a_p, &[("DA'", 1)], &[("MA", 1)])?
            .reaction(alpha_a, &[("DA", 1)], &[("MA", 1)])?
            .reaction(alpha_r_p, &[("DR'", 1)], &[("MR", 1)])?
            .reaction(alpha_r, &[("DR", 1)], &[("MR", 1)])?
            // Translation.
            .reaction(beta_a, &[("MA", 1)], &[("A", 1)])?
            .reaction(beta_r, &[("MR", 1)], &[("R", 1)])?
            // Sequestration of A by R, and A's decay inside the complex.
            .reaction(
                gamma_c,
                &[("A", 1), ("R", 1)],
                &[("A", -1), ("R", -1), ("C", 1)],
            )?
            .reaction(delta_a, &[("C", 1)], &[("C", -1), ("R", 1)])?
            // Decay.
            .reaction(delta_a, &[("A", 1)], &[("A", -1)])?
            .reaction(delta_r, &[("R", 1)], &[("R", -1)])?
            .reaction(delta_ma, &[("MA", 1)], &[("MA", -1)])?
            .reaction(delta_mr, &[("MR", 1)], &[("MR", -1)])
        };
        // The definition above is fixed and checked by `vilar_is_the_published_network`.
        build().expect("the vilar network is well-formed")
    }

    /// The number of species.
    pub fn species(&self) -> usize {
        self.names.len()
    }

    /// The number of reactions (the model's channels).
    pub fn reactions(&self) -> usize {
        self.reactions.len()
    }

    /// The name of species `index`.
    pub fn name(&self, index: usize) -> &str {
        &self.names[index]
    }

    /// The index of the species called `name`.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n == name)
    }

    /// The current count of species `index`.
    pub fn count(&self, index: usize) -> i64 {
        self.counts()[index]
    }

    /// The current count of the species called `name`.
    pub fn count_of(&self, name: &str) -> Option<i64> {
        self.index_of(name).map(|i| self.counts[i])
    }

    /// Every species' current count, in declaration order.
    pub fn counts(&self) -> &[i64] {
        &self.counts[..self.names.len()]
    }

    /// The rate constant of reaction `r`, as given to [`Network::reaction`].
    pub fn rate(&self, r: usize) -> f64 {
        self.reactions[r].rate
    }

    /// The reactants of reaction `r`: `(species index, order)`, as given.
    pub fn reactants(&self, r: usize) -> &[(usize, u32)] {
        let (from, to) = self.reactions[r].reactants_at;
        &self.reactants[from..to]
    }

    /// The net changes of reaction `r`: `(species index, change)`, as given but without
    /// zero changes.
    pub fn changes(&self, r: usize) -> &[(usize, i64)] {
        &self.firing[r].changes
    }

    /// The propensity of reaction `r` in the current state (a zero may come out as −0.0).
    pub fn propensity(&self, r: usize) -> f64 {
        self.propensity_of(r, &self.reactions[r].law)
    }

    // Inlined into `fire`, the loop of the general case kept out of line: this is the hot
    // path (measurably faster on the Vilar benchmark than letting the compiler choose).
    #[inline(always)]
    fn propensity_of(&self, r: usize, law: &Law) -> f64 {
        if !law.general {
            let [(s1, o1), (s2, o2)] = law.slots;
            // Only `2 A` at `A = 0` has a factor below zero (0 · (0 − 1)), and the product
            // is then −0.0: a zero propensity all the same, without a clamp on the hot path.
            let f1 = (self.counts[s1] - o1) as f64;
            let f2 = (self.counts[s2] - o2) as f64;
            return law.scale * f1 * f2;
        }
        self.propensity_by_loop(r)
    }

    /// The propensity of reaction `r` by the general loop over its reactants, for any
    /// order.
    #[inline(never)]
    fn propensity_by_loop(&self, r: usize) -> f64 {
        let rx = &self.reactions[r];
        let mut a = rx.law.scale;
        for &(s, order) in &self.reactants[rx.reactants_at.0..rx.reactants_at.1] {
            let n = self.counts[s];
            // n(n−1)…(n−ν+1), zero once a factor reaches zero (counts are never negative).
            a *= n as f64;
            for i in 1..i64::from(order) {
                a *= (n - i).max(0) as f64;
            }
        }
        a
    }

    fn lookup(&self, reaction: usize, name: &str) -> Result<usize, NetworkError> {
        self.index_of(name)
            .ok_or_else(|| NetworkError::UnknownSpecies {
                reaction,
                name: name.into(),
            })
    }
}

impl Model for Network {
    fn channels(&self) -> usize {
        self.reactions.len()
    }

    fn propensities(&self, out: &mut [f64]) {
        for (r, (a, rx)) in out.iter_mut().zip(&self.reactions).enumerate() {
            *a = self.propensity_of(r, &rx.law);
        }
    }

    fn fire(&mut self, channel: usize, _t: f64, _rng: &mut SimRng, props: &mut [f64]) {
        let firing = &self.firing[channel];
        for &(s, change) in &firing.changes {
            self.counts[s] += change;
        }
        for (q, law) in &firing.dependents {
            props[*q] = self.propensity_of(*q, law);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Gillespie, Step, rng_for};

    #[test]
    fn second_order_in_one_species_counts_unordered_pairs() {
        let net = Network::new(&[("A", 10), ("B", 4)])
            .unwrap()
            .reaction(3.0, &[("A", 2)], &[("A", -2), ("B", 1)])
            .unwrap()
            .reaction(3.0, &[("A", 1), ("B", 1)], &[("B", -1)])
            .unwrap()
            .reaction(2.0, &[("B", 3)], &[])
            .unwrap()
            .reaction(0.5, &[], &[("A", 1)])
            .unwrap();
        // 3 · C(10, 2) = 3 · 10 · 9 / 2.
        assert_eq!(net.propensity(0), 135.0);
        assert_eq!(net.propensity(1), 120.0);
        // 2 · C(4, 3) = 2 · 4 · 3 · 2 / 6.
        assert_eq!(net.propensity(2), 8.0);
        // No reactants: the rate constant itself.
        assert_eq!(net.propensity(3), 0.5);
    }

    #[test]
    fn two_slot_shortcut_agrees_with_the_general_loop() {
        for (a, b) in [(0, 0), (1, 0), (2, 3), (7, 1)] {
            let net = Network::new(&[("A", a), ("B", b)])
                .unwrap()
                .reaction(0.7, &[], &[("A", 1)])
                .unwrap()
                .reaction(0.7, &[("A", 1)], &[("A", -1)])
                .unwrap()
                .reaction(0.7, &[("A", 1), ("B", 1)], &[("A", -1)])
                .unwrap()
                .reaction(0.7, &[("A", 2)], &[("A", -2)])
                .unwrap()
                .reaction(0.7, &[("B", 1), ("A", 1)], &[])
                .unwrap();
            for (r, rx) in net.reactions.iter().enumerate() {
                assert!(!rx.law.general);
                let by_loop = net.propensity_by_loop(r);
                assert_eq!(net.propensity_of(r, &rx.law), by_loop, "A = {a}, B = {b}");
            }
        }
    }

    #[test]
    fn too_few_molecules_for_the_order_gives_zero() {
        for (n, expected) in [(0, 0.0), (1, 0.0), (2, 1.0), (3, 3.0)] {
            let net = Network::new(&[("A", n)])
                .unwrap()
                .reaction(1.0, &[("A", 2)], &[("A", -2)])
                .unwrap();
            assert_eq!(net.propensity(0), expected, "A = {n}");
        }
    }

    #[test]
    fn bad_definitions_are_refused_with_the_input_named() {
        let net = || Network::new(&[("A", 1), ("B", 0)]).unwrap();
        assert_eq!(
            Network::new(&[("A", 1), ("A", 2)]).unwrap_err(),
            NetworkError::DuplicateSpecies { name: "A".into() }
        );
        assert_eq!(
            Network::new(&[("A", -1)]).unwrap_err(),
            NetworkError::NegativeCount {
                name: "A".into(),
                count: -1
            }
        );
        let err = net().reaction(1.0, &[("X", 1)], &[]).unwrap_err();
        assert_eq!(
            err,
            NetworkError::UnknownSpecies {
                reaction: 0,
                name: "X".into()
            }
        );
        assert_eq!(
            err.to_string(),
            "reaction 0 names unknown species \"X\"; declare it in Network::new"
        );
        let err = net()
            .reaction(1.0, &[("A", 1)], &[])
            .unwrap()
            .reaction(1.0, &[], &[("Y", 1)])
            .unwrap_err();
        assert_eq!(
            err,
            NetworkError::UnknownSpecies {
                reaction: 1,
                name: "Y".into()
            }
        );
        for rate in [-1.0, f64::NAN, f64::INFINITY] {
            let err = net().reaction(rate, &[("A", 1)], &[]).unwrap_err();
            assert!(matches!(err, NetworkError::InvalidRate { reaction: 0, .. }));
        }
        assert_eq!(
            net().reaction(1.0, &[("A", 0)], &[]).unwrap_err(),
            NetworkError::ZeroOrder {
                reaction: 0,
                name: "A".into()
            }
        );
        assert_eq!(
            net().reaction(1.0, &[("A", 1), ("A", 1)], &[]).unwrap_err(),
            NetworkError::RepeatedSpecies {
                reaction: 0,
                name: "A".into()
            }
        );
        assert_eq!(
            net()
                .reaction(1.0, &[("A", 1)], &[("B", 1), ("B", 1)])
                .unwrap_err(),
            NetworkError::RepeatedSpecies {
                reaction: 0,
                name: "B".into()
            }
        );
        assert_eq!(
            net().reaction(1.0, &[("A", 1)], &[("A", -2)]).unwrap_err(),
            NetworkError::RemovesMoreThanReactants {
                reaction: 0,
                name: "A".into(),
                removes: 2,
                order: 1
            }
        );
        assert!(matches!(
            net().reaction(1.0, &[("A", 1)], &[("B", -1)]),
            Err(NetworkError::RemovesMoreThanReactants { order: 0, .. })
        ));
        // Zero rates and zero changes are allowed.
        assert!(net().reaction(0.0, &[("A", 1)], &[("B", 0)]).is_ok());
    }

    #[test]
    fn vilar_is_the_published_network() {
        let v = Network::vilar();
        assert_eq!((v.species(), v.reactions()), (9, 16));
        assert_eq!(v.counts(), &[1, 1, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(v.count_of("DA"), Some(1));
        assert_eq!(v.count_of("DR'"), Some(0));
        assert_eq!(v.count_of("nope"), None);
        assert_eq!(v.name(6), "A");
        // In the initial state only the free genes' transcription can fire: αA and αR.
        let mut props = vec![0.0; 16];
        v.propensities(&mut props);
        let expected = [
            0.0, 0.0, 0.0, 0.0, 0.0, 50.0, 0.0, 0.01, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
        ];
        assert_eq!(props, expected);
    }

    /// The dependents of `r` by brute force: every reaction with a reactant `r` changes.
    fn dependents_by_definition(net: &Network, r: usize) -> Vec<usize> {
        let changed: Vec<usize> = net.changes(r).iter().map(|&(s, _)| s).collect();
        (0..net.reactions())
            .filter(|&q| {
                let (from, to) = net.reactions[q].reactants_at;
                net.reactants[from..to]
                    .iter()
                    .any(|(s, _)| changed.contains(s))
            })
            .collect()
    }

    #[test]
    fn dependency_graph_is_exactly_the_reactions_reading_a_changed_species() {
        /// The dependents of `r` as kept, each law checked against its reaction's.
        fn kept(net: &Network, r: usize) -> Vec<usize> {
            net.firing[r]
                .dependents
                .iter()
                .map(|&(q, law)| {
                    assert_eq!(law, net.reactions[q].law, "law of {q} among {r}'s");
                    q
                })
                .collect()
        }
        // Reactions arrive in an order where later ones read species earlier ones change,
        // and the reverse, with catalysts and a zero change.
        let net = Network::new(&[("A", 5), ("B", 5), ("C", 5)])
            .unwrap()
            .reaction(1.0, &[("A", 1)], &[("B", 1)])
            .unwrap()
            .reaction(1.0, &[("B", 1), ("C", 1)], &[("B", -1), ("C", 0)])
            .unwrap()
            .reaction(1.0, &[], &[("A", 1), ("C", 1)])
            .unwrap()
            .reaction(1.0, &[("C", 2), ("A", 1)], &[("C", -1)])
            .unwrap();
        for r in 0..net.reactions() {
            assert_eq!(kept(&net, r), dependents_by_definition(&net, r), "r = {r}");
        }
        assert_eq!(kept(&net, 0), vec![1]);
        assert_eq!(kept(&net, 2), vec![0, 1, 3]);
        let v = Network::vilar();
        for r in 0..v.reactions() {
            assert_eq!(
                kept(&v, r),
                dependents_by_definition(&v, r),
                "vilar r = {r}"
            );
        }
    }

    #[test]
    fn incremental_propensities_equal_a_full_recompute_after_every_event() {
        let mut g = Gillespie::new(Network::vilar(), rng_for(13, 0, 0));
        let reactions = g.model.reactions();
        let mut full = vec![0.0; reactions];
        let mut tried = vec![false; reactions];
        let mut rng = rng_for(13, 1, 0);
        for step in 0..5000 {
            if step % 50 == 0 {
                // Some reactions are rare along a run (αR = 0.01), so also fire, on a copy,
                // every reaction that could fire in this state.
                for (r, tried) in tried.iter_mut().enumerate() {
                    if g.propensities()[r] > 0.0 {
                        let mut net = g.model.clone();
                        let mut props = g.propensities().to_vec();
                        net.fire(r, g.t, &mut rng, &mut props);
                        net.propensities(&mut full);
                        assert_eq!(props, full, "firing {r} at step {step}");
                        *tried = true;
                    }
                }
            }
            let fired = g.step_until(f64::INFINITY, |_, _| {});
            assert!(matches!(fired, Step::Fired { .. }), "got {fired:?}");
            g.model.propensities(&mut full);
            assert_eq!(g.propensities(), &full[..], "after step {step}");
        }
        assert!(tried.iter().all(|&t| t), "tried: {tried:?}");
        assert!(g.model.counts().iter().all(|&n| n >= 0));
    }
}
