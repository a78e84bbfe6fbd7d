//! Zenoh's multilink extension: proof that a link which joins a transport comes from
//! the process that opened it.
//!
//! Each process that admits more than one link per transport holds one RSA key pair
//! (512 bits, as Zenoh 1.10.2) for its lifetime. In the handshake, with `n` and `e` the
//! key's modulus and exponent as little-endian byte strings, every byte string with a
//! z-int length:
//!
//! ```text
//! INIT syn  ext 0x4  [n, e] of the opener (Alice)
//! INIT ack  ext 0x4  [n, e] of the acceptor (Bob), RSA_alice(challenge)
//! OPEN syn  ext 0x4  RSA_bob(challenge)      (Alice decrypted it and re-encrypted it)
//! OPEN ack  ext 0x4  (unit)                  (Bob decrypted it: the challenge matched)
//! ```
//!
//! The challenge is a random u64 (8 bytes little-endian) and RSA is PKCS#1 v1.5
//! encryption. The acceptor thereby knows that the opener holds the private key of the
//! public key it announced: a link joins a transport only if it proves the key of the
//! link that opened it (see `unicast::admit`). The opener learns the acceptor's key
//! without proof (it chose whom to dial).

use bytes::Bytes;
use rsa::rand_core::OsRng;
use rsa::traits::PublicKeyParts;
use rsa::{BigUint, Pkcs1v15Encrypt, RsaPrivateKey, RsaPublicKey};

use crate::wire::core::{Reader, write_zbytes};

/// The size of the key pair, in bits (Zenoh's).
pub const KEY_BITS: usize = 512;

/// The largest modulus accepted from a peer, in bits (bounds the work a peer can ask).
pub const MAX_PEER_KEY_BITS: usize = 4096;

/// Why the multilink exchange failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MultilinkError {
    /// The key pair could not be made (no randomness).
    #[error("cannot make the multilink key pair: {0}")]
    KeyGeneration(String),
    /// The peer's extension did not decode, or carried an unusable key.
    #[error("malformed multilink extension in {what}: {detail}")]
    Malformed {
        /// The message it came in.
        what: &'static str,
        /// What was wrong.
        detail: String,
    },
    /// The peer's answer to the challenge was wrong: it does not hold the private key
    /// of the public key it announced.
    #[error("the multilink proof failed: the peer does not hold the key it announced")]
    WrongProof,
    /// The peer offered multilink in INIT but left the proof out of OPEN.
    #[error("the OPEN syn carries no multilink proof")]
    Missing,
}

/// This process's multilink key pair.
pub struct MultilinkKey {
    private: RsaPrivateKey,
    public: Bytes,
}

impl std::fmt::Debug for MultilinkKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MultilinkKey")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

impl PartialEq for MultilinkKey {
    fn eq(&self, other: &Self) -> bool {
        self.public == other.public
    }
}

impl Eq for MultilinkKey {}

/// The wire form of a public key: `n`, `e` little-endian, each with a z-int length.
fn encode_public(key: &RsaPublicKey) -> Bytes {
    let mut out = Vec::new();
    write_zbytes(&mut out, &key.n().to_bytes_le());
    write_zbytes(&mut out, &key.e().to_bytes_le());
    Bytes::from(out)
}

fn malformed(what: &'static str, detail: impl std::fmt::Display) -> MultilinkError {
    MultilinkError::Malformed {
        what,
        detail: detail.to_string(),
    }
}

/// Reads a public key; returns it with its canonical wire form.
fn read_public(
    r: &mut Reader,
    what: &'static str,
) -> Result<(RsaPublicKey, Bytes), MultilinkError> {
    let n = r
        .zbytes("multilink key modulus")
        .map_err(|e| malformed(what, e))?;
    let e = r
        .zbytes("multilink key exponent")
        .map_err(|e| malformed(what, e))?;
    let n = BigUint::from_bytes_le(&n);
    if n.bits() > MAX_PEER_KEY_BITS {
        return Err(malformed(
            what,
            format!("a {}-bit key (at most {MAX_PEER_KEY_BITS})", n.bits()),
        ));
    }
    let key = RsaPublicKey::new(n, BigUint::from_bytes_le(&e)).map_err(|e| malformed(what, e))?;
    let wire = encode_public(&key);
    Ok((key, wire))
}

impl MultilinkKey {
    /// A fresh key pair.
    pub fn generate() -> Result<Self, MultilinkError> {
        let private = RsaPrivateKey::new(&mut OsRng, KEY_BITS)
            .map_err(|e| MultilinkError::KeyGeneration(e.to_string()))?;
        let public = encode_public(&RsaPublicKey::from(&private));
        Ok(MultilinkKey { private, public })
    }

    /// The public key in its wire form (the INIT syn extension's body).
    pub fn public(&self) -> &Bytes {
        &self.public
    }

    /// Acceptor, on the opener's INIT syn extension: draws a challenge and returns it,
    /// the body of our INIT ack extension, and the opener's key (canonical wire form).
    pub fn challenge(&self, init_syn: &Bytes) -> Result<(u64, Bytes, Bytes), MultilinkError> {
        const WHAT: &str = "INIT syn";
        let mut r = Reader::new(init_syn.clone());
        let (alice, alice_wire) = read_public(&mut r, WHAT)?;
        let challenge =
            getrandom::u64().map_err(|e| MultilinkError::KeyGeneration(e.to_string()))?;
        let sealed = alice
            .encrypt(&mut OsRng, Pkcs1v15Encrypt, &challenge.to_le_bytes())
            .map_err(|e| malformed(WHAT, e))?;
        let mut ack = self.public.to_vec();
        write_zbytes(&mut ack, &sealed);
        Ok((challenge, Bytes::from(ack), alice_wire))
    }

    /// Opener, on the acceptor's INIT ack extension: decrypts the challenge and
    /// re-encrypts it for the acceptor; returns the body of our OPEN syn extension and
    /// the acceptor's key (canonical wire form).
    pub fn answer(&self, init_ack: &Bytes) -> Result<(Bytes, Bytes), MultilinkError> {
        const WHAT: &str = "INIT ack";
        let mut r = Reader::new(init_ack.clone());
        let (bob, bob_wire) = read_public(&mut r, WHAT)?;
        let sealed = r
            .zbytes("multilink challenge")
            .map_err(|e| malformed(WHAT, e))?;
        let challenge = self
            .private
            .decrypt(Pkcs1v15Encrypt, &sealed)
            .map_err(|e| malformed(WHAT, format!("cannot decrypt the challenge: {e}")))?;
        let resealed = bob
            .encrypt(&mut OsRng, Pkcs1v15Encrypt, &challenge)
            .map_err(|e| malformed(WHAT, e))?;
        let mut out = Vec::new();
        write_zbytes(&mut out, &resealed);
        Ok((Bytes::from(out), bob_wire))
    }

    /// Acceptor, on the opener's OPEN syn extension: checks that it holds `challenge`.
    pub fn check(&self, challenge: u64, open_syn: &Bytes) -> Result<(), MultilinkError> {
        let mut r = Reader::new(open_syn.clone());
        let sealed = r
            .zbytes("multilink proof")
            .map_err(|e| malformed("OPEN syn", e))?;
        match self.private.decrypt(Pkcs1v15Encrypt, &sealed) {
            Ok(plain) if plain == challenge.to_le_bytes() => Ok(()),
            _ => Err(MultilinkError::WrongProof),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exchange_proves_the_openers_key() {
        let alice = MultilinkKey::generate().expect("alice");
        let bob = MultilinkKey::generate().expect("bob");
        let (challenge, ack, alice_seen) = bob.challenge(alice.public()).expect("challenge");
        assert_eq!(&alice_seen, alice.public());
        let (proof, bob_seen) = alice.answer(&ack).expect("answer");
        assert_eq!(&bob_seen, bob.public());
        bob.check(challenge, &proof).expect("proof holds");
        assert_eq!(
            bob.check(challenge ^ 1, &proof),
            Err(MultilinkError::WrongProof)
        );
        // Someone who announces Alice's key without holding it cannot answer.
        let mallory = MultilinkKey::generate().expect("mallory");
        assert!(mallory.answer(&ack).is_err());
    }

    fn unhex(s: &str) -> Bytes {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
            .collect::<Vec<u8>>()
            .into()
    }

    fn message(hex: &str) -> crate::wire::transport::TransportMessage {
        let bytes = unhex(hex);
        let mut r = Reader::new(bytes.clone());
        let m = crate::wire::transport::TransportMessage::read(&mut r).expect("decodes");
        assert_eq!(r.remaining(), 0, "the whole batch is one message");
        // Plexus writes Zenoh's bytes back exactly (extension order and encodings).
        let mut out = Vec::new();
        m.write(&mut out);
        assert_eq!(out, bytes.to_vec(), "re-encoded differently");
        m
    }

    /// The four handshake messages of one link between two Zenoh 1.10.2 peers with
    /// `transport/unicast/max_links = 2` (captured on loopback with
    /// `tools/wire-proxy.py`): Plexus reads each multilink extension as Zenoh wrote
    /// it, with Zenoh's key size and exponent, and would write the same bytes.
    #[test]
    fn zenoh_multilink_handshake_bytes() {
        use crate::wire::transport::TransportMessage;
        const INIT_SYN: &str = "c109f1b7991406a281da300884ab63715b91220ac8ff81c445404b173d8f7705\
            1ed5081c59611e62a8640fc9f461fa3d43a1c12201e52be708e2a8952f33b4d670c4829680ffcf4c\
            f08b0a5532c324cc2e15f88ac411e6db98bf030100012701";
        const INIT_ACK: &str = "e109f168a498503adf6f63a03f196a033e193b0a00c082018001081543456f\
            2a9ec9d3f8808817b26ff3b4dab0d949c0762a481cfa9d25b410a9bdcc317f8c71a4f7c86ec70e843e\
            2a1249167037154d5093ef89d726774ba02f869aa9ec8b1f2aef66b79273ae84fcc10684942f5d0512\
            99acee6882be4ae3051a56c665487a241d47437be6c8782884a1af4a986456c516f9df66fb78456a45\
            81c486014083bf70c78b9c4105b24288348b0764a87229cec02adfb19ac5d87b70d79d981e99e0969d\
            c1801c85b6112e2e0704e42d3501818443872903ad09d649f457b4b5030100014086bf743756250\
            17d443cb065ab70032006b4e1e730aedbdb8c521465a7481ea3d6203c56b7f6d5cc35fcf2c8de0bc6c\
            446c1e7a0ee1299c682e0a70c76ca351b2701";
        const OPEN_SYN: &str = "c20aa2c1fc7e82018001081543456f2a9ec9d3f8808817b26ff3b4dab0d949\
            c0762a481cfa9d25b410a9bdcc317f8c71a4f7c86ec70e843e2a1249167037154d5093ef89d726774b\
            a02f869aa9ec8b1f2aef66b79273ae84fcc10684942f5d051299acee6882be4ae3051a56c665487a24\
            1d47437be6c8782884a1af4a986456c516f9df66fb78456a4544414061e75ac010892edcd4920cbafa\
            dd412e055b4075e4b9e249e0154e8b97c0fdd2d3317794c7de7d4ecf539c4ec0df33a274b6b81a5677\
            db60624463fe5dda2077";
        const OPEN_ACK: &str = "e20a87c5855104";
        let sealed_len = KEY_BITS / 8;
        let zenoh_key = |key: &RsaPublicKey, wire: &Bytes, body: &Bytes| {
            assert_eq!(key.n().bits(), KEY_BITS);
            assert_eq!(key.e(), &BigUint::from(65_537u32));
            // Canonical: the key as Plexus writes it is the bytes Zenoh sent.
            assert_eq!(wire[..], body[..wire.len()]);
        };

        let TransportMessage::Init(syn) = message(INIT_SYN) else {
            panic!("INIT syn")
        };
        let body = syn.multilink.expect("INIT syn multilink");
        let mut r = Reader::new(body.clone());
        let (alice, wire) = read_public(&mut r, "INIT syn").expect("alice's key");
        zenoh_key(&alice, &wire, &body);
        assert_eq!(r.remaining(), 0);
        // A Plexus acceptor takes it up.
        let bob = MultilinkKey::generate().expect("bob");
        let (_, ack, seen) = bob.challenge(&body).expect("challenge");
        assert_eq!(seen, body);
        assert_eq!(ack.len(), 1 + sealed_len + 1 + 3 + 1 + sealed_len);

        let TransportMessage::Init(ack) = message(INIT_ACK) else {
            panic!("INIT ack")
        };
        let body = ack.multilink.expect("INIT ack multilink");
        let mut r = Reader::new(body.clone());
        let (bob, wire) = read_public(&mut r, "INIT ack").expect("bob's key");
        zenoh_key(&bob, &wire, &body);
        let sealed = r.zbytes("challenge").expect("sealed challenge");
        assert_eq!(sealed.len(), sealed_len);
        assert_eq!(r.remaining(), 0);

        let TransportMessage::Open(open) = message(OPEN_SYN) else {
            panic!("OPEN syn")
        };
        let body = open.multilink_syn.expect("OPEN syn multilink");
        let mut r = Reader::new(body.clone());
        assert_eq!(r.zbytes("proof").expect("proof").len(), sealed_len);
        assert_eq!(r.remaining(), 0);
        assert!(!open.multilink_ack);

        let TransportMessage::Open(open) = message(OPEN_ACK) else {
            panic!("OPEN ack")
        };
        assert!(open.multilink_ack);
        assert!(open.multilink_syn.is_none());
    }

    #[test]
    fn hostile_extensions_are_errors() {
        let bob = MultilinkKey::generate().expect("bob");
        for body in [
            &b""[..],
            &[0xff][..],
            &[2, 1][..],
            &[1, 0, 1, 3][..],
            &[0x80, 0x80, 0x80, 0x80, 0x80, 0x80][..],
        ] {
            assert!(
                bob.challenge(&Bytes::copy_from_slice(body)).is_err(),
                "{body:?}"
            );
            assert!(bob.answer(&Bytes::copy_from_slice(body)).is_err());
            assert!(bob.check(1, &Bytes::copy_from_slice(body)).is_err());
        }
        // A modulus above the bound.
        let mut big = Vec::new();
        write_zbytes(&mut big, &vec![0xff; MAX_PEER_KEY_BITS / 8 + 1]);
        write_zbytes(&mut big, &[1, 0, 1]);
        assert!(matches!(
            bob.challenge(&Bytes::from(big)),
            Err(MultilinkError::Malformed { .. })
        ));
    }
}
