//! Reload on change: watches the config directory (and the folders of
//! component files it names) and, 200 ms after the last change, validates
//! the whole configuration and swaps it in (see `Gateway::reload`). An
//! invalid edit is refused and logged with the same `file: path: problem`
//! messages as `tollgate config check`; the old configuration keeps serving.

use notify::{RecursiveMode, Watcher};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::config::{ComponentSource, Config};
use crate::gateway::Gateway;

/// Quiet time after the last file event before reloading.
pub const DEBOUNCE: Duration = Duration::from_millis(200);

/// Keeps the watch alive; dropping it stops watching.
pub struct WatchHandle {
    /// The task owns the watcher; aborting it stops watching.
    task: tokio::task::JoinHandle<()>,
}

impl Drop for WatchHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn folders(config: &Config) -> BTreeSet<PathBuf> {
    let mut dirs = BTreeSet::from([config.dir.clone()]);
    for slot in &config.policies.chain {
        if let ComponentSource::File(p) = &slot.component
            && let Some(parent) = config.dir.join(p).parent()
        {
            dirs.insert(parent.to_path_buf());
        }
    }
    dirs
}

/// Starts watching `gw`'s config directory. Watching is best effort: if the
/// platform refuses, a warning is logged and the admin API still works.
pub fn spawn(gw: Arc<Gateway>) -> WatchHandle {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if let Ok(e) = event
            && !matches!(e.kind, notify::EventKind::Access(_))
        {
            let _ = tx.send(());
        }
    });
    let mut watcher = match watcher {
        Ok(w) => Some(w),
        Err(e) => {
            tracing::warn!(
                "cannot watch the config directory ({e}); use the admin API to swap policies"
            );
            None
        }
    };
    let mut watched = BTreeSet::new();
    rewatch(&mut watcher, &mut watched, folders(&gw.config()));
    let task = tokio::spawn(async move {
        while rx.recv().await.is_some() {
            // Debounce: wait until the files are quiet.
            loop {
                match tokio::time::timeout(DEBOUNCE, rx.recv()).await {
                    Ok(Some(())) => continue,
                    Ok(None) => return,
                    Err(_) => break,
                }
            }
            let dir = gw.config().dir.clone();
            let gw2 = gw.clone();
            let outcome = tokio::task::spawn_blocking(move || match crate::config::load(&dir) {
                Err(errors) => Err(format!("{errors}")),
                Ok(config) => gw2.reload(config),
            })
            .await;
            match outcome {
                Ok(Ok(changed)) if changed.is_empty() => {}
                Ok(Ok(changed)) => {
                    tracing::info!(changed = %changed.join("; "), "configuration reloaded")
                }
                Ok(Err(e)) => tracing::warn!(
                    "configuration change refused; the previous configuration keeps serving:\n{e}"
                ),
                Err(e) => tracing::error!("reload task failed: {e}"),
            }
            // A reload may name component files in new folders.
            rewatch(&mut watcher, &mut watched, folders(&gw.config()));
        }
    });
    WatchHandle { task }
}

fn rewatch(
    watcher: &mut Option<notify::RecommendedWatcher>,
    watched: &mut BTreeSet<PathBuf>,
    wanted: BTreeSet<PathBuf>,
) {
    let Some(w) = watcher else { return };
    for dir in wanted.difference(watched) {
        if let Err(e) = w.watch(dir, RecursiveMode::NonRecursive) {
            tracing::warn!("cannot watch {}: {e}", dir.display());
        }
    }
    *watched = wanted;
}
