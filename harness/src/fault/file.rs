//! File corruption on a component's volumes. The file is read and written
//! back through Docker's archive API, which works whether or not the
//! component runs; a running process that still holds the old file open keeps
//! reading the old inode, so scenarios corrupt a component while it is down
//! to model damage found at the next start.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::cluster::Cluster;
use crate::container::Container;
use crate::error::{HarnessError, Result};

use super::Corruption;

#[allow(clippy::too_many_arguments)]
pub(super) async fn corrupt(
    cluster: &Cluster,
    container: &Container,
    path: &str,
    mode: Corruption,
    count: Option<u32>,
    offset: Option<u64>,
    len: Option<u64>,
    rng: &mut ChaCha8Rng,
) -> Result<String> {
    if mode == Corruption::Delete {
        cluster.resources().remove_file(container, path).await?;
        return Ok(format!("deleted {path}"));
    }
    let mut data = container.read_file(path).await?;
    let size = data.len() as u64;
    let detail = match mode {
        Corruption::FlipBits => {
            let offsets = flip_bits(&mut data, count.unwrap_or(1), rng).map_err(|e| {
                HarnessError::component(container.name(), format!("corrupt {path}: {e}"))
            })?;
            format!(
                "flipped {} bits of {path} ({size} bytes) at bit offsets {offsets:?}",
                offsets.len()
            )
        }
        Corruption::Zero => {
            let (start, n) = (offset.unwrap_or(0), len.unwrap_or(0));
            let end = start.saturating_add(n).min(size);
            if start >= size {
                return Err(HarnessError::component(
                    container.name(),
                    format!("corrupt {path}: offset {start} is past the end ({size} bytes)"),
                ));
            }
            data[start as usize..end as usize].fill(0);
            format!("zeroed bytes {start}..{end} of {path}")
        }
        Corruption::Truncate => {
            let keep = len.unwrap_or(0).min(size);
            data.truncate(keep as usize);
            format!("truncated {path} from {size} to {keep} bytes")
        }
        Corruption::Delete => unreachable!("handled above"),
    };
    container.write_file(path, data).await?;
    Ok(detail)
}

/// Flips `count` distinct bits chosen by `rng`; returns the bit offsets, sorted.
pub(crate) fn flip_bits(
    data: &mut [u8],
    count: u32,
    rng: &mut ChaCha8Rng,
) -> std::result::Result<Vec<u64>, String> {
    let bits = data.len() as u64 * 8;
    if u64::from(count) > bits {
        return Err(format!(
            "cannot flip {count} bits of a {}-byte file",
            data.len()
        ));
    }
    let mut chosen = std::collections::BTreeSet::new();
    while chosen.len() < count as usize {
        chosen.insert(rng.random_range(0..bits));
    }
    for bit in &chosen {
        data[(bit / 8) as usize] ^= 1 << (bit % 8);
    }
    Ok(chosen.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn flips_are_seeded_distinct_and_exact() {
        let mut a = vec![0u8; 64];
        let mut b = vec![0u8; 64];
        let oa = flip_bits(&mut a, 10, &mut ChaCha8Rng::seed_from_u64(5)).expect("flip");
        let ob = flip_bits(&mut b, 10, &mut ChaCha8Rng::seed_from_u64(5)).expect("flip");
        assert_eq!(oa, ob);
        assert_eq!(a, b);
        let ones: u32 = a.iter().map(|x| x.count_ones()).sum();
        assert_eq!(ones, 10);
        assert!(flip_bits(&mut [0u8; 1], 9, &mut ChaCha8Rng::seed_from_u64(1)).is_err());
    }
}
