//! The one pseudo-random generator of Mercado's synthetic data (the traffic generator, the raw
//! files of the benchmarks): xorshift64*, small, seedable, no dependency, and the same sequence on
//! every machine.

use chrono::{Datelike, NaiveDate};

/// xorshift64*. Same seed, same sequence.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed` (any value, 0 included: the seed is mixed and never leaves the
    /// state at zero).
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    /// A generator for `seed` on `date`: each day its own sequence.
    pub fn for_day(seed: u64, date: NaiveDate) -> Rng {
        Rng::new(seed ^ (date.num_days_from_ce() as u64).wrapping_mul(0xd1b5_4a32_d192_ed03))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform-ish in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// True for about `share` of the calls.
    pub fn chance(&mut self, share: f64) -> bool {
        (self.next_u64() % 1_000_000) < (share * 1_000_000.0) as u64
    }

    /// An index in `0..n` skewed to the front: a few items sell most.
    pub fn popular(&mut self, n: usize) -> usize {
        ((self.unit().powi(3)) * n as f64) as usize % n.max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sequence() {
        let mut a = Rng::new(7);
        let mut b = Rng::new(7);
        let xs: Vec<u64> = (0..5).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..5).map(|_| b.next_u64()).collect();
        assert_eq!(xs, ys);
        assert_ne!(Rng::new(8).next_u64(), xs[0]);
        let day = NaiveDate::from_ymd_opt(2025, 3, 17).expect("date");
        let next = day.succ_opt().expect("date");
        assert_ne!(
            Rng::for_day(7, day).next_u64(),
            Rng::for_day(7, next).next_u64()
        );
        let mut r = Rng::new(0);
        for _ in 0..1000 {
            assert!(r.below(10) < 10);
            assert_eq!(r.below(0), 0);
            let u = r.unit();
            assert!((0.0..1.0).contains(&u));
            assert!(r.popular(5) < 5);
        }
        assert!(!Rng::new(1).chance(0.0));
        assert!(Rng::new(1).chance(1.0));
    }
}
