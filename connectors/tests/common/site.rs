//! A test web server on 127.0.0.1: a closure answers each request (with an optional delay),
//! and every request is logged with its time and headers. It runs on its own thread and
//! runtime, so both async and blocking tests can use it; dropping it stops it.

#![allow(dead_code)]

use axum::body::Body;
use axum::http::{HeaderMap, Request, Response};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub delay: Duration,
}

impl Reply {
    pub fn html(body: impl Into<String>) -> Reply {
        Reply::typed("text/html; charset=utf-8", body.into().into_bytes())
    }

    pub fn typed(content_type: &str, body: Vec<u8>) -> Reply {
        Reply {
            status: 200,
            headers: vec![("content-type".into(), content_type.into())],
            body,
            delay: Duration::ZERO,
        }
    }

    pub fn status(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            delay: Duration::ZERO,
        }
    }

    pub fn redirect(to: &str) -> Reply {
        Reply::status(302).header("location", to)
    }

    pub fn header(mut self, k: &str, v: &str) -> Reply {
        self.headers.push((k.into(), v.into()));
        self
    }

    pub fn delayed(mut self, d: Duration) -> Reply {
        self.delay = d;
        self
    }
}

/// A logged request.
#[derive(Debug, Clone)]
pub struct Hit {
    pub method: String,
    pub path: String,
    pub at: Instant,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

/// A request as a [`Server::start_req`] handler sees it.
pub struct Req<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
    /// Earlier requests of the same method, path and body (0 for the first).
    pub n: usize,
}

type Handler = dyn Fn(&Req) -> Reply + Send + Sync;

pub struct Server {
    pub base: String,
    log: Arc<Mutex<Vec<Hit>>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    /// Starts a server whose answers come from `f(path_and_query, headers, n)`, `n` counting
    /// earlier requests of the same path (0 for the first).
    pub fn start(f: impl Fn(&str, &HeaderMap, usize) -> Reply + Send + Sync + 'static) -> Server {
        Server::start_req(move |r| f(r.path, r.headers, r.n))
    }

    /// Starts a server whose answers come from `f(request)`, for APIs where the method and
    /// body matter (GraphQL's POSTs).
    pub fn start_req(f: impl Fn(&Req) -> Reply + Send + Sync + 'static) -> Server {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        listener.set_nonblocking(true).unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let log: Arc<Mutex<Vec<Hit>>> = Arc::default();
        let counts: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
        let handler: Arc<Handler> = Arc::new(f);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = {
            let log = log.clone();
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                    let app = axum::Router::new().fallback(move |req: Request<Body>| {
                        let (log, counts, handler) = (log.clone(), counts.clone(), handler.clone());
                        async move {
                            let path = req
                                .uri()
                                .path_and_query()
                                .map(|p| p.as_str().to_owned())
                                .unwrap_or_default();
                            let method = req.method().as_str().to_owned();
                            let (parts, body) = req.into_parts();
                            let body = axum::body::to_bytes(body, 1 << 24)
                                .await
                                .map(|b| b.to_vec())
                                .unwrap_or_default();
                            // GETs count by path alone, as before; other methods by body too.
                            let count_key = if method == "GET" {
                                path.clone()
                            } else {
                                format!("{method} {path} {}", String::from_utf8_lossy(&body))
                            };
                            let n = {
                                let mut c = counts.lock().unwrap();
                                let e = c.entry(count_key).or_default();
                                *e += 1;
                                *e - 1
                            };
                            log.lock().unwrap().push(Hit {
                                method: method.clone(),
                                path: path.clone(),
                                at: Instant::now(),
                                headers: parts.headers.clone(),
                                body: body.clone(),
                            });
                            let r = handler(&Req {
                                method: &method,
                                path: &path,
                                headers: &parts.headers,
                                body: &body,
                                n,
                            });
                            if !r.delay.is_zero() {
                                tokio::time::sleep(r.delay).await;
                            }
                            let mut b = Response::builder().status(r.status);
                            for (k, v) in &r.headers {
                                b = b.header(k, v);
                            }
                            b.body(Body::from(r.body)).unwrap()
                        }
                    });
                    axum::serve(listener, app)
                        .with_graceful_shutdown(async {
                            let _ = stopped.await;
                        })
                        .await
                        .unwrap();
                });
            })
        };
        Server {
            base,
            log,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn hits(&self) -> Vec<Hit> {
        self.log.lock().unwrap().clone()
    }

    /// Requests of `path` (with its query) so far.
    pub fn count(&self, path: &str) -> usize {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|h| h.path == path)
            .count()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        // Open keep-alive connections end with the client; do not wait for them.
        drop(self.thread.take());
    }
}
