//! The connection layer shared by the frontend and the workers: an accept
//! loop that gives every connection its own thread, and the per-connection
//! keep-alive loop (read request → call handler → write response).
//!
//! Thread-per-connection keeps the code simple; threads get a small stack so
//! that a thousand idle keep-alive connections cost little memory.

use crate::http::{self, Reader, Request, Response, Version};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

/// Something that answers requests. Implemented for closures.
pub trait Handler: Send + Sync + 'static {
    fn handle(&self, req: &Request) -> Response;
}

impl<F> Handler for F
where
    F: Fn(&Request) -> Response + Send + Sync + 'static,
{
    fn handle(&self, req: &Request) -> Response {
        self(req)
    }
}

/// Stack size of connection threads. Handlers keep big data on the heap.
const CONN_STACK: usize = 256 * 1024;

/// Threads blocked in `accept` on the same listener. The std listener has a
/// fixed backlog of 128 (raising it needs `listen(2)`, i.e. unsafe code), so
/// the queue is drained by several acceptors: while one spawns a connection
/// thread, the others keep accepting. A burst of ~1000 simultaneous connects
/// can still overflow the backlog; the kernel then retries the handshake and
/// those clients connect a little later.
const ACCEPTORS: usize = 4;

/// Accepts connections forever, serving each on its own thread.
/// `idle_timeout` closes connections that send nothing for that long.
pub fn serve(listener: TcpListener, handler: Arc<dyn Handler>, idle_timeout: Option<Duration>) {
    for _ in 1..ACCEPTORS {
        let Ok(extra) = listener.try_clone() else {
            break;
        };
        let handler = Arc::clone(&handler);
        let spawned = thread::Builder::new()
            .name("accept".into())
            .stack_size(CONN_STACK)
            .spawn(move || accept_loop(&extra, &handler, idle_timeout));
        if spawned.is_err() {
            break;
        }
    }
    accept_loop(&listener, &handler, idle_timeout);
}

fn accept_loop(listener: &TcpListener, handler: &Arc<dyn Handler>, idle_timeout: Option<Duration>) {
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                let handler = Arc::clone(handler);
                let spawned = thread::Builder::new()
                    .name("conn".into())
                    .stack_size(CONN_STACK)
                    .spawn(move || serve_conn(stream, handler.as_ref(), idle_timeout));
                if let Err(e) = spawned {
                    // Out of threads: the stream was moved into the failed closure and is
                    // dropped (closed) with it. Back off briefly instead of spinning.
                    log!("demo-target: cannot spawn connection thread: {e}");
                    thread::sleep(Duration::from_millis(10));
                }
            }
            Err(e) => {
                // EMFILE and friends: wait for descriptors to free up.
                log!("demo-target: accept failed: {e}");
                thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

/// Spawns [`serve`] on a background thread.
pub fn spawn_server(
    name: &str,
    listener: TcpListener,
    handler: Arc<dyn Handler>,
    idle_timeout: Option<Duration>,
) -> std::io::Result<thread::JoinHandle<()>> {
    thread::Builder::new().name(name.to_string()).spawn(move || serve(listener, handler, idle_timeout))
}

/// Serves one connection until the peer closes it, asks to close it, idles
/// out, or sends something unparseable.
pub fn serve_conn(stream: TcpStream, handler: &dyn Handler, idle_timeout: Option<Duration>) {
    let _ = stream.set_nodelay(true);
    let _ = stream.set_read_timeout(idle_timeout);
    // `&TcpStream` reads and writes: one descriptor per connection, so 10,000 clients fit
    // in a 20,000-descriptor limit.
    let mut reader = Reader::new(&stream);
    let mut out = &stream;
    loop {
        let req = reader.read_request(|| out.write_all(b"HTTP/1.1 100 Continue\r\n\r\n"));
        match req {
            Ok(Some(req)) => {
                let resp = match catch_unwind(AssertUnwindSafe(|| handler.handle(&req))) {
                    Ok(resp) => resp,
                    Err(_) => Response::text(500, "internal error\n").with_header("X-Error", "handler panicked"),
                };
                let keep = req.keep_alive() && !resp.close;
                let head_only = req.method == "HEAD";
                if http::write_response(out, &resp, req.version, keep, head_only).is_err() || !keep {
                    break;
                }
            }
            Ok(None) => break,
            Err(err) => {
                if let Some(status) = err.status() {
                    let body = format!("{err}\n");
                    let resp = Response::text(status, body);
                    if http::write_response(out, &resp, Version::Http11, false, false).is_ok() {
                        lingering_close(&stream);
                    }
                }
                break;
            }
        }
    }
}

/// Closes our side, then drains what the client still sends for a moment, so
/// that the kernel does not answer unread data with a RST that could destroy
/// the error response before the client reads it.
fn lingering_close(stream: &TcpStream) {
    let _ = stream.shutdown(Shutdown::Write);
    let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
    let mut sink = [0u8; 4096];
    let mut total = 0;
    let mut s = stream;
    while total < 256 * 1024 {
        match s.read(&mut sink) {
            Ok(0) | Err(_) => break,
            Ok(n) => total += n,
        }
    }
}
