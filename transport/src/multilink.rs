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
