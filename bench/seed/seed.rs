// seed: crosvm vmm-swap's process freezer, in Rust, as bench/reference.ts renders it in TypeScript:
// the hand-written approach treefreeze replaces, in the language it was written in. Same steps and
// same faults as the reference, on purpose (a `)` in a thread's name misreads its state, a task or
// process that exits mid-freeze fails the freeze or the thaw, a tree still changing after 3 reads is
// frozen as last read). Kept warm like the C floor: it reads commands on stdin,
//   F   freeze the tree under the root; prints the milliseconds from the start of its own tree
//       discovery to every task confirmed stopped
//   T   thaw: SIGCONT every pid of the last freeze; prints the milliseconds it took
// and prints "ready" once started. A failure is printed as the reply line ("error: ..."), so the
// bench gets an answer, not a hang. Usage: seed ROOT_PID. std only: rustc -O --edition 2021.
use std::fs::{read_dir, read_to_string};
use std::io::{BufRead, Error};
use std::thread::sleep;
use std::time::{Duration, Instant};

extern "C" {
    fn kill(pid: i32, sig: i32) -> i32;
}

// x86_64 Linux numbers; std has no names for them.
const SIGSTOP: i32 = 19;
const SIGCONT: i32 = 18;

fn signal(pid: i32, sig: i32) -> Result<(), String> {
    // SAFETY: kill(2) takes no pointers; a stale pid is the reference's fault, kept.
    if unsafe { kill(pid, sig) } == 0 {
        Ok(())
    } else {
        Err(format!("kill({pid}, {sig}): {}", Error::last_os_error()))
    }
}

/// The main thread's `children` only: children forked by other threads are missed (a fault kept).
fn main_thread_children(pid: i32) -> Vec<i32> {
    match read_to_string(format!("/proc/{pid}/task/{pid}/children")) {
        Ok(text) => text.split(' ').filter(|s| !s.is_empty()).filter_map(|s| s.trim().parse().ok()).collect(),
        Err(_) => Vec::new(),
    }
}

/// Root first, then its descendants breadth first.
fn tree(root: i32) -> Vec<i32> {
    let mut found = vec![root];
    let mut next = 0;
    while next < found.len() {
        let children = main_thread_children(found[next]);
        found.extend(children);
        next += 1;
    }
    found
}

/// The state letter the way the reference reads it: right after the FIRST ')' (not the last).
fn first_paren_state(text: &str) -> Option<u8> {
    text.find(')').and_then(|i| text.as_bytes().get(i + 2).copied())
}

/// Each task in turn, 10 reads 50 ms apart; the naps are the algorithm's, not ours.
fn wait_stopped(pid: i32) -> Result<(), String> {
    let tasks = read_dir(format!("/proc/{pid}/task")).map_err(|e| format!("/proc/{pid}/task: {e}"))?;
    for task in tasks {
        let tid = task.map_err(|e| e.to_string())?.file_name();
        let tid = tid.to_string_lossy();
        let path = format!("/proc/{pid}/task/{tid}/stat");
        for attempt in 0.. {
            let stat = read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
            if first_paren_state(&stat) == Some(b'T') {
                break;
            }
            if attempt == 9 {
                return Err(format!("{pid}/{tid} did not stop"));
            }
            sleep(Duration::from_millis(50));
        }
    }
    Ok(())
}

/// Stops `root` and its descendants, re-reading the tree up to 3 times. `pids` is left holding
/// what the thaw continues, also after a failure (the reference's `pids`).
fn freeze(root: i32, pids: &mut Vec<i32>) -> Result<(), String> {
    pids.clear();
    for _ in 0..3 {
        let current = tree(root);
        // Vec::contains, as the reference's includes: quadratic in the tree, kept.
        for &pid in current.iter().filter(|pid| !pids.contains(pid)) {
            signal(pid, SIGSTOP)?;
        }
        *pids = current;
        for &pid in pids.iter() {
            wait_stopped(pid)?;
        }
        let again = tree(root);
        if again.len() == pids.len() && again.iter().all(|pid| pids.contains(pid)) {
            break;
        }
    }
    Ok(())
}

/// SIGCONT in order; the first pid gone ends it, leaving the rest stopped (the reference's fault).
fn thaw(pids: &[i32]) -> Result<(), String> {
    pids.iter().try_for_each(|&pid| signal(pid, SIGCONT))
}

fn main() {
    let root: i32 = match std::env::args().nth(1).and_then(|arg| arg.parse().ok()) {
        Some(root) => root,
        None => {
            eprintln!("usage: seed ROOT_PID");
            std::process::exit(2);
        }
    };
    // Rust's stdout is line-buffered: each println! reaches the pipe at once.
    println!("ready");
    let mut pids = Vec::new();
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let started = Instant::now();
        let result = match line.trim() {
            "F" => freeze(root, &mut pids),
            "T" => thaw(&pids),
            _ => continue,
        };
        match result {
            Ok(()) => println!("{:.4}", started.elapsed().as_secs_f64() * 1e3),
            Err(message) => println!("error: {message}"),
        }
    }
}
