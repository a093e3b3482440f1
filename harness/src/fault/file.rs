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

use super::corruption::Corruption;

pub(super) async fn corrupt(
    cluster: &Cluster,
    container: &Container,
    path: &str,
    corruption: Corruption,
    rng: &mut ChaCha8Rng,
) -> Result<(String, Option<String>)> {
    match corruption {
        Corruption::Delete => {
            cluster.resources().remove_file(container, path).await?;
            Ok((format!("deleted {path}"), None))
        }
        Corruption::FlipBits { count } => {
            let mut chosen = String::new();
            let detail = rewrite(container, path, |data| {
                let size = data.len();
                let offsets = flip_bits(data, count, rng)?;
                chosen = format!("bit offsets {offsets:?} of {size} bytes");
                Ok(format!(
                    "flipped {} bits of {path} ({size} bytes) at bit offsets {offsets:?}",
                    offsets.len()
                ))
            })
            .await?;
            Ok((detail, Some(chosen)))
        }
        Corruption::Zero { offset, len } => rewrite(container, path, |data| {
            let size = data.len() as u64;
            let end = offset.saturating_add(len).min(size);
            if offset >= size {
                return Err(format!("offset {offset} is past the end ({size} bytes)"));
            }
            data[offset as usize..end as usize].fill(0);
            Ok(format!("zeroed bytes {offset}..{end} of {path}"))
        })
        .await
        .map(|d| (d, None)),
        Corruption::Truncate { len } => rewrite(container, path, |data| {
            let size = data.len() as u64;
            let keep = len.min(size);
            data.truncate(keep as usize);
            Ok(format!("truncated {path} from {size} to {keep} bytes"))
        })
        .await
        .map(|d| (d, None)),
    }
}

/// Reads `path`, changes it with `edit` (which returns what it did, or why
/// it cannot) and writes it back.
async fn rewrite(
    container: &Container,
    path: &str,
    edit: impl FnOnce(&mut Vec<u8>) -> std::result::Result<String, String>,
) -> Result<String> {
    let mut data = container.read_file(path).await?;
    let detail = edit(&mut data)
        .map_err(|e| HarnessError::component(container.name(), format!("corrupt {path}: {e}")))?;
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
