//! The order in which one round visits the servers.
//!
//! Why not the same order every round: a fluxlive round that runs right
//! after another fluxlive round is slower than one that runs right after
//! the echo round, whatever either does. Measured with both servers
//! recording off (an A/A run, 2026-12-06, 100 × 8, 6 rounds of 2 s): the
//! second one came out 3.1 % slower on average over 18 runs with the
//! order fixed (echo, off, on), and 0.0 % over 8 runs with the two
//! fluxlive servers swapping places every other round. So every odd round
//! runs the fluxlive servers in reverse (echo, off, on / echo, on, off):
//! over an even number of rounds each of them follows the echo round, and
//! follows the other, equally often.

use crate::servers::Target;

/// Indices into `targets` in the order round `round` runs them.
pub(crate) fn order(targets: &[Target], round: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..targets.len()).collect();
    if round % 2 == 1 {
        let live: Vec<usize> = order
            .iter()
            .copied()
            .filter(|&i| is_live(targets, i))
            .collect();
        let mut reversed = live.into_iter().rev();
        for slot in order.iter_mut() {
            if is_live(targets, *slot) {
                if let Some(i) = reversed.next() {
                    *slot = i;
                }
            }
        }
    }
    order
}

fn is_live(targets: &[Target], i: usize) -> bool {
    targets.get(i).is_some_and(|t| t.is_live())
}

/// `--rounds` rounded up to an even number, so that each fluxlive server
/// runs first as often as the other.
pub(crate) fn balanced(rounds: usize) -> usize {
    rounds + rounds % 2
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn baselines_keep_their_place_and_live_servers_take_turns() {
        let t = [Target::Echo, Target::Echo3, Target::LiveOff, Target::LiveOn];
        assert_eq!(order(&t, 0), vec![0, 1, 2, 3]);
        assert_eq!(order(&t, 1), vec![0, 1, 3, 2]);
        assert_eq!(order(&t, 2), vec![0, 1, 2, 3]);
    }

    #[test]
    fn over_an_even_number_of_rounds_off_and_on_follow_the_echo_round_equally_often() {
        let t = [Target::Echo, Target::LiveOff, Target::LiveOn];
        let rounds = balanced(5);
        assert_eq!(rounds, 6);
        let mut after_echo: HashMap<usize, usize> = HashMap::new();
        let mut prev = None;
        for round in 0..rounds {
            for i in order(&t, round) {
                if prev == Some(0) {
                    *after_echo.entry(i).or_default() += 1;
                }
                prev = Some(i);
            }
        }
        assert_eq!(after_echo.get(&1), Some(&(rounds / 2)));
        assert_eq!(after_echo.get(&2), Some(&(rounds / 2)));
    }
}
