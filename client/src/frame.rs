//! Kafka framing, once for every client of the project (the `sluice` commands, sluice-bench,
//! the integration tests): a request is `[i32 length][request header][body]`, a response
//! `[i32 length][response header][body]`, and a response answers the request with its
//! correlation id. Requests are encoded with kafka-protocol's `Encodable`; responses decoded
//! with its `Decodable` — acceptable in a client, unlike in the broker, because a response
//! frame's length is checked against the caller's maximum before a byte of it is buffered.

use std::io::Read;

use bytes::{Buf, Bytes, BytesMut};
use kafka_protocol::messages::{RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};

/// Why a frame could not be read or a response decoded.
#[derive(Debug)]
pub enum FrameError {
    /// The socket failed (timeouts show as `WouldBlock` / `TimedOut`, a close as
    /// `UnexpectedEof`).
    Io(std::io::Error),
    /// A length prefix below the 4-byte minimum (a correlation id) or above the caller's
    /// maximum: a framing bug or a hostile peer. Nothing was allocated for it.
    Length { len: i32, max: usize },
    /// The frame's bytes are not the response expected.
    Protocol(String),
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::Io(e) => write!(f, "{e}"),
            FrameError::Length { len, max } => {
                write!(
                    f,
                    "response frame of {len} bytes (at least 4, at most {max})"
                )
            }
            FrameError::Protocol(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for FrameError {}

impl From<std::io::Error> for FrameError {
    fn from(e: std::io::Error) -> Self {
        FrameError::Io(e)
    }
}

/// `[length][header][body]` for `request` at `version`, ready to write.
pub fn encode_request<R: Request>(
    correlation_id: i32,
    client_id: &str,
    request: &R,
    version: i16,
) -> Result<BytesMut, FrameError> {
    let header = RequestHeader::default()
        .with_request_api_key(R::KEY)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(StrBytes::from_string(client_id.to_string())));
    let mut buf = BytesMut::with_capacity(64);
    buf.extend_from_slice(&[0; 4]);
    header
        .encode(&mut buf, R::header_version(version))
        .and_then(|_| request.encode(&mut buf, version))
        .map_err(|e| FrameError::Protocol(format!("encoding a request: {e}")))?;
    let len = i32::try_from(buf.len() - 4)
        .map_err(|_| FrameError::Protocol(format!("request of {} bytes", buf.len() - 4)))?;
    buf[..4].copy_from_slice(&len.to_be_bytes());
    Ok(buf)
}

/// Read one length-prefixed frame of at most `max_bytes`; the prefix is checked before
/// anything is allocated for the body.
pub fn read_frame(stream: &mut impl Read, max_bytes: usize) -> Result<Bytes, FrameError> {
    let mut len = [0u8; 4];
    stream.read_exact(&mut len)?;
    let len = i32::from_be_bytes(len);
    let size = usize::try_from(len)
        .ok()
        .filter(|l| (4..=max_bytes).contains(l))
        .ok_or(FrameError::Length {
            len,
            max: max_bytes,
        })?;
    let mut body = BytesMut::zeroed(size);
    stream.read_exact(&mut body)?;
    Ok(body.freeze())
}

/// Decode `frame` as the response to the request `correlation_id` sent at `version`: its header
/// must carry that id (a broker answers in request order) and the body must be consumed whole.
pub fn decode_response<R: Request>(
    mut frame: Bytes,
    correlation_id: i32,
    version: i16,
) -> Result<R::Response, FrameError> {
    let header = ResponseHeader::decode(&mut frame, R::Response::header_version(version))
        .map_err(|e| FrameError::Protocol(format!("undecodable response header: {e}")))?;
    if header.correlation_id != correlation_id {
        return Err(FrameError::Protocol(format!(
            "response for correlation id {} where {correlation_id} was expected (answered out of order)",
            header.correlation_id
        )));
    }
    let response = R::Response::decode(&mut frame, version).map_err(|e| {
        FrameError::Protocol(format!(
            "undecodable response (api key {} v{version}): {e}",
            R::KEY
        ))
    })?;
    if frame.has_remaining() {
        return Err(FrameError::Protocol(format!(
            "{} bytes after the response (api key {} v{version})",
            frame.remaining(),
            R::KEY
        )));
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse};

    #[test]
    fn a_length_out_of_bounds_is_refused_before_allocating() {
        for len in [i32::MIN, -1, 0, 3, 1_001] {
            let mut wire = &len.to_be_bytes()[..];
            match read_frame(&mut wire, 1_000) {
                Err(FrameError::Length { len: l, max: 1_000 }) => assert_eq!(l, len),
                other => panic!("{len}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_request_frame_carries_its_length_and_a_response_its_correlation_id() {
        let frame = encode_request(7, "t", &ApiVersionsRequest::default(), 3).expect("encode");
        assert_eq!(
            i32::from_be_bytes(frame[..4].try_into().expect("4 bytes")) as usize,
            frame.len() - 4
        );
        let mut body = BytesMut::new();
        ResponseHeader::default()
            .with_correlation_id(7)
            .encode(&mut body, 0)
            .expect("header");
        ApiVersionsResponse::default()
            .encode(&mut body, 3)
            .expect("body");
        let body = body.freeze();
        decode_response::<ApiVersionsRequest>(body.clone(), 7, 3).expect("decodes");
        let wrong = decode_response::<ApiVersionsRequest>(body, 8, 3).unwrap_err();
        assert!(wrong.to_string().contains("out of order"), "{wrong}");
    }
}
