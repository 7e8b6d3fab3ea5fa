//! Prometheus remote write 1.0: each closed second becomes a batch of time series, queued for a
//! background task that POSTs them as a protobuf `WriteRequest`, snappy-compressed (block
//! format). The load loop only ever `try_send`s: a full queue, a refused connection, a timeout or
//! an error status drops that request's samples, counts them and goes on with the next; nothing
//! is retried, so a slow receiver never builds a backlog.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use prost::Message;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::{Family, Snapshot};
use crate::plan::RemoteWrite;

/// Seconds queued for a writer before new ones are dropped (a receiver that far behind is down).
pub const QUEUE_SECONDS: usize = 30;
/// Series in one request at most: queued seconds go out together up to this many.
pub const MAX_SERIES_PER_REQUEST: usize = 20_000;
/// How much of an error response is kept for the warning.
const ERROR_BODY_LIMIT: usize = 512;

/// `prometheus.WriteRequest` (remote write 1.0; field 2 is reserved, metadata is not sent).
#[derive(Clone, PartialEq, Message)]
pub struct WriteRequest {
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
}

/// `prometheus.TimeSeries`: labels sorted by name, `__name__` among them.
#[derive(Clone, PartialEq, Message)]
pub struct TimeSeries {
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
}

/// `prometheus.Label`.
#[derive(Clone, PartialEq, Message)]
pub struct Label {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub value: String,
}

/// `prometheus.Sample`: a value at a Unix time in milliseconds.
#[derive(Clone, PartialEq, Message)]
pub struct Sample {
    #[prost(double, tag = "1")]
    pub value: f64,
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

/// The request body: the protobuf encoding, snappy-compressed in the block format.
pub fn body(request: &WriteRequest) -> Vec<u8> {
    let encoded = request.encode_to_vec();
    // Compressing a buffer in memory fails only past snap's 4 GiB input limit.
    snap::raw::Encoder::new().compress_vec(&encoded).unwrap_or_default()
}

/// The series of one closed second, with the reporter's own labels.
pub fn series(snapshot: &Snapshot, extra: &[(String, String)]) -> Vec<TimeSeries> {
    let mut out = Vec::new();
    for family in Family::ALL {
        snapshot.each(family, |labels, value| {
            let mut all = vec![label("__name__", family.sample_name()), label("test", &snapshot.test)];
            // Remote write drops empty labels anyway; the scrape endpoint leaves this one out too.
            if !snapshot.cell.is_empty() {
                all.push(label("cell", &snapshot.cell));
            }
            all.extend(labels.iter().map(|(n, v)| label(n, v)));
            all.extend(extra.iter().map(|(n, v)| label(n, v)));
            all.sort_by(|a, b| a.name.cmp(&b.name));
            out.push(TimeSeries { labels: all, samples: vec![Sample { value, timestamp: snapshot.end_ms }] });
        });
    }
    out
}

fn label(name: &str, value: &str) -> Label {
    Label { name: name.to_string(), value: value.to_string() }
}

/// What a writer lost, shared between the load loop and its task.
#[derive(Default)]
struct Losses {
    /// Samples dropped so far.
    dropped: AtomicU64,
    /// Samples queued or in flight.
    pending: AtomicU64,
    /// Why samples were first dropped.
    first_reason: Mutex<Option<String>>,
}

impl Losses {
    fn drop_samples(&self, n: u64, why: impl FnOnce() -> String) {
        self.dropped.fetch_add(n, Ordering::Relaxed);
        self.first_reason.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert_with(why);
    }
}

/// One `prometheus` reporter of a test: its queue and the task that sends it.
pub struct Writer {
    url: String,
    timeout: Duration,
    labels: Vec<(String, String)>,
    queue: Option<mpsc::Sender<Vec<TimeSeries>>>,
    losses: Arc<Losses>,
    task: JoinHandle<()>,
}

impl Writer {
    /// Starts the task sending to `to`.
    pub fn start(to: &RemoteWrite) -> Writer {
        let (queue, rx) = mpsc::channel(QUEUE_SECONDS);
        let losses = Arc::new(Losses::default());
        let client = Client { url: to.url.clone(), timeout: to.timeout, connection: None };
        Writer {
            url: to.url.to_string(),
            timeout: to.timeout,
            labels: to.labels.clone(),
            queue: Some(queue),
            task: tokio::spawn(send_all(client, rx, losses.clone())),
            losses,
        }
    }

    /// Queues a closed second's series, or counts them dropped when the queue is full.
    pub fn send(&self, snapshot: &Snapshot) {
        let Some(queue) = &self.queue else { return };
        let series = series(snapshot, &self.labels);
        let n = series.len() as u64;
        self.losses.pending.fetch_add(n, Ordering::Relaxed);
        if queue.try_send(series).is_err() {
            self.losses.pending.fetch_sub(n, Ordering::Relaxed);
            let why =
                || format!("{QUEUE_SECONDS} seconds were queued: the receiver is slower than one request a second");
            self.losses.drop_samples(n, why);
        }
    }

    /// Lets the queued seconds go (within one `timeout`; what is left then is dropped) and
    /// returns the warning, if samples were dropped.
    pub async fn finish(mut self) -> Option<String> {
        drop(self.queue.take());
        if tokio::time::timeout(self.timeout, &mut self.task).await.is_err() {
            self.task.abort();
            let _ = (&mut self.task).await;
        }
        let dropped = self.losses.dropped.load(Ordering::Relaxed) + self.losses.pending.load(Ordering::Relaxed);
        let reason = self.losses.first_reason.lock().unwrap_or_else(|e| e.into_inner()).take();
        let reason = reason.unwrap_or_else(|| format!("no answer within {:?} at the test's end", self.timeout));
        (dropped > 0).then(|| format!("prometheus remote-write to {}: {dropped} samples dropped ({reason})", self.url))
    }
}

/// The task: sends what is queued, several seconds in one request when it fell behind.
async fn send_all(mut client: Client, mut rx: mpsc::Receiver<Vec<TimeSeries>>, losses: Arc<Losses>) {
    while let Some(mut timeseries) = rx.recv().await {
        while timeseries.len() < MAX_SERIES_PER_REQUEST {
            match rx.try_recv() {
                Ok(more) => timeseries.extend(more),
                Err(_) => break,
            }
        }
        let n = timeseries.len() as u64;
        let result = client.post(body(&WriteRequest { timeseries })).await;
        losses.pending.fetch_sub(n, Ordering::Relaxed);
        if let Err(why) = result {
            losses.drop_samples(n, || why);
        }
    }
}

/// An HTTP/1.1 client for one receiver, keeping its connection between requests.
struct Client {
    url: url::Url,
    timeout: Duration,
    connection: Option<(SendRequest<Full<Bytes>>, JoinHandle<()>)>,
}

impl Client {
    /// POSTs one body; the error says why it did not arrive (`connection refused`, `no answer
    /// within 2s`, `HTTP 400: …`).
    async fn post(&mut self, body: Vec<u8>) -> Result<(), String> {
        let result = match tokio::time::timeout(self.timeout, self.try_post(body)).await {
            Ok(result) => result,
            Err(_) => Err(format!("no answer within {:?}", self.timeout)),
        };
        if result.is_err() {
            self.close();
        }
        result
    }

    async fn try_post(&mut self, body: Vec<u8>) -> Result<(), String> {
        // A connection the receiver closed while idle is replaced before sending, not after.
        if let Some((send, _)) = &mut self.connection {
            if send.ready().await.is_err() {
                self.close();
            }
        }
        if self.connection.is_none() {
            self.connection = Some(self.connect().await?);
        }
        let Some((send, _)) = &mut self.connection else { unreachable!("connected above") };
        let authority = self.url[url::Position::BeforeHost..url::Position::AfterPort].to_string();
        let target = &self.url[url::Position::BeforePath..url::Position::AfterQuery];
        let request = hyper::Request::post(target)
            .header(hyper::header::HOST, authority)
            .header(hyper::header::CONTENT_ENCODING, "snappy")
            .header(hyper::header::CONTENT_TYPE, "application/x-protobuf")
            .header(hyper::header::USER_AGENT, concat!("suite/", env!("CARGO_PKG_VERSION")))
            .header("X-Prometheus-Remote-Write-Version", "0.1.0")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| e.to_string())?;
        let response = send.send_request(request).await.map_err(|e| e.to_string())?;
        let status = response.status();
        let text = match Limited::new(response.into_body(), ERROR_BODY_LIMIT).collect().await {
            Ok(collected) => String::from_utf8_lossy(&collected.to_bytes()).trim().to_string(),
            Err(_) => String::new(),
        };
        match status.is_success() {
            true => Ok(()),
            false => Err(format!("HTTP {}: {}", status.as_u16(), text.lines().next().unwrap_or(""))),
        }
    }

    async fn connect(&self) -> Result<(SendRequest<Full<Bytes>>, JoinHandle<()>), String> {
        let host = self.url.host_str().unwrap_or_default().trim_matches(['[', ']']);
        let port = self.url.port_or_known_default().unwrap_or(80);
        let stream = tokio::net::TcpStream::connect((host, port)).await.map_err(|e| match e.kind() {
            std::io::ErrorKind::ConnectionRefused => "connection refused".to_string(),
            _ => e.to_string(),
        })?;
        let _ = stream.set_nodelay(true);
        let (send, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|e| e.to_string())?;
        let driver = tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok((send, driver))
    }

    fn close(&mut self) {
        if let Some((_, driver)) = self.connection.take() {
            driver.abort();
        }
    }
}

impl Drop for Client {
    /// A connection to a receiver that never answers ends with the writer, not when it answers.
    fn drop(&mut self) {
        self.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_request_encodes_as_the_protobuf_bytes_prometheus_reads() {
        let request = WriteRequest {
            timeseries: vec![TimeSeries {
                labels: vec![label("a", "b")],
                samples: vec![Sample { value: 1.0, timestamp: 2 }],
            }],
        };
        // By hand: Label = 0a 01 'a' 12 01 'b' (6 bytes); Sample = 09 <1.0 as LE f64> 10 02
        // (11 bytes); TimeSeries = 0a 06 <label> 12 0b <sample> (21 bytes); WriteRequest = 0a 15 <series>.
        let expected = [
            0x0a, 0x15, 0x0a, 0x06, 0x0a, 0x01, b'a', 0x12, 0x01, b'b', 0x12, 0x0b, 0x09, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f,
            0x10, 0x02,
        ];
        assert_eq!(request.encode_to_vec(), expected);
    }

    #[test]
    fn the_body_is_snappy_block_format_around_the_protobuf() {
        let request = WriteRequest {
            timeseries: (0..50)
                .map(|i| TimeSeries {
                    labels: vec![label("__name__", "suite_requests_total"), label("test", &format!("t{i}"))],
                    samples: vec![Sample { value: i as f64, timestamp: 1_700_000_000_000 + i }],
                })
                .collect(),
        };
        let compressed = body(&request);
        let plain = snap::raw::Decoder::new().decompress_vec(&compressed).unwrap();
        assert!(compressed.len() < plain.len());
        assert_eq!(WriteRequest::decode(plain.as_slice()).unwrap(), request);
    }

    #[test]
    fn series_have_sorted_labels_the_name_and_the_second_end() {
        let snapshot = Snapshot {
            test: "api".into(),
            cell: String::new(),
            end_ms: 5_000,
            users: 7,
            labels: Vec::new(),
            ended: false,
        };
        let series = series(&snapshot, &[("env".into(), "ci".into())]);
        assert_eq!(series.len(), 1, "no label: only the users gauge");
        let names: Vec<(&str, &str)> = series[0].labels.iter().map(|l| (l.name.as_str(), l.value.as_str())).collect();
        assert_eq!(names, [("__name__", "suite_active_users"), ("env", "ci"), ("test", "api")]);
        assert_eq!(series[0].samples, [Sample { value: 7.0, timestamp: 5_000 }]);
    }

    #[tokio::test]
    async fn a_closed_port_drops_and_counts_every_sample_without_waiting() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let to = RemoteWrite {
            url: format!("http://127.0.0.1:{port}/api/v1/write").parse().unwrap(),
            timeout: Duration::from_secs(2),
            labels: Vec::new(),
        };
        let writer = Writer::start(&to);
        let snapshot = Snapshot {
            test: "t".into(),
            cell: String::new(),
            end_ms: 1000,
            users: 1,
            labels: Vec::new(),
            ended: false,
        };
        let started = std::time::Instant::now();
        for _ in 0..3 {
            writer.send(&snapshot);
        }
        let warning = writer.finish().await.unwrap();
        assert!(started.elapsed() < Duration::from_secs(1), "{:?}", started.elapsed());
        assert_eq!(
            warning,
            format!("prometheus remote-write to http://127.0.0.1:{port}/api/v1/write: 3 samples dropped (connection refused)")
        );
    }
}
