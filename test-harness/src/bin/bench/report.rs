//! BENCHMARKS.md: the machine, the versions, one table per scenario and the
//! targets of issue #8 with whether each is met.

use std::fmt::Write as _;
use std::process::Command;

use sha2::{Digest, Sha256};

use super::memory::MemoryRun;
use super::stats::paired_ratio;
use super::throughput::Series;
use super::{Options, Results};

/// One target of issue #8 and what was measured for it.
#[derive(Clone, Debug)]
pub struct Target {
    pub name: String,
    pub goal: String,
    pub measured: String,
    /// `None` when the scenario did not run.
    pub met: Option<bool>,
}

/// The targets, judged on the results.
pub fn targets(opts: &Options, r: &Results) -> Vec<Target> {
    let mut out = Vec::new();
    let ratio = |series: &[Series], a: &str, b: &str| -> f64 {
        let find = |k: &str| series.iter().find(|s| s.key == k).map(Series::rps);
        match (find(a), find(b)) {
            (Some(x), Some(y)) => paired_ratio(&x, &y),
            _ => f64::NAN,
        }
    };
    let mut add = |name: &str, goal: &str, measured: String, met: Option<bool>| {
        out.push(Target {
            name: name.into(),
            goal: goal.into(),
            measured,
            met,
        })
    };
    let r_cached = r.cached.as_ref().map(|s| ratio(s, "C", "B"));
    add(
        "cached token (RS256, AgentCore claim header)",
        "toolguard >= 0.9 x jwt_authn req/s",
        fmt_ratio(r_cached),
        r_cached.map(|x| x >= 0.9),
    );
    for (alg, res) in [
        ("RS256", &r.never_seen_rs256),
        ("ES256", &r.never_seen_es256),
    ] {
        let x = res.as_ref().map(|(s, _)| ratio(s, "C", "B"));
        add(
            &format!("never-seen token ({alg})"),
            "toolguard >= 0.8 x jwt_authn req/s",
            fmt_ratio(x),
            x.map(|x| x >= 0.8),
        );
    }
    for (what, res) in [("small frames", &r.sse), ("4 KiB frames", &r.sse_large)] {
        for (key, tools, goal) in [("L", "[\"search\"]", 0.8), ("T", "[\"*\"]", 0.95)] {
            let x = res.as_ref().map(|s| ratio(&s.series, key, "A"));
            add(
                &format!("SSE policing (1 MiB of {what})"),
                &format!("toolguard (tools {tools}) >= {goal} x no filter"),
                fmt_ratio(x),
                x.map(|x| x >= goal),
            );
        }
    }
    let limit = (opts.max_frame_bytes + 8192) as f64;
    if let Some(runs) = &r.memory {
        for pair in runs.chunks(2) {
            if let [none, guarded] = pair {
                let added = added_per_stream(none, guarded);
                add(
                    &format!("memory per stream: {}", guarded.label),
                    &format!(
                        "added by toolguard <= max_frame_bytes + 8 KiB = {} KiB",
                        limit as usize / 1024
                    ),
                    format!(
                        "{:.1} KiB ({:.1} KiB per stream in all)",
                        added / 1024.0,
                        total_per_stream(guarded) / 1024.0
                    ),
                    Some(added <= limit),
                );
            }
        }
    } else {
        add(
            "memory per stream",
            "<= max_frame_bytes + 8 KiB",
            "not run".into(),
            None,
        );
    }
    let ttfb = r.first_byte.as_ref().map(|t| t.paired_added_ms(1, 0));
    add(
        "first frame on a slow stream",
        &format!(
            "no delay beyond the first frame: added median <= 5 ms (the next frame comes {} s later)",
            opts.slow_pause.as_secs()
        ),
        ttfb.map_or("not run".into(), |ms| format!("{ms:+.2} ms")),
        ttfb.map(|ms| ms <= 5.0),
    );
    let limited = r.ratelimit.as_ref().map(|s| ratio(s, "C", "B"));
    add(
        "request limits (rate-limit service)",
        "toolguard rate_limits >= 0.9 x jwt_authn + Envoy ratelimit req/s",
        fmt_ratio(limited),
        limited.map(|x| x >= 0.9),
    );
    add(
        "module size",
        "toolguard.wasm <= 400 KiB",
        format!("{:.0} KiB", r.wasm_bytes as f64 / 1024.0),
        Some(r.wasm_bytes <= 400 * 1024),
    );
    out
}

/// Per-stream bytes through toolguard less those through no filter, at the
/// largest count after the hold (the longest streams) or before it,
/// whichever is larger.
fn added_per_stream(none: &MemoryRun, guarded: &MemoryRun) -> f64 {
    let n = guarded.rss.last().map_or(0, |(n, _)| *n);
    let before = guarded.per_stream(n).unwrap_or(f64::NAN) - none.per_stream(n).unwrap_or(0.0);
    let after = guarded.per_stream_after_hold().unwrap_or(f64::NAN)
        - none.per_stream_after_hold().unwrap_or(0.0);
    before.max(after)
}

/// What [`added_per_stream`] compares, for the stream through toolguard.
fn total_per_stream(guarded: &MemoryRun) -> f64 {
    let n = guarded.rss.last().map_or(0, |(n, _)| *n);
    let before = guarded.per_stream(n).unwrap_or(f64::NAN);
    before.max(guarded.per_stream_after_hold().unwrap_or(f64::NAN))
}

fn fmt_ratio(x: Option<f64>) -> String {
    x.map_or("not run".into(), |x| format!("{x:.3}"))
}

/// The whole document.
pub fn markdown(opts: &Options, r: &Results, command: &str) -> String {
    let mut md = String::new();
    let date = run_text("date", &["-u", "+%Y-%m-%d %H:%M UTC"]);
    let _ = writeln!(md, "# Benchmarks\n");
    let _ = writeln!(
        md,
        "Written by `{command}` on {date} in {:.0} s{}. Reproduce with `scripts/bench` \
         (about 12 minutes; `scripts/bench --quick` is the smoke run `scripts/test` makes). \
         Absolute rates depend on the machine and whatever else runs on it: compare the ratios.\n",
        r.elapsed.as_secs_f64(),
        if opts.quick {
            " (**quick run: one short round, numbers are not meaningful**)"
        } else {
            ""
        }
    );
    machine(&mut md, opts, r);
    method(&mut md, opts);
    let _ = writeln!(md, "## Targets\n");
    let _ = writeln!(md, "| target | goal | measured | met |\n|---|---|---|---|");
    for t in targets(opts, r) {
        let met = match (opts.quick, t.met) {
            (_, None) => "not run",
            (true, Some(_)) => "not judged (quick run)",
            (false, Some(true)) => "yes",
            (false, Some(false)) => "**no**",
        };
        let _ = writeln!(md, "| {} | {} | {} | {met} |", t.name, t.goal, t.measured);
    }
    md.push('\n');
    if let Some(s) = &r.cached {
        let _ = writeln!(
            md,
            "## 1. Cached token\n\nThe same valid RS256 token on every request; the route answers directly. \
             F is the empty filter making, per request, the six host calls toolguard makes here (header map, \
             clock, random bytes for the session id, a counter, two header writes) and nothing else: what \
             any filter doing this work through the proxy-wasm ABI pays. Envoy CPU is the Envoy process's \
             user and system time over the run divided by its requests: time a busy neighbour steals \
             lowers req/s but is not in it.\n"
        );
        throughput_table(&mut md, s, &["A", "B", "E", "F"], None);
    }
    for (n, alg, res) in [
        (2, "RS256", &r.never_seen_rs256),
        (2, "ES256", &r.never_seen_es256),
        (2, "PS256", &r.never_seen_ps256),
        (2, "EdDSA", &r.never_seen_eddsa),
    ] {
        if let Some((s, pool)) = res {
            let _ = writeln!(
                md,
                "## {n}. Never-seen tokens, {alg}\n\nEvery request carries a token this Envoy has not seen \
                 (a fresh Envoy per run, {pool} distinct tokens rotated by wrk).\n"
            );
            throughput_table(&mut md, s, &["A", "B"], Some(*pool));
        }
    }
    if let Some(sse) = &r.sse {
        let _ = writeln!(
            md,
            "## 3. SSE policing\n\nA {} KiB Anthropic stream of {} small frames (one `tool_use` \
             for `search` in the middle) served by a second Envoy, fetched through each configuration.\n",
            sse.stream_bytes / 1024,
            sse.stream_frames
        );
        let _ = writeln!(
            md,
            "Why a second Envoy: a direct response from the same Envoy reaches the filters as one \
             chunk (below), which is not how a stream arrives, and a second Envoy serving the file \
             is the fastest upstream there is (the mock agent would be the bottleneck). The front \
             Envoy reads at most {} KiB from it at a time (`per_connection_buffer_limit_bytes`), so \
             the filter sees the stream in many chunks of many frames. \
             How the body reaches an HTTP filter (a Lua filter in its place counted the chunks):\n",
            super::configs::UPSTREAM_READ_LIMIT / 1024
        );
        for c in &sse.chunking {
            let _ = writeln!(
                md,
                "- {}: {} chunk(s), {} bytes (about {} KiB each)",
                c.label,
                c.chunks,
                c.bytes,
                c.bytes / c.chunks.max(1) / 1024
            );
        }
        md.push('\n');
        throughput_table(&mut md, &sse.series, &["A", "E"], None);
    }
    if let Some(sse) = &r.sse_large {
        let _ = writeln!(
            md,
            "## 3b. SSE policing, large frames\n\nThe same, with {} frames in {} KiB: text deltas of 4 KiB.\n",
            sse.stream_frames,
            sse.stream_bytes / 1024
        );
        throughput_table(&mut md, &sse.series, &["A", "E"], None);
    }
    if let Some(runs) = &r.memory {
        memory_table(&mut md, opts, runs);
    }
    if let Some(t) = &r.first_byte {
        let _ = writeln!(
            md,
            "## 5. First frame on a slow stream\n\nThe agent sends `message_start` and then nothing for {} s; \
             time from writing the request to having the whole first frame, {} requests each, alternating, \
             one connection each (with a cached token).\n",
            opts.slow_pause.as_secs(),
            t.samples_ms.first().map_or(0, Vec::len)
        );
        let _ = writeln!(md, "| config | median ms |\n|---|---|");
        for (i, label) in t.labels.iter().enumerate() {
            let _ = writeln!(md, "| {label} | {:.2} |", t.median_ms(i));
        }
        let _ = writeln!(
            md,
            "\nAdded by toolguard (median of paired differences): {:+.2} ms.\n",
            t.paired_added_ms(1, 0)
        );
    }
    if let Some(s) = &r.ratelimit {
        super::ratelimit::section(&mut md);
        throughput_table(&mut md, s, &["B"], None);
    }
    let _ = writeln!(
        md,
        "## 6. Module size\n\n| module | bytes | KiB |\n|---|---|---|\n| toolguard.wasm | {} | {:.0} |\n| empty filter | {} | {:.0} |\n",
        r.wasm_bytes,
        r.wasm_bytes as f64 / 1024.0,
        r.empty_wasm_bytes,
        r.empty_wasm_bytes as f64 / 1024.0
    );
    // The profiles behind the numbers and what was changed: written by hand,
    // kept with the code so every report carries them.
    md.push_str(include_str!("findings.md"));
    md
}

fn machine(md: &mut String, opts: &Options, r: &Results) {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("unknown".to_string(), |(_, v)| v.trim().to_string());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().strip_suffix("kB"))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map_or("unknown".to_string(), |kb| {
            format!("{:.1} GiB", kb / 1048576.0)
        });
    let nproc = std::thread::available_parallelism().map_or(0, |n| n.get());
    let root = test_harness::paths::repo_root().display().to_string();
    let envoy = test_harness::envoy::envoy_command()
        .ok()
        .and_then(|e| {
            let out = e.command().arg("--version").output().ok()?;
            let text = String::from_utf8_lossy(&out.stdout).to_string();
            text.split("version:").nth(1).map(|v| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    let rustc = run_text("rustc", &["--version"]);
    // Which build was measured: the filter changes while it is optimised.
    let commit = run_text("git", &["-C", &root, "rev-parse", "--short", "HEAD"]);
    let dirty = Command::new("git")
        .args(["-C", &root, "status", "--porcelain", "--untracked-files=no"])
        .output()
        .is_ok_and(|o| !o.stdout.is_empty());
    let tree = if dirty {
        " with uncommitted changes"
    } else {
        ""
    };
    let module = std::fs::read(&opts.toolguard_wasm)
        .map(|bytes| {
            let digest = Sha256::digest(&bytes);
            digest
                .iter()
                .take(8)
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        })
        .unwrap_or_else(|_| "unreadable".into());
    let _ = writeln!(
        md,
        "## Machine and versions\n\n| | |\n|---|---|\n| cores (nproc) | {nproc} |\n| CPU | {cpu} |\n\
         | memory | {mem} |\n| Envoy | {envoy} |\n| rustc | {rustc} |\n| load tool | {} |\n\
         | commit | {commit}{tree} |\n| toolguard.wasm | {} bytes, SHA-256 {module}... |\n",
        r.load_tool, r.wasm_bytes
    );
}

fn method(md: &mut String, opts: &Options) {
    let _ = writeln!(
        md,
        "## How it is measured\n\n\
         - Envoy runs with `--concurrency {w}` (one worker thread) so the load tool has the other core; \
         no access log, log level `warn`.\n\
         - Load: wrk, one thread, keep-alive connections ({ac} for the auth scenarios, {sc} for SSE).\n\
         - Throughput scenarios run interleaved rounds (A, B, C, A, B, C, ...): {rounds} rounds of {a} s \
         (cached), {f} s (never-seen), {s} s (SSE) per configuration, after a {warm} s warm-up. \
         Reported: the median over rounds of each configuration's req/s, and the median of the per-round \
         ratios (paired), which cancels drift that hits a whole round.\n\
         - Every run is checked: wrk must count no error status, socket error or timeout, Envoy must count \
         as many 2xx as wrk counted requests and no other class, and each filter's own counters must agree \
         (jwt_authn and toolguard denied nothing and allowed every request; toolguard counted the tool call \
         in every SSE response). Each fresh Envoy first answers a check request proving the `sub` claim \
         reached the `{claim}` header. A failed check fails the benchmark.\n\
         - The auth scenarios answer with a direct response (no upstream). Both auth filters use the same \
         inline JWKS (rsa-1, ec-1) and copy `sub` to the same header; jwt_authn has `jwt_cache_config` \
         (1024 entries, like toolguard's cache) and `forward: true` (toolguard keeps `Authorization` too).\n",
        w = opts.workers,
        ac = opts.auth_connections,
        sc = opts.sse_connections,
        rounds = opts.rounds,
        a = opts.auth_secs,
        f = opts.fresh_secs,
        s = opts.sse_secs,
        warm = opts.warmup_secs,
        claim = super::configs::CLAIM_HEADER,
    );
}

fn throughput_table(md: &mut String, series: &[Series], bases: &[&str], pool: Option<usize>) {
    let base_series: Vec<&Series> = bases
        .iter()
        .filter_map(|b| series.iter().find(|s| s.key == *b))
        .collect();
    let _ = write!(
        md,
        "| | config | median req/s | median p50 latency | median Envoy CPU per request |"
    );
    for b in &base_series {
        let _ = write!(md, " ratio to {} |", b.key);
    }
    if pool.is_some() {
        let _ = write!(md, " tokens reused |");
    }
    let _ = write!(md, "\n|---|---|---|---|---|");
    for _ in &base_series {
        md.push_str("---|");
    }
    if pool.is_some() {
        md.push_str("---|");
    }
    md.push('\n');
    for s in series {
        let _ = write!(
            md,
            "| {} | {} | {:.0} | {:.0} µs | {} |",
            s.key,
            s.label,
            s.median_rps(),
            s.median_p50_us(),
            s.median_cpu_us_per_request()
                .map_or("n/a".into(), |us| format!("{us:.1} µs"))
        );
        for b in &base_series {
            if b.key == s.key {
                md.push_str(" |");
            } else {
                let _ = write!(md, " {:.3} |", paired_ratio(&s.rps(), &b.rps()));
            }
        }
        if let Some(pool) = pool {
            // Without an auth filter a repeated token costs nothing more.
            if s.key == "A" {
                md.push_str(" n/a |");
            } else {
                let _ = write!(md, " {:.1}% |", s.reuse_fraction(pool) * 100.0);
            }
        }
        md.push('\n');
    }
    let _ = writeln!(
        md,
        "\nPer-round req/s: {}\n",
        series
            .iter()
            .map(|s| format!(
                "{} {}",
                s.key,
                s.rps()
                    .iter()
                    .map(|x| format!("{x:.0}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
            .collect::<Vec<_>>()
            .join("; ")
    );
}

fn memory_table(md: &mut String, opts: &Options, runs: &[MemoryRun]) {
    let counts: Vec<usize> = runs
        .first()
        .map(|r| r.rss.iter().map(|(n, _)| *n).collect())
        .unwrap_or_default();
    let last = counts.last().copied().unwrap_or(0);
    let _ = writeln!(
        md,
        "## 4. Memory per stream\n\nEnvoy's VmRSS with {} long streams open (one connection each, all \
         through one Envoy), {} s after the last opened; bytes per stream = (RSS_n - RSS_1) / (n - 1). \
         \"after hold\": the {last} streams held {} s more (trickling streams keep streaming). \
         toolguard runs with a cached token and `tools`, `max_frame_bytes` {}.\n",
        counts
            .iter()
            .map(|n| n.to_string())
            .collect::<Vec<_>>()
            .join(", then "),
        opts.settle.as_secs_f64(),
        opts.hold.as_secs(),
        opts.max_frame_bytes
    );
    let _ = write!(md, "| config |");
    for n in &counts {
        let _ = write!(md, " RSS at {n} |");
    }
    for n in counts.iter().skip(1) {
        let _ = write!(md, " per stream at {n} |");
    }
    let _ = writeln!(md, " per stream after hold |");
    let _ = write!(md, "|---|");
    for _ in 0..(2 * counts.len()) {
        md.push_str("---|");
    }
    md.push('\n');
    let kib = |x: f64| format!("{:.1} KiB", x / 1024.0);
    for run in runs {
        let _ = write!(md, "| {} |", run.label);
        for (_, rss) in &run.rss {
            let _ = write!(md, " {:.1} MiB |", *rss as f64 / 1048576.0);
        }
        for n in counts.iter().skip(1) {
            let _ = write!(md, " {} |", run.per_stream(*n).map_or("-".into(), kib));
        }
        let _ = writeln!(
            md,
            " {} |",
            run.per_stream_after_hold().map_or("-".into(), kib)
        );
    }
    md.push('\n');
    for pair in runs.chunks(2) {
        if let [none, guarded] = pair {
            let _ = writeln!(
                md,
                "- Added by toolguard ({} vs {}): {} per stream.",
                guarded.label,
                none.label,
                kib(added_per_stream(none, guarded))
            );
        }
    }
    md.push('\n');
}

fn run_text(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into())
}
