//! Images built once for a whole test run and handed to every test. The
//! nextest setup script (`prepare-images`, a binary of the scenarios
//! package) writes their tags into the file nextest names in `NEXTEST_ENV`;
//! each cluster of that run then takes them as they are instead of checking
//! the build again, which costs every test a cargo call under a
//! machine-wide lock.

use std::io::Write;

use bollard::Docker;

use super::{image_exists, Images};
use crate::error::{HarnessError, Result};

/// The variable that carries the tags: `base,vlsd,lnnode[,cln]`.
pub const IMAGES_ENV: &str = "VLS_CHAOS_IMAGES";

impl Images {
    fn to_env_value(&self) -> String {
        let mut value = format!("{},{},{}", self.base, self.vlsd, self.lnnode);
        if let Some(cln) = &self.cln {
            value.push(',');
            value.push_str(cln);
        }
        value
    }

    fn from_env_value(value: &str) -> std::result::Result<Images, String> {
        let tags: Vec<&str> = value.split(',').collect();
        match tags[..] {
            [base, vlsd, lnnode, ref cln @ ..] if cln.len() <= 1 && tags.iter().all(|t| !t.is_empty()) => {
                Ok(Images {
                    base: base.to_string(),
                    vlsd: vlsd.to_string(),
                    lnnode: lnnode.to_string(),
                    cln: cln.first().map(|c| c.to_string()),
                })
            }
            _ => Err(format!(
                "{IMAGES_ENV}={value:?}: expected three or four image tags, `base,vlsd,lnnode[,cln]`"
            )),
        }
    }
}

/// Under a nextest setup script, hands `images` to the tests that follow;
/// elsewhere does nothing. Returns whether it handed them over.
pub fn hand_to_tests(images: &Images) -> Result<bool> {
    let Some(path) = std::env::var_os("NEXTEST_ENV") else {
        return Ok(false);
    };
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .map_err(HarnessError::io(&path))?;
    writeln!(file, "{IMAGES_ENV}={}", images.to_env_value()).map_err(HarnessError::io(&path))?;
    Ok(true)
}

/// The images handed over by the run's setup, if any, once each is known
/// to exist (an image removed since is built again by the caller).
pub async fn handed_over(docker: &Docker) -> Result<Option<Images>> {
    let Ok(value) = std::env::var(IMAGES_ENV) else {
        return Ok(None);
    };
    let images =
        Images::from_env_value(&value).map_err(|e| HarnessError::component("images", e))?;
    for tag in images.tags() {
        if !image_exists(docker, tag).await? {
            tracing::warn!(image = %tag, "image handed over by the test setup is gone; checking the build");
            return Ok(None);
        }
    }
    Ok(Some(images))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_round_trip_and_bad_values_are_named() {
        let images = Images {
            base: "vls-chaos/base:1".to_string(),
            vlsd: "vls-chaos/vlsd:2".to_string(),
            lnnode: "vls-chaos/lnnode:3".to_string(),
            cln: None,
        };
        let value = images.to_env_value();
        assert_eq!(Images::from_env_value(&value), Ok(images.clone()));
        let with_cln = Images {
            cln: Some("vls-chaos/cln:4".to_string()),
            ..images
        };
        assert_eq!(
            Images::from_env_value(&with_cln.to_env_value()),
            Ok(with_cln)
        );
        let err = Images::from_env_value("a,b").expect_err("two tags");
        assert!(
            err.contains(IMAGES_ENV) && err.contains("base,vlsd,lnnode[,cln]"),
            "{err}"
        );
        assert!(Images::from_env_value("a,,c").is_err());
    }
}
