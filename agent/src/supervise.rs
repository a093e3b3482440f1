//! Runs the component on top of the buffering filesystem and decides what
//! is durable when it ends: an exit or a stop writes everything back (as a
//! kernel flushes its page cache), a SIGKILL of this process (power cut)
//! leaves only what was fsynced.

use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Command, ExitCode};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use fuser::MountOption;

use crate::crash_point::{CrashPoints, CONTROL_DIR};
use crate::fs::{BufferFs, Inner};

const FORWARDED: [libc::c_int; 4] = [libc::SIGTERM, libc::SIGINT, libc::SIGHUP, libc::SIGQUIT];

fn signal_set() -> libc::sigset_t {
    // SAFETY: sigemptyset/sigaddset only write the set we own.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in FORWARDED {
            libc::sigaddset(&mut set, s);
        }
        set
    }
}

fn fail(what: &str, e: impl std::fmt::Display) -> ExitCode {
    eprintln!("vls-chaos-agent: {what}: {e}");
    ExitCode::from(125)
}

pub fn run(lower: &Path, mount: &Path, pid_file: &Path, command: &[String]) -> ExitCode {
    let Some((program, args)) = command.split_first() else {
        return fail("fusebuf", "no command given after --");
    };
    if let Err(e) = std::fs::create_dir_all(lower) {
        return fail(&format!("creating {}", lower.display()), e);
    }
    if let Err(e) = std::fs::create_dir_all(mount) {
        return fail(&format!("creating {}", mount.display()), e);
    }
    // Block the signals we forward before any thread exists, so every thread
    // inherits the mask and only the waiter below sees them.
    let set = signal_set();
    // SAFETY: changes this thread's signal mask only.
    unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };

    let inner = Arc::new(Mutex::new(Inner::new(lower.to_path_buf())));
    let control = Path::new(CONTROL_DIR);
    CrashPoints::clear(control);
    let shutdown = Arc::new(AtomicBool::new(false));
    let points = CrashPoints::new(control.to_path_buf(), shutdown.clone());
    let options = [
        MountOption::FSName("vls-chaos-fusebuf".into()),
        MountOption::RW,
        MountOption::AllowOther,
    ];
    let session = match fuser::spawn_mount2(BufferFs::new(inner.clone(), points), mount, &options) {
        Ok(s) => s,
        Err(e) => return fail(&format!("mounting {}", mount.display()), e),
    };

    let mut cmd = Command::new(program);
    cmd.args(args);
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            let set = signal_set();
            libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
            Ok(())
        });
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return fail(&format!("starting {program}"), e),
    };
    let pid = child.id();
    if let Some(dir) = pid_file.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    if let Err(e) = std::fs::write(pid_file, format!("{pid}\n")) {
        eprintln!("vls-chaos-agent: writing {}: {e}", pid_file.display());
    }

    std::thread::spawn(move || loop {
        let mut sig: libc::c_int = 0;
        // SAFETY: waits on the blocked set; `sig` is ours.
        if unsafe { libc::sigwait(&set, &mut sig) } == 0 {
            // SAFETY: plain kill(2) of our own child.
            unsafe { libc::kill(pid as libc::pid_t, sig) };
        }
    });

    let status = child.wait();
    let failed = inner
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .persist_all();
    for (path, e) in &failed {
        eprintln!("vls-chaos-agent: writing back {}: {e}", path.display());
    }
    // A crash point still holding an fsync would keep the unmount waiting.
    shutdown.store(true, Ordering::SeqCst);
    drop(session);
    match status {
        Ok(s) => match (s.code(), s.signal()) {
            (Some(code), _) => ExitCode::from(code.clamp(0, 255) as u8),
            (None, Some(sig)) => ExitCode::from((128 + sig).clamp(0, 255) as u8),
            _ => ExitCode::FAILURE,
        },
        Err(e) => fail(&format!("waiting for {program}"), e),
    }
}
