//! The handshake driver: runs the sans-IO handshake over a link until it is established,
//! fails or times out.

use super::*;

/// Runs a handshake over a link (`inbound`: one we accepted). Returns the outcome, the
/// framer holding any bytes that arrived after the last handshake message, and the
/// rest of the batch that carried that message, if anything followed it there (both
/// belong to the transport), and, for an accepted link admitted as the first of a new
/// transport, its hold on the zid until [`add_link`] adds it: a [`Handshaken`].
///
/// The deadline is absolute: it is set when the handshake starts and input that
/// trickles in does not move it. Once the exchange completes, and before the
/// acceptor's OPEN ack goes out, the link is checked against the manager's limits
/// (see [`admit`]); a refused link gets CLOSE with the reason instead.
pub(super) async fn drive_handshake<'a>(
    inner: &'a ManagerInner,
    mut hs: Handshake,
    reader: &mut LinkReader,
    writer: &mut LinkWriter,
    inbound: bool,
) -> Result<Handshaken<'a>, TransportError> {
    let endpoint = reader.info().dst().to_string();
    let streamed = reader.info().is_streamed();
    let started = Instant::now();
    let mut framer = StreamFramer::new(u16::MAX);
    let mut leftover: Option<Bytes> = None;
    let mut admitted = false;
    let mut reservation = None;
    let fail = |source: HandshakeError| TransportError::Handshake {
        endpoint: endpoint.clone(),
        source,
    };
    loop {
        if !admitted && let Some(est) = hs.completed() {
            admitted = true;
            let checked = {
                let table = lock(&inner.transports);
                let mut reserved = lock(&inner.reserved);
                admit(inner, &table, &reserved, est, inbound).map(|existing| {
                    if inbound && existing.is_none() {
                        reservation = Some(Reservation::take(inner, &mut reserved, est.remote_zid));
                    }
                })
            };
            if let Err(e) = checked {
                if let TransportError::Refused { reason, detail, .. } = &e {
                    hs.refuse(*reason, detail.clone());
                }
                flush_close(&mut hs, writer, streamed).await;
                return Err(e);
            }
        }
        while let Some(msg) = hs.poll_transmit() {
            let mut batch = Batch::single(&msg);
            batch.seal();
            writer.write_vectored_all(&batch.wire(streamed)).await?;
        }
        if let Some(est) = hs.established() {
            let est = est.clone();
            framer.set_batch_size(est.batch_size);
            return Ok(Handshaken {
                est,
                framer,
                leftover,
                reservation,
            });
        }
        let deadline = hs
            .poll_timeout()
            .unwrap_or_else(|| started + Duration::from_secs(10));
        let now = Instant::now();
        if now >= deadline {
            let err = hs
                .handle_timeout(now)
                .err()
                .unwrap_or(HandshakeError::TimedOut {
                    after: now - started,
                });
            return Err(match err {
                HandshakeError::TimedOut { after } => {
                    TransportError::HandshakeTimedOut { endpoint, after }
                }
                other => fail(other),
            });
        }
        // Next batch: streamed links frame with a length prefix, datagrams are batches.
        let batch = loop {
            if streamed {
                match framer.next_batch() {
                    Ok(Some(b)) => break b,
                    Ok(None) => {}
                    Err(e) => {
                        let err = hs.handle_decode_error(crate::wire::DecodeError::malformed(
                            "batch",
                            e.to_string(),
                        ));
                        flush_close(&mut hs, writer, streamed).await;
                        return Err(fail(err));
                    }
                }
            }
            let read =
                tokio::time::timeout(deadline - now, reader.read_buf(framer.buffer_mut(), 65536))
                    .await;
            match read {
                Err(_) => break Bytes::new(),
                Ok(Err(e)) => return Err(e.into()),
                Ok(Ok(0)) if streamed => {
                    return Err(plexus_link::LinkError::ClosedByPeer {
                        endpoint: endpoint.clone(),
                    }
                    .into());
                }
                Ok(Ok(_)) => {
                    if !streamed {
                        break framer.buffer_mut().split().freeze();
                    }
                }
            }
        };
        if batch.is_empty() {
            continue; // timed out: loop to handle_timeout
        }
        let mut r = BatchReader::new(batch);
        loop {
            match r.next_item() {
                Ok(None) => break,
                Ok(Some(BatchItem::Transport(msg))) => {
                    if let Err(e) = hs.handle_message(msg, Instant::now()) {
                        flush_close(&mut hs, writer, streamed).await;
                        return Err(fail(e));
                    }
                    if hs.completed().is_some() {
                        // What follows the last handshake message in its batch is the
                        // transport's first input.
                        let rest = r.into_rest();
                        leftover = (!rest.is_empty()).then_some(rest);
                        break;
                    }
                }
                Ok(Some(BatchItem::Network(_))) => {
                    // Only a FRAME opens network messages, and a FRAME fails the
                    // handshake before it can come here.
                    let err = hs.handle_decode_error(crate::wire::DecodeError::malformed(
                        "batch",
                        "a network message during the handshake",
                    ));
                    flush_close(&mut hs, writer, streamed).await;
                    return Err(fail(err));
                }
                Err(e) => {
                    let err = hs.handle_decode_error(e);
                    flush_close(&mut hs, writer, streamed).await;
                    return Err(fail(err));
                }
            }
        }
    }
}

async fn flush_close(hs: &mut Handshake, writer: &mut LinkWriter, streamed: bool) {
    while let Some(msg) = hs.poll_transmit() {
        let mut batch = Batch::single(&msg);
        batch.seal();
        let wire = batch.wire(streamed);
        let _ =
            tokio::time::timeout(Duration::from_secs(1), writer.write_vectored_all(&wire)).await;
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), writer.close()).await;
}
