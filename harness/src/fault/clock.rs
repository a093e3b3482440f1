//! Clock skew through libfaketime (Debian `faketime`). A component that a
//! scenario skews is started with the library preloaded and reading its
//! offset from a file; the fault rewrites that file. Monotonic clocks stay
//! real so timers and timeouts inside the component keep working.

use crate::contained::FAKETIME_FILE;
use crate::container::Container;
use crate::error::Result;

/// libfaketime's relative form: `+N` / `-N` seconds.
pub(crate) fn offset_spec(offset_secs: i64) -> String {
    format!("{offset_secs:+}\n")
}

pub(super) async fn set_offset(container: &Container, offset_secs: i64) -> Result<()> {
    let spec = offset_spec(offset_secs).into_bytes();
    if !container.status().await?.running {
        return container.write_file(FAKETIME_FILE, spec).await;
    }
    // Running processes read the file at any moment: give them the old
    // offset or the new one, never a half-written file.
    let staged = format!("{FAKETIME_FILE}.new");
    container.write_file(&staged, spec).await?;
    container
        .exec(&["mv", "-f", &staged, FAKETIME_FILE])
        .await?
        .ok(container.name(), "setting the clock offset: mv")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_are_signed_seconds() {
        assert_eq!(offset_spec(3600), "+3600\n");
        assert_eq!(offset_spec(-90), "-90\n");
        assert_eq!(offset_spec(0), "+0\n");
    }
}
