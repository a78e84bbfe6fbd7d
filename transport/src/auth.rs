//! User/password authentication, wire-compatible with Zenoh 1.10.2's `auth_usrpwd`.
//!
//! The exchange rides in the Auth extension (`0x43`, a zbuf) of INIT and OPEN. The zbuf
//! holds a list of extensions, one per authentication method; usrpwd is id 2:
//!
//! ```text
//! opener → INIT syn   Auth [ 0x02 unit ]                      "I will authenticate"
//!        ← INIT ack   Auth [ 0x22 z64 nonce ]                 the challenge (random u64)
//! opener → OPEN syn   Auth [ 0x42 zbuf <user;z> <hmac;z> ]    HMAC-SHA3-256(key = nonce as
//!                                                             8 bytes little-endian,
//!                                                             data = password)
//!        ← OPEN ack   Auth [ 0x02 unit ]                      accepted
//! ```
//!
//! An acceptor with usrpwd configured (credentials or a dictionary) requires every opener to
//! authenticate against its dictionary, and answers a missing extension, an unknown user or
//! a wrong HMAC with CLOSE(GENERIC); an opener with credentials refuses an acceptor that
//! sends no nonce, as Zenoh does. An opener without credentials sends nothing.
//!
//! This module holds the credentials, the dictionary and the codec of those extension
//! lists; [`crate::handshake`] drives the exchange.

use std::collections::HashMap;
use std::fmt;

use bytes::Bytes;
use hmac::Mac;

use crate::wire::DecodeError;
use crate::wire::core::{ExtBody, ExtIter, ExtWriter, Reader, ext, write_zbytes};
use crate::wire::transport::CloseReason;

/// The id of the usrpwd method inside the Auth extension.
pub const USRPWD_ID: u8 = 0x02;
/// Longest user name or password accepted (Zenoh sets none; this bounds what a peer can
/// make us hash and keep).
pub const MAX_FIELD_LEN: usize = 1024;

type HmacSha3 = hmac::Hmac<sha3::Sha3_256>;

/// usrpwd settings: our own credentials (to authenticate when we open a link) and the
/// dictionary of users allowed in (when we accept one).
///
/// `Debug` never shows passwords.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct UsrPwd {
    credentials: Option<(String, Vec<u8>)>,
    dictionary: HashMap<Vec<u8>, Vec<u8>>,
}

impl fmt::Debug for UsrPwd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut users: Vec<String> = self
            .dictionary
            .keys()
            .map(|u| String::from_utf8_lossy(u).into_owned())
            .collect();
        users.sort();
        f.debug_struct("UsrPwd")
            .field("user", &self.credentials.as_ref().map(|c| &c.0))
            .field("dictionary_users", &users)
            .finish_non_exhaustive()
    }
}

/// Why a usrpwd dictionary or credential cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UsrPwdConfigError {
    /// A dictionary line has no `:` between user and password.
    #[error("line {line}: expected `user:password`")]
    NoSeparator {
        /// One-based line number.
        line: usize,
    },
    /// A dictionary line or the credentials have an empty user name.
    #[error("line {line}: empty user name")]
    EmptyUser {
        /// One-based line number (0 for the credentials).
        line: usize,
    },
    /// A dictionary line or the credentials have an empty password.
    #[error("line {line}: empty password")]
    EmptyPassword {
        /// One-based line number (0 for the credentials).
        line: usize,
    },
    /// A user name or password longer than [`MAX_FIELD_LEN`].
    #[error("line {line}: user name or password longer than {MAX_FIELD_LEN} bytes")]
    TooLong {
        /// One-based line number (0 for the credentials).
        line: usize,
    },
}

impl UsrPwd {
    /// Settings from our credentials (`transport/auth/usrpwd/user` and `password`) and a
    /// dictionary (see [`UsrPwd::parse_dictionary`]).
    pub fn new(
        credentials: Option<(String, String)>,
        dictionary: HashMap<String, String>,
    ) -> Result<Self, UsrPwdConfigError> {
        let check = |user: &str, password: &str, line: usize| {
            if user.is_empty() {
                Err(UsrPwdConfigError::EmptyUser { line })
            } else if password.is_empty() {
                Err(UsrPwdConfigError::EmptyPassword { line })
            } else if user.len() > MAX_FIELD_LEN || password.len() > MAX_FIELD_LEN {
                Err(UsrPwdConfigError::TooLong { line })
            } else {
                Ok(())
            }
        };
        if let Some((user, password)) = &credentials {
            check(user, password, 0)?;
        }
        for (user, password) in &dictionary {
            check(user, password, 0)?;
        }
        Ok(UsrPwd {
            credentials: credentials.map(|(u, p)| (u, p.into_bytes())),
            dictionary: dictionary
                .into_iter()
                .map(|(u, p)| (u.into_bytes(), p.into_bytes()))
                .collect(),
        })
    }

    /// Reads a dictionary file's text as Zenoh does: one `user:password` per line, split at
    /// the first `:`, both sides trimmed, blank lines skipped; a later line for the same
    /// user replaces an earlier one.
    pub fn parse_dictionary(text: &str) -> Result<HashMap<String, String>, UsrPwdConfigError> {
        let mut out = HashMap::new();
        for (i, line) in text.lines().enumerate() {
            let line_no = i + 1;
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let Some((user, password)) = line.split_once(':') else {
                return Err(UsrPwdConfigError::NoSeparator { line: line_no });
            };
            let (user, password) = (user.trim(), password.trim());
            if user.is_empty() {
                return Err(UsrPwdConfigError::EmptyUser { line: line_no });
            }
            if password.is_empty() {
                return Err(UsrPwdConfigError::EmptyPassword { line: line_no });
            }
            if user.len() > MAX_FIELD_LEN || password.len() > MAX_FIELD_LEN {
                return Err(UsrPwdConfigError::TooLong { line: line_no });
            }
            out.insert(user.to_owned(), password.to_owned());
        }
        Ok(out)
    }

    /// Whether usrpwd is configured at all: then every accepted link must authenticate.
    pub fn is_enabled(&self) -> bool {
        self.credentials.is_some() || !self.dictionary.is_empty()
    }

    /// Our user name, when we authenticate on the links we open.
    pub fn user(&self) -> Option<&str> {
        self.credentials.as_ref().map(|c| c.0.as_str())
    }

    /// The users of the dictionary.
    pub fn users(&self) -> impl Iterator<Item = &[u8]> {
        self.dictionary.keys().map(Vec::as_slice)
    }

    /// The OPEN syn's answer to `nonce` with our credentials, if we have some.
    pub(crate) fn answer(&self, nonce: u64) -> Option<OpenSynAuth> {
        let (user, password) = self.credentials.as_ref()?;
        Some(OpenSynAuth {
            user: Bytes::copy_from_slice(user.as_bytes()),
            hmac: Bytes::from(sign(nonce, password)),
        })
    }

    /// Checks an opener's answer to `nonce`; returns the authenticated user name.
    pub(crate) fn check(&self, nonce: u64, answer: &OpenSynAuth) -> Result<String, AuthError> {
        let shown = || String::from_utf8_lossy(&answer.user).into_owned();
        let Some(password) = self.dictionary.get(answer.user.as_ref()) else {
            return Err(AuthError::UnknownUser { user: shown() });
        };
        if !verify(nonce, password, &answer.hmac) {
            return Err(AuthError::WrongPassword { user: shown() });
        }
        String::from_utf8(answer.user.to_vec()).map_err(|_| AuthError::Malformed {
            detail: "the user name is not UTF-8".into(),
        })
    }
}

/// HMAC-SHA3-256 of the password keyed with the nonce's 8 little-endian bytes.
pub fn sign(nonce: u64, password: &[u8]) -> Vec<u8> {
    let mut mac = mac(nonce);
    mac.update(password);
    mac.finalize().into_bytes().to_vec()
}

fn mac(nonce: u64) -> HmacSha3 {
    // HMAC takes keys of any length; 8 bytes never fail.
    <HmacSha3 as Mac>::new_from_slice(&nonce.to_le_bytes()).expect("HMAC accepts an 8-byte key")
}

/// Compares in constant time.
fn verify(nonce: u64, password: &[u8], tag: &[u8]) -> bool {
    let mut mac = mac(nonce);
    mac.update(password);
    mac.verify_slice(tag).is_ok()
}

/// The usrpwd part of an OPEN syn: the user name and the HMAC of the password.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct OpenSynAuth {
    pub(crate) user: Bytes,
    pub(crate) hmac: Bytes,
}

/// Why usrpwd authentication failed, on either side.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// Acceptor: the opener did not offer usrpwd authentication, which we require.
    #[error(
        "the peer did not authenticate, and this side requires usrpwd authentication \
         (transport/auth/usrpwd is configured)"
    )]
    Missing,
    /// Acceptor: the user is not in our dictionary.
    #[error("usrpwd authentication failed: unknown user `{user}`")]
    UnknownUser {
        /// The user the peer named.
        user: String,
    },
    /// Acceptor: the HMAC does not match the user's password.
    #[error("usrpwd authentication failed: wrong password for user `{user}`")]
    WrongPassword {
        /// The user the peer named.
        user: String,
    },
    /// Opener: the acceptor closed the link in answer to our credentials.
    #[error(
        "the peer refused our usrpwd credentials (user `{user}`): it closed the link in answer \
         to our OPEN (reason {reason})"
    )]
    Refused {
        /// Our user name.
        user: String,
        /// The reason code of its CLOSE.
        reason: CloseReason,
    },
    /// Opener: the acceptor did not send a nonce, although we have credentials.
    #[error(
        "we are configured to authenticate as `{user}` but the peer does not ask for usrpwd \
         authentication (no nonce in its INIT ack)"
    )]
    NotOffered {
        /// Our user name.
        user: String,
    },
    /// Opener: the OPEN ack did not confirm the authentication.
    #[error("the peer did not confirm our usrpwd authentication (user `{user}`) in its OPEN ack")]
    NotConfirmed {
        /// Our user name.
        user: String,
    },
    /// The usrpwd part of the extension could not be decoded.
    #[error("malformed usrpwd extension: {detail}")]
    Malformed {
        /// What was wrong.
        detail: String,
    },
    /// No random nonce could be drawn.
    #[error("cannot draw a random nonce: {detail}")]
    NoRandomness {
        /// The OS error.
        detail: String,
    },
}

impl From<DecodeError> for AuthError {
    fn from(e: DecodeError) -> Self {
        AuthError::Malformed {
            detail: e.to_string(),
        }
    }
}

/// A fresh random nonce from the OS.
pub(crate) fn nonce() -> Result<u64, AuthError> {
    getrandom::u64().map_err(|e| AuthError::NoRandomness {
        detail: e.to_string(),
    })
}

/// The usrpwd entry of an Auth extension body (a list of extensions), if present.
///
/// Like Zenoh, the method is matched on its id alone and other methods are skipped.
fn find(auth: Option<&Bytes>) -> Result<Option<ExtBody>, AuthError> {
    let Some(body) = auth else {
        return Ok(None);
    };
    let mut r = Reader::new(body.clone());
    let mut exts = ExtIter::new(!body.is_empty());
    while let Some(e) = exts.next(&mut r, "Auth extension")? {
        if e.key & 0x0f == USRPWD_ID {
            return Ok(Some(e.body));
        }
    }
    Ok(None)
}

/// An Auth extension body holding only the usrpwd entry that `write` writes.
fn single(write: impl FnOnce(&mut ExtWriter, &mut Vec<u8>)) -> Bytes {
    let mut out = Vec::new();
    let mut w = ExtWriter::new();
    write(&mut w, &mut out);
    Bytes::from(out)
}

/// INIT syn: "I will authenticate" (`[02]`).
pub(crate) fn init_syn() -> Bytes {
    single(|w, out| w.unit(out, ext::UNIT | USRPWD_ID))
}

/// Whether an INIT syn's Auth extension offers usrpwd.
pub(crate) fn offered(auth: Option<&Bytes>) -> Result<bool, AuthError> {
    Ok(find(auth)?.is_some())
}

/// INIT ack: the challenge (`[22 <nonce>]`).
pub(crate) fn init_ack(nonce: u64) -> Bytes {
    single(|w, out| w.z64(out, ext::Z64 | USRPWD_ID, nonce))
}

/// The nonce of an INIT ack's Auth extension, if it has one.
pub(crate) fn read_nonce(auth: Option<&Bytes>) -> Result<Option<u64>, AuthError> {
    match find(auth)? {
        None => Ok(None),
        Some(ExtBody::Z64(nonce)) => Ok(Some(nonce)),
        Some(_) => Err(AuthError::Malformed {
            detail: "the INIT ack's usrpwd entry is not a z64 nonce".into(),
        }),
    }
}

/// OPEN syn: the answer (`[42 <len> <user;z> <hmac;z>]`).
pub(crate) fn open_syn(answer: &OpenSynAuth) -> Bytes {
    single(|w, out| {
        w.zbuf_with(out, ext::ZBUF | USRPWD_ID, |body| {
            write_zbytes(body, &answer.user);
            write_zbytes(body, &answer.hmac);
        })
    })
}

/// The answer in an OPEN syn's Auth extension, if it has one.
pub(crate) fn read_open_syn(auth: Option<&Bytes>) -> Result<Option<OpenSynAuth>, AuthError> {
    let body = match find(auth)? {
        None => return Ok(None),
        Some(ExtBody::ZBuf(body)) => body,
        Some(_) => {
            return Err(AuthError::Malformed {
                detail: "the OPEN syn's usrpwd entry is not a zbuf".into(),
            });
        }
    };
    let mut r = Reader::new(body);
    let user = r.zbytes("usrpwd user")?;
    let hmac = r.zbytes("usrpwd hmac")?;
    if user.len() > MAX_FIELD_LEN || hmac.len() > MAX_FIELD_LEN {
        return Err(AuthError::Malformed {
            detail: format!("user name or HMAC longer than {MAX_FIELD_LEN} bytes"),
        });
    }
    Ok(Some(OpenSynAuth { user, hmac }))
}

/// OPEN ack: "accepted" (`[02]`).
pub(crate) fn open_ack() -> Bytes {
    init_syn()
}

/// Whether an OPEN ack confirms usrpwd.
pub(crate) fn confirmed(auth: Option<&Bytes>) -> Result<bool, AuthError> {
    Ok(find(auth)?.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
            .collect()
    }

    /// The nonce and OPEN syn answer of `shared/wire-captures/usrpwd.jsonl`, connection 0
    /// (user `alice`, password `wonderland`, accepted) and 1 (password `wrong`, refused).
    const NONCE_0: &str = "22bacaf48d849e82b7a2";
    const ANSWER_0: &str =
        "422705616c69636520b5e2868f9a8e70f26316d0c5eb44f5d34f4097bb24cc55f1797b147a4ca6a0c5";
    const NONCE_1: &str = "22cedb8a83ac83f48de1";
    const ANSWER_1: &str =
        "422705616c696365208b1beaa408bde3cda3f3c113d556c2a696f692b81d3f7154c26a14fb3a65a3e8";

    fn alice() -> UsrPwd {
        UsrPwd::new(
            Some(("alice".into(), "wonderland".into())),
            UsrPwd::parse_dictionary("alice:wonderland\n").expect("dictionary"),
        )
        .expect("settings")
    }

    #[test]
    fn captured_zenoh_exchange_is_reproduced_byte_for_byte() {
        let nonce = read_nonce(Some(&Bytes::from(hex(NONCE_0))))
            .expect("decodes")
            .expect("has a nonce");
        let ours = alice().answer(nonce).expect("credentials");
        assert_eq!(open_syn(&ours).to_vec(), hex(ANSWER_0));
        let theirs = read_open_syn(Some(&Bytes::from(hex(ANSWER_0))))
            .expect("decodes")
            .expect("has an answer");
        assert_eq!(alice().check(nonce, &theirs), Ok("alice".to_owned()));
        assert_eq!(init_syn().to_vec(), vec![0x02]);
        assert_eq!(open_ack().to_vec(), vec![0x02]);
        assert_eq!(init_ack(nonce).to_vec(), hex(NONCE_0));
    }

    #[test]
    fn captured_wrong_password_is_refused() {
        let nonce = read_nonce(Some(&Bytes::from(hex(NONCE_1))))
            .expect("decodes")
            .expect("nonce");
        let theirs = read_open_syn(Some(&Bytes::from(hex(ANSWER_1))))
            .expect("decodes")
            .expect("answer");
        assert_eq!(
            alice().check(nonce, &theirs),
            Err(AuthError::WrongPassword {
                user: "alice".into()
            })
        );
        let wrong =
            UsrPwd::new(Some(("alice".into(), "wrong".into())), HashMap::new()).expect("settings");
        assert_eq!(wrong.answer(nonce), Some(theirs));
        let bob = OpenSynAuth {
            user: Bytes::from_static(b"bob"),
            hmac: Bytes::from(sign(nonce, b"wonderland")),
        };
        assert_eq!(
            alice().check(nonce, &bob),
            Err(AuthError::UnknownUser { user: "bob".into() })
        );
    }

    #[test]
    fn other_methods_are_skipped_and_junk_is_an_error_not_a_panic() {
        // pubkey (id 1, zbuf) first, then usrpwd.
        let mixed = Bytes::from(hex("c102aabb22bacaf48d849e82b7a2"));
        assert!(read_nonce(Some(&mixed)).expect("decodes").is_some());
        assert_eq!(read_nonce(None), Ok(None));
        assert_eq!(read_nonce(Some(&Bytes::new())), Ok(None));
        assert!(read_nonce(Some(&Bytes::from_static(&[0x02]))).is_err());
        let answer = hex(ANSWER_0);
        for cut in 0..answer.len() {
            let _ = read_open_syn(Some(&Bytes::copy_from_slice(&answer[..cut])));
        }
        assert!(read_open_syn(Some(&Bytes::from(hex("4203ff0000")))).is_err());
    }

    #[test]
    fn dictionary_follows_zenoh_format_and_errors_name_the_line() {
        let d = UsrPwd::parse_dictionary(" alice : wonder:land \n\n bob:builder\n").expect("valid");
        assert_eq!(d.get("alice").map(String::as_str), Some("wonder:land"));
        assert_eq!(d.get("bob").map(String::as_str), Some("builder"));
        assert_eq!(
            UsrPwd::parse_dictionary("a:b\nnocolon"),
            Err(UsrPwdConfigError::NoSeparator { line: 2 })
        );
        assert_eq!(
            UsrPwd::parse_dictionary(":pw"),
            Err(UsrPwdConfigError::EmptyUser { line: 1 })
        );
        assert_eq!(
            UsrPwd::parse_dictionary("\nuser:"),
            Err(UsrPwdConfigError::EmptyPassword { line: 2 })
        );
        let shown = format!("{:?}", alice());
        assert!(!shown.contains("wonderland"), "{shown}");
        assert!(!UsrPwd::default().is_enabled());
        assert!(alice().is_enabled());
    }
}
