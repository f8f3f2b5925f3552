//! SSH key pairs: made by EC2 (CreateKeyPair, which hands out the private key
//! once) or imported from a public key (ImportKeyPair), with the
//! fingerprints EC2 computes for each kind.

use md5::Md5;
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
use rsa::traits::PublicKeyParts;
use sha1::{Digest, Sha1};
use ssh_key::public::KeyData;
use ssh_key::{Algorithm, HashAlg, PrivateKey, PublicKey};

use crate::describe::Described;
use crate::error::{ApiError, ApiResult};
use crate::ids::*;
use crate::model::*;
use crate::state::{Partition, Record, RecordKey, Tx};

/// The size of the RSA keys CreateKeyPair makes, as EC2's.
const RSA_BITS: usize = 2048;
/// The RSA sizes ImportKeyPair takes: EC2 documents 1024, 2048 and 4096
/// bits; ssh-keygen's default, 3072, is taken as well.
const IMPORTED_RSA_BITS: std::ops::RangeInclusive<usize> = 1024..=4096;
/// EC2's limit on a key pair's name.
const MAX_NAME_LEN: usize = 255;

/// A key pair made here: the record to keep and the private key to give once.
pub struct Created {
    pub key_pair: KeyPair,
    pub private_key: String,
}

/// The material CreateKeyPair makes: the private key in the format EC2 gives
/// (PKCS#1 PEM for RSA, OpenSSH for ED25519), the public key line and the
/// fingerprint (RSA: SHA-1 of the PKCS#8 DER private key; ED25519: base64
/// SHA-256 of the public key).
pub struct Material {
    pub private_key: String,
    pub public_key: String,
    pub fingerprint: String,
}

pub fn generate(key_type: KeyType, name: &str) -> ApiResult<Material> {
    let failed = |e: &dyn std::fmt::Display| ApiError::internal_error(format!("key generation failed: {e}"));
    match key_type {
        KeyType::Rsa => {
            let private = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, RSA_BITS).map_err(|e| failed(&e))?;
            let pem = private.to_pkcs1_pem(LineEnding::LF).map_err(|e| failed(&e))?;
            let der = private.to_pkcs8_der().map_err(|e| failed(&e))?;
            let public = ssh_key::public::RsaPublicKey::try_from(private.to_public_key()).map_err(|e| failed(&e))?;
            let mut public = PublicKey::from(KeyData::Rsa(public));
            public.set_comment(name);
            Ok(Material {
                private_key: pem.to_string(),
                public_key: public.to_openssh().map_err(|e| failed(&e))?,
                fingerprint: colon_hex(&Sha1::digest(der.as_bytes())),
            })
        }
        KeyType::Ed25519 => {
            let mut private =
                PrivateKey::random(&mut ssh_key::rand_core::OsRng, Algorithm::Ed25519).map_err(|e| failed(&e))?;
            private.set_comment(name);
            let openssh = private.to_openssh(ssh_key::LineEnding::LF).map_err(|e| failed(&e))?;
            Ok(Material {
                private_key: openssh.to_string(),
                public_key: private.public_key().to_openssh().map_err(|e| failed(&e))?,
                fingerprint: sha256_base64(private.public_key()),
            })
        }
    }
}

/// An imported public key (an OpenSSH public key line): its type, its line
/// as kept, and its fingerprint (RSA: MD5 of the DER public key; ED25519:
/// base64 SHA-256 of the public key).
/// `material` is the request's `PublicKeyMaterial`: a blob, so base64 on the
/// wire, but a key line sent as it is is taken too.
pub fn imported(material: &str) -> ApiResult<(KeyType, String, String)> {
    use base64::Engine;
    let invalid = || ApiError::invalid_key_format("Key is not in valid OpenSSH public key format");
    let decoded = base64::engine::general_purpose::STANDARD.decode(material.trim()).ok();
    let text = match decoded.as_deref().map(std::str::from_utf8) {
        Some(Ok(text)) => text,
        Some(Err(_)) => return Err(invalid()),
        None => material,
    };
    let public = PublicKey::from_openssh(text.trim()).map_err(|_| invalid())?;
    let line = public.to_openssh().map_err(|_| invalid())?;
    match public.key_data() {
        KeyData::Ed25519(_) => Ok((KeyType::Ed25519, line, sha256_base64(&public))),
        KeyData::Rsa(key) => {
            let key = rsa::RsaPublicKey::try_from(key).map_err(|_| invalid())?;
            if !IMPORTED_RSA_BITS.contains(&(key.size() * 8)) {
                return Err(ApiError::invalid_parameter_value(format!(
                    "Invalid RSA key length {}: EC2 takes 1024 to 4096 bits",
                    key.size() * 8
                )));
            }
            let der = key.to_public_key_der().map_err(|_| invalid())?;
            Ok((KeyType::Rsa, line, colon_hex(&Md5::digest(der.as_bytes()))))
        }
        _ => Err(invalid()),
    }
}

/// `1f:51:ae:…`, as EC2 writes RSA fingerprints.
fn colon_hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}

/// OpenSSH's SHA-256 fingerprint as EC2 writes it: base64 with its padding,
/// without the `SHA256:` label.
fn sha256_base64(public: &PublicKey) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(public.fingerprint(HashAlg::Sha256).as_bytes())
}

/// Names: 1 to 255 ASCII characters (EC2's rule).
pub fn check_name(name: &str) -> ApiResult<()> {
    if name.is_empty() || name.len() > MAX_NAME_LEN || !name.is_ascii() {
        return Err(ApiError::invalid_parameter_value(format!(
            "Value ({name}) for parameter keyName is invalid. Key pair names are 1 to {MAX_NAME_LEN} ASCII characters."
        )));
    }
    Ok(())
}

/// Stores a new key pair; its name must be free.
pub fn add_key_pair(
    tx: &mut Tx,
    name: &str,
    key_type: KeyType,
    public_key: String,
    fingerprint: String,
    tags: Tags,
) -> ApiResult<KeyPair> {
    check_name(name)?;
    if tx.part().key_pair_named(name).is_some() {
        return Err(ApiError::invalid_key_pair_duplicate(format!("The keypair '{name}' already exists.")));
    }
    let key_pair = KeyPair {
        id: KeyPairId::generate(),
        name: name.to_owned(),
        key_type,
        fingerprint,
        public_key,
        create_time: tx.now,
        tags,
    };
    tx.put(Record::KeyPair(key_pair.clone()));
    Ok(key_pair)
}

/// How DeleteKeyPair names a pair.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyPairRef {
    Name(String),
    Id(KeyPairId),
}

/// DeleteKeyPair is idempotent, as EC2's: a pair that is not there is
/// deleted already. Answers the deleted pair's id.
pub fn delete_key_pair(tx: &mut Tx, which: &KeyPairRef) -> ApiResult<Option<KeyPairId>> {
    let found = match which {
        KeyPairRef::Name(name) => tx.part().key_pair_named(name),
        KeyPairRef::Id(id) => tx.part().key_pair(id),
    };
    let Some(id) = found.map(|k| k.id.clone()) else { return Ok(None) };
    tx.delete(RecordKey::KeyPair(id.clone()));
    Ok(Some(id))
}

/// The pairs named in DescribeKeyPairs' `KeyName.N`, or NotFound for the
/// first that is not there.
pub fn ids_of_names(part: &Partition, names: &[String]) -> ApiResult<Vec<KeyPairId>> {
    names
        .iter()
        .map(|name| {
            part.key_pair_named(name).map(|k| k.id.clone()).ok_or_else(|| ApiError::invalid_key_pair_not_found(name))
        })
        .collect()
}

impl Described for KeyPair {
    type Id = KeyPairId;
    const FILTERS: &'static [&'static str] = &["key-pair-id", "key-name", "fingerprint", "key-type"];

    fn all(part: &Partition) -> Vec<&Self> {
        let mut all: Vec<&KeyPair> = part.key_pairs().collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all
    }

    fn get<'p>(part: &'p Partition, id: &KeyPairId) -> Option<&'p Self> {
        part.key_pair(id)
    }

    fn id(&self) -> &KeyPairId {
        &self.id
    }

    fn tags(&self) -> &Tags {
        &self.tags
    }

    fn not_found(missing: &[&KeyPairId]) -> ApiError {
        ApiError::invalid_key_pair_id_not_found(missing[0].as_str())
    }

    fn filter_values(&self, _part: &Partition, _scope: &Scope, name: &str) -> Vec<String> {
        match name {
            "key-pair-id" => vec![self.id.to_string()],
            "key-name" => vec![self.name.clone()],
            "fingerprint" => vec![self.fingerprint.clone()],
            "key-type" => vec![self.key_type.as_str().to_owned()],
            _ => Vec::new(),
        }
    }

    fn page_key(&self) -> String {
        self.name.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_keys_and_their_fingerprints() {
        let ed = generate(KeyType::Ed25519, "ed").unwrap();
        assert!(ed.private_key.starts_with("-----BEGIN OPENSSH PRIVATE KEY-----\n"));
        assert!(ed.public_key.starts_with("ssh-ed25519 ") && ed.public_key.ends_with(" ed"));
        assert_eq!(ed.fingerprint.len(), 44, "base64 of 32 bytes, padded: {}", ed.fingerprint);
        let (kind, _, fingerprint) = imported(&ed.public_key).unwrap();
        assert_eq!((kind, fingerprint), (KeyType::Ed25519, ed.fingerprint), "the same rule for an imported key");

        let rsa = generate(KeyType::Rsa, "rsa").unwrap();
        assert!(rsa.private_key.starts_with("-----BEGIN RSA PRIVATE KEY-----\n"));
        assert!(rsa.public_key.starts_with("ssh-rsa "));
        assert_eq!(rsa.fingerprint.len(), 20 * 3 - 1, "SHA-1, colon-separated: {}", rsa.fingerprint);
        let (kind, _, imported_fingerprint) = imported(&rsa.public_key).unwrap();
        assert_eq!(kind, KeyType::Rsa);
        assert_eq!(imported_fingerprint.len(), 16 * 3 - 1, "MD5 when imported: {imported_fingerprint}");
    }

    #[test]
    fn imported_keys_must_be_openssh_public_keys() {
        for bad in ["", "hello", "ssh-rsa AAAA", "-----BEGIN PUBLIC KEY-----", "//79"] {
            assert_eq!(imported(bad).unwrap_err().code, "InvalidKey.Format", "{bad:?}");
        }
        use base64::Engine;
        let line = generate(KeyType::Ed25519, "k").unwrap().public_key;
        let wire = base64::engine::general_purpose::STANDARD.encode(&line);
        assert_eq!(imported(&wire).unwrap().1, line, "as the SDKs send it: base64");
    }

    #[test]
    fn names_are_ascii_and_at_most_255() {
        assert!(check_name("my-key").is_ok());
        assert!(check_name("").is_err());
        assert!(check_name(&"k".repeat(256)).is_err());
        assert!(check_name("clé").is_err());
    }
}
