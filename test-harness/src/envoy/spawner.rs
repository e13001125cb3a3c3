//! Starts child processes from one long-lived thread.
//!
//! Envoy children get `PR_SET_PDEATHSIG = SIGKILL` so they die with the test
//! process even if it is killed or a handle is leaked (e.g. kept in a
//! `static`). Linux delivers that signal when the *thread* that forked exits,
//! so forking from short-lived test threads would kill a shared Envoy when its
//! creating test ends; forking from this thread, which lives as long as the
//! process, ties the child to the process instead.

use std::io;
use std::process::{Child, Command};
use std::sync::mpsc::{self, Sender};
use std::sync::{Mutex, OnceLock};

type Job = (Command, Sender<io::Result<Child>>);

pub(crate) fn spawn(mut command: Command) -> io::Result<Child> {
    static SPAWNER: OnceLock<Mutex<Sender<Job>>> = OnceLock::new();
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt;
        // SAFETY: prctl is async-signal-safe and touches no memory of the
        // parent; this closure runs in the child between fork and exec.
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
    }
    let jobs = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Job>();
        let started = std::thread::Builder::new()
            .name("harness-spawner".into())
            .spawn(move || {
                for (mut command, reply) in rx {
                    let _ = reply.send(command.spawn());
                }
            });
        if let Err(e) = started {
            panic!("cannot start the harness spawner thread: {e}");
        }
        Mutex::new(tx)
    });
    let (reply_tx, reply_rx) = mpsc::channel();
    crate::wait::lock(jobs)
        .send((command, reply_tx))
        .map_err(|_| io::Error::other("harness spawner thread is gone"))?;
    reply_rx
        .recv()
        .map_err(|_| io::Error::other("harness spawner thread is gone"))?
}
