//! Random sequences of operations on a few paths, some sharing pages, in two
//! directories, with cuts and orderly stops in between: after every step the
//! program's view must match the model's, and after the final cut the disk
//! must hold exactly the layer's model and at least what POSIX promises.

use proptest::prelude::*;

use super::layer::{self, bytes_diff, diff, Layer};
use super::model::Model;
use super::pattern;
use crate::pages::PAGE;

const PATHS: [&str; 4] = ["a", "b", "d/a", "d/b"];
const DIRS: [&str; 2] = ["", "d"];

#[derive(Debug, Clone)]
enum Op {
    Create {
        path: usize,
        trunc: bool,
    },
    Write {
        path: usize,
        offset: u64,
        len: usize,
        seed: u8,
    },
    Truncate {
        path: usize,
        len: u64,
    },
    Fsync {
        path: usize,
    },
    Fsyncdir {
        dir: usize,
    },
    Unlink {
        path: usize,
    },
    Rename {
        from: usize,
        to: usize,
    },
    /// A cut in the middle of the run, then the layer mounted again.
    Cut,
    /// The program exits (everything written back), then a new mount.
    Stop,
}

/// Offsets and lengths near page boundaries more often than not.
fn offset() -> impl Strategy<Value = u64> {
    prop_oneof![
        (0..4 * PAGE),
        (0..4u64, 0..8u64).prop_map(|(page, d)| (page * PAGE + d).saturating_sub(4)),
    ]
}

fn length() -> impl Strategy<Value = u64> {
    prop_oneof![(0..16u64), (0..2 * PAGE + 16), Just(PAGE)]
}

fn op() -> impl Strategy<Value = Op> {
    let path = 0..PATHS.len();
    prop_oneof![
        2 => (path.clone(), any::<bool>()).prop_map(|(path, trunc)| Op::Create { path, trunc }),
        5 => (path.clone(), offset(), length(), any::<u8>()).prop_map(|(path, offset, len, seed)| {
            Op::Write { path, offset, len: len as usize, seed }
        }),
        2 => (path.clone(), length()).prop_map(|(path, len)| Op::Truncate { path, len }),
        4 => path.clone().prop_map(|path| Op::Fsync { path }),
        1 => (0..DIRS.len()).prop_map(|dir| Op::Fsyncdir { dir }),
        1 => path.clone().prop_map(|path| Op::Unlink { path }),
        2 => (path.clone(), path).prop_map(|(from, to)| Op::Rename { from, to }),
        1 => Just(Op::Cut),
        1 => Just(Op::Stop),
    ]
}

fn apply(l: &mut Layer, m: &mut Model, op: &Op) -> Result<(), TestCaseError> {
    let (got, want) = match *op {
        Op::Create { path, trunc } => {
            let flags = if trunc { libc::O_TRUNC } else { 0 };
            m.create(PATHS[path], trunc);
            (l.create_flags(PATHS[path], flags).map(drop), Ok(()))
        }
        Op::Write {
            path,
            offset,
            len,
            seed,
        } => {
            let bytes = pattern(seed, len);
            (
                l.try_write(PATHS[path], offset, &bytes),
                m.write(PATHS[path], offset, &bytes),
            )
        }
        Op::Truncate { path, len } => (
            l.try_truncate(PATHS[path], len),
            m.truncate(PATHS[path], len),
        ),
        Op::Fsync { path } => (l.try_fsync(PATHS[path]), m.fsync(PATHS[path])),
        Op::Fsyncdir { dir } => {
            l.fsyncdir(DIRS[dir]);
            m.fsyncdir(DIRS[dir]);
            (Ok(()), Ok(()))
        }
        Op::Unlink { path } => (l.try_unlink(PATHS[path]), m.unlink(PATHS[path])),
        Op::Rename { from, to } => (
            l.try_rename(PATHS[from], PATHS[to]),
            m.rename(PATHS[from], PATHS[to]),
        ),
        Op::Cut => {
            l.cut_and_remount();
            m.cut_and_remount();
            (Ok(()), Ok(()))
        }
        Op::Stop => {
            l.stop_and_remount();
            m.stop_and_remount();
            (Ok(()), Ok(()))
        }
    };
    prop_assert_eq!(got, want, "result of {:?}", op);
    for path in PATHS {
        let seen = match (l.read(path), m.live(path)) {
            (None, None) => None,
            (Some(got), Some(want)) => bytes_diff(&got, want),
            (got, _) => Some(format!("present: {}, want the opposite", got.is_some())),
        };
        if let Some(d) = seen {
            return Err(TestCaseError::fail(format!(
                "after {op:?}, the program's view of {path}: {d}"
            )));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn a_cut_leaves_exactly_the_model(ops in proptest::collection::vec(op(), 1..40)) {
        let start_a = pattern(1, PAGE as usize + 300);
        let start_db = pattern(2, 10);
        let initial: [(&str, &[u8]); 2] = [("a", &start_a), ("d/b", &start_db)];
        let mut l = Layer::over(&["d"], &initial);
        let mut m = Model::over(&initial);
        for op in &ops {
            apply(&mut l, &mut m, op)?;
        }
        let left = l.cut();
        let promised = m.promised();
        let kept: layer::Durable = left
            .iter()
            .filter(|(name, _)| promised.contains_key(*name))
            .map(|(n, b)| (n.clone(), b.clone()))
            .collect();
        if let Some(d) = diff(&kept, &promised) {
            return Err(TestCaseError::fail(format!("POSIX promised more: {d}")));
        }
        if let Some(d) = diff(&left, &m.durable()) {
            return Err(TestCaseError::fail(format!("after the cut: {d}")));
        }
    }
}
