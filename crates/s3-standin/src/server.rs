//! The server thread: its own tokio runtime, the accept loop (TCP_NODELAY on
//! every socket, HTTP/1.1 keep-alive) and shutdown.

use std::io;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

use crate::front::{self, Shared};

/// A running server thread; dropping it does not stop it, `stop` does.
pub(crate) struct ServerThread {
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl ServerThread {
    pub(crate) fn spawn(
        listener: std::net::TcpListener,
        shared: Arc<Shared>,
    ) -> io::Result<ServerThread> {
        listener.set_nonblocking(true)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("s3-standin")
            .enable_all()
            .build()?;
        let (tx, rx) = oneshot::channel();
        let thread = std::thread::Builder::new()
            .name("s3-standin-main".into())
            .spawn(move || {
                runtime.block_on(accept_loop(listener, shared, rx));
                // Connections still open are abandoned, not waited for.
                runtime.shutdown_timeout(Duration::from_millis(500));
            })?;
        Ok(ServerThread {
            shutdown: Some(tx),
            thread: Some(thread),
        })
    }

    pub(crate) fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn accept_loop(
    listener: std::net::TcpListener,
    shared: Arc<Shared>,
    mut shutdown: oneshot::Receiver<()>,
) {
    let listener = match TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, "cannot use the listening socket");
            return;
        }
    };
    loop {
        tokio::select! {
            _ = &mut shutdown => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    tokio::spawn(serve_connection(stream, Arc::clone(&shared)));
                }
                Err(e) => {
                    // Typically out of file descriptors: back off briefly.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
    }
}

/// Splits off a second handle to the socket so that an injected reset can
/// set SO_LINGER while hyper owns the stream.
fn with_socket_handle(stream: TcpStream) -> io::Result<(TcpStream, Arc<std::net::TcpStream>)> {
    let std_stream = stream.into_std()?;
    let handle = std_stream.try_clone()?;
    Ok((TcpStream::from_std(std_stream)?, Arc::new(handle)))
}

async fn serve_connection(stream: TcpStream, shared: Arc<Shared>) {
    // Without this, small writes after a large one wait ~40 ms for the
    // peer's delayed ACK.
    if let Err(e) = stream.set_nodelay(true) {
        tracing::warn!(error = %e, "cannot set TCP_NODELAY");
    }
    let (stream, socket) = match with_socket_handle(stream) {
        Ok((stream, socket)) => (stream, Some(socket)),
        Err(e) => {
            tracing::warn!(error = %e, "cannot duplicate the socket handle; dropping the connection");
            return;
        }
    };
    let service = service_fn(move |req| front::handle(Arc::clone(&shared), socket.clone(), req));
    let result = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .serve_connection(TokioIo::new(stream), service)
        .await;
    if let Err(e) = result {
        tracing::debug!(error = %e, "connection ended with an error");
    }
}
