//! Pools of distinct valid tokens (same claims, a different `jti` each) for the
//! never-seen-token scenario, one per line in a file wrk rotates through.
//!
//! RSA signing costs about a millisecond per token, so a pool is kept on disk
//! between runs for as long as its tokens stay valid (they live a day).

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use test_harness::error::Context;
use test_harness::tokens::{Key, Token};
use test_harness::{Error, Result};

/// How long minted tokens are valid.
const TOKEN_LIFETIME_SECS: i64 = 24 * 3600;
/// A pool file older than this is minted again (its tokens must outlive the run).
const REUSE_FOR: Duration = Duration::from_secs(20 * 3600);

/// A file of `count` distinct tokens signed with one key.
pub struct TokenPool {
    pub count: usize,
    pub path: PathBuf,
}

impl TokenPool {
    /// The pool in `dir`, minted now unless a fresh enough one is there.
    /// `as_alg`: sign with this (alg, kid) instead of the key's own.
    pub fn get(
        dir: &Path,
        key: Key,
        as_alg: Option<(&'static str, &'static str)>,
        count: usize,
    ) -> Result<TokenPool> {
        std::fs::create_dir_all(dir).context(|| format!("creating {}", dir.display()))?;
        let kid = as_alg.map_or(key.kid(), |(_, kid)| kid);
        let path = dir.join(format!("{kid}-{count}.txt"));
        let fresh = std::fs::metadata(&path)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| SystemTime::now().duration_since(t).ok())
            .is_some_and(|age| age < REUSE_FOR);
        if !fresh {
            let started = std::time::Instant::now();
            let tokens = mint(key, as_alg, count)?;
            let tmp = path.with_extension("tmp");
            std::fs::write(&tmp, tokens.join("\n") + "\n")
                .context(|| format!("writing {}", tmp.display()))?;
            std::fs::rename(&tmp, &path).context(|| format!("writing {}", path.display()))?;
            eprintln!(
                "bench: minted {count} {} tokens in {:.1} s",
                as_alg.map_or(key.default_alg(), |(alg, _)| alg),
                started.elapsed().as_secs_f64()
            );
        }
        Ok(TokenPool { count, path })
    }
}

/// `count` tokens differing only in `jti`, signed on every core.
fn mint(key: Key, as_alg: Option<(&str, &str)>, count: usize) -> Result<Vec<String>> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(count.max(1));
    let per = count.div_ceil(threads);
    let run = std::process::id();
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                scope.spawn(move || {
                    (t * per..((t + 1) * per).min(count))
                        .map(|i| {
                            let token = Token::standard(key);
                            let token = match as_alg {
                                Some((alg, kid)) => token.alg(alg).kid(kid),
                                None => token,
                            };
                            token
                                .claim("jti", format!("bench-{run}-{i}"))
                                .exp_in(TOKEN_LIFETIME_SECS)
                                .mint()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut all = Vec::with_capacity(count);
        for worker in workers {
            all.extend(
                worker
                    .join()
                    .map_err(|_| Error::new("a token-minting thread panicked"))?,
            );
        }
        Ok(all)
    })
}
