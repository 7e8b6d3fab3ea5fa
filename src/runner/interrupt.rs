//! Ctrl-C and SIGTERM: the first asks for a graceful stop (reports are still written), the second
//! aborts the requests in flight.

use tokio::sync::watch;

/// Watches for Ctrl-C and SIGTERM; the first asks for a graceful stop, the second aborts.
#[derive(Clone)]
pub(super) struct Interrupt {
    rx: watch::Receiver<u32>,
}

impl Interrupt {
    pub(super) fn install() -> Self {
        let (tx, rx) = watch::channel(0u32);
        tokio::spawn(async move {
            let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
            loop {
                let term_fut = async {
                    match term.as_mut() {
                        Some(t) => t.recv().await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    r = tokio::signal::ctrl_c() => if r.is_err() { std::future::pending::<()>().await },
                    _ = term_fut => {}
                }
                let n = *tx.borrow() + 1;
                eprintln!(
                    "\n{}",
                    if n == 1 {
                        "interrupted: stopping the load and writing reports (again to abort requests in flight)"
                    } else {
                        "interrupted again: aborting requests in flight"
                    }
                );
                let _ = tx.send(n);
            }
        });
        Interrupt { rx }
    }

    pub(super) fn count(&self) -> u32 {
        *self.rx.borrow()
    }

    pub(super) async fn at_least(&self, n: u32) {
        let mut rx = self.rx.clone();
        let _ = rx.wait_for(|c| *c >= n).await;
    }
}
