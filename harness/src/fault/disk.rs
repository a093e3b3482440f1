//! Disk full: a component whose datadir is a size-limited tmpfs
//! (`topology.disks`) gets that filesystem filled to the last block by one
//! file, which healing removes.

use crate::container::Container;
use crate::error::{HarnessError, Result};

/// The file that takes the space, in the datadir.
pub const FILL_FILE: &str = ".vls-chaos-fill";

pub(super) async fn fill(container: &Container, datadir: &str) -> Result<String> {
    let fill = format!("{datadir}/{FILL_FILE}");
    // dd stops at ENOSPC, which is the point; its exit status says so.
    let script = format!(
        "dd if=/dev/zero of={fill} bs=4096 2>/dev/null; sync; df -P -k {datadir} | tail -1"
    );
    let out = container.exec(&["sh", "-c", &script]).await?;
    let avail = df_available_kb(&out.stdout).ok_or_else(|| {
        HarnessError::component(
            container.name(),
            format!("disk_full: cannot read `df` output: {:?}", out.stdout),
        )
    })?;
    if avail != 0 {
        return Err(HarnessError::component(
            container.name(),
            format!("disk_full: {datadir} still has {avail} KiB free after filling"),
        ));
    }
    Ok(format!("{datadir} full (0 KiB free)"))
}

pub(super) async fn unfill(container: &Container, datadir: &str) -> Result<()> {
    container
        .exec(&["rm", "-f", &format!("{datadir}/{FILL_FILE}")])
        .await?
        .ok(container.name(), "disk_full heal: rm")?;
    Ok(())
}

/// The "Available" column of one `df -P -k` line.
pub(crate) fn df_available_kb(line: &str) -> Option<u64> {
    line.split_whitespace().nth(3)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_available_column() {
        assert_eq!(df_available_kb("tmpfs 8192 8192 0 100% /data\n"), Some(0));
        assert_eq!(df_available_kb("garbage"), None);
    }
}
