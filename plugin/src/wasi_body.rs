//! `wasi:http` bodies as bytes, for both directions: the AWS answers the
//! component reads (`component.rs`) and the REST requests and responses it
//! serves (`incoming.rs`).

use crate::bindings::wasi::http0_2_0::types::{IncomingBody, OutgoingBody};
use crate::bindings::wasi::io0_2_0::streams::StreamError;

/// `blocking-write-and-flush` accepts at most 4096 bytes per call.
const WRITE_CHUNK: usize = 4096;
const READ_CHUNK: u64 = 16 * 1024;

/// Why a body could not be read.
pub(crate) enum ReadError {
    /// It is larger than the limit given.
    TooLarge,
    /// The stream was taken or failed.
    Failed(String),
}

/// The whole body, refused once it passes `limit` bytes.
pub(crate) fn read(body: IncomingBody, limit: usize) -> Result<Vec<u8>, ReadError> {
    let mut bytes = Vec::new();
    {
        // The stream is a child of the body: it must go first.
        let stream = body
            .stream()
            .map_err(|()| ReadError::Failed("the body stream was already taken".to_string()))?;
        loop {
            match stream.blocking_read(READ_CHUNK) {
                Ok(chunk) => {
                    bytes.extend_from_slice(&chunk);
                    if bytes.len() > limit {
                        return Err(ReadError::TooLarge);
                    }
                }
                Err(StreamError::Closed) => break,
                Err(StreamError::LastOperationFailed(e)) => {
                    return Err(ReadError::Failed(format!(
                        "reading the body failed: {}",
                        e.to_debug_string()
                    )));
                }
            }
        }
    }
    Ok(bytes)
}

/// Writes `bytes` and finishes the body.
pub(crate) fn write(body: OutgoingBody, bytes: &[u8]) -> Result<(), String> {
    {
        let stream = body
            .write()
            .map_err(|()| "cannot write the body".to_string())?;
        for chunk in bytes.chunks(WRITE_CHUNK) {
            stream
                .blocking_write_and_flush(chunk)
                .map_err(|e| format!("writing the body failed: {e:?}"))?;
        }
    }
    OutgoingBody::finish(body, None).map_err(|e| format!("finishing the body failed: {e:?}"))
}
