//! Key pairs: CreateKeyPair, ImportKeyPair, DescribeKeyPairs, DeleteKeyPair.

use super::render::Renderer;
use super::{
    Ctx, DescribeOutput, Output, Render, describe_query, malformed_param, parse_id, rendered, tags_for, tags_of,
};
use eipd_domain::error::{ApiError, ApiResult};
use eipd_domain::key_pairs::{self as rules, KeyPairRef};
use eipd_domain::view::timestamp;
use eipd_domain::{KeyPair, KeyPairId, KeyType};
use eipd_protocol::{Params, ToXml, XmlWriter};

pub(crate) fn key_pair_id(ctx: &Ctx<'_>, value: &str) -> ApiResult<KeyPairId> {
    parse_id(
        ctx,
        value,
        KeyPairId::parse,
        malformed_param("KeyPairId", "key-"),
        ApiError::invalid_key_pair_id_not_found,
    )
}

fn key_type(p: &mut Params) -> ApiResult<KeyType> {
    match p.take_str("KeyType") {
        None => Ok(KeyType::Rsa),
        Some(v) => KeyType::parse(&v).ok_or_else(|| {
            ApiError::invalid_parameter_value(format!(
                "Value ({v}) for parameter KeyType is invalid. Expected one of: rsa, ed25519."
            ))
        }),
    }
}

pub async fn create_key_pair(ctx: &Ctx<'_>, mut p: Params) -> ApiResult<Output> {
    let name = p.require_str("KeyName")?;
    rules::check_name(&name)?;
    let key_type = key_type(&mut p)?;
    match p.take_str("KeyFormat").as_deref() {
        None | Some("pem") => {}
        // PuTTY's format is not written by eipd.
        Some("ppk") => return Err(ApiError::unsupported_parameter("KeyFormat=ppk")),
        Some(other) => {
            return Err(ApiError::invalid_parameter_value(format!(
                "Value ({other}) for parameter KeyFormat is invalid. Expected one of: pem, ppk."
            )));
        }
    }
    let tags = tags_of(&tags_for(&p.take_tag_specifications()?, &["key-pair"])?, "key-pair");
    ctx.finish_and_authorize(p)?;
    let material = rules::generate(key_type, &name)?;
    let (public_key, fingerprint) = (material.public_key, material.fingerprint);
    let key_pair = ctx
        .write(move |tx| {
            rules::add_key_pair(tx, &name, key_type, public_key.clone(), fingerprint.clone(), tags.clone())
        })
        .await?;
    Ok(Box::new(CreateKeyPairOutput { key_pair, private_key: material.private_key }))
}

struct CreateKeyPairOutput {
    key_pair: KeyPair,
    private_key: String,
}

impl ToXml for CreateKeyPairOutput {
    fn write_xml(&self, w: &mut XmlWriter) {
        let k = &self.key_pair;
        w.text("keyName", &k.name);
        w.text("keyFingerprint", &k.fingerprint);
        w.text("keyMaterial", &self.private_key);
        w.display("keyPairId", &k.id);
        w.tag_set("tagSet", &k.tags);
    }
}

pub async fn import_key_pair(ctx: &Ctx<'_>, mut p: Params) -> ApiResult<Output> {
    let name = p.require_str("KeyName")?;
    rules::check_name(&name)?;
    let material = p.require_str("PublicKeyMaterial")?;
    let tags = tags_of(&tags_for(&p.take_tag_specifications()?, &["key-pair"])?, "key-pair");
    ctx.finish_and_authorize(p)?;
    let (key_type, public_key, fingerprint) = rules::imported(&material)?;
    let key_pair = ctx
        .write(move |tx| {
            rules::add_key_pair(tx, &name, key_type, public_key.clone(), fingerprint.clone(), tags.clone())
        })
        .await?;
    Ok(Box::new(ImportKeyPairOutput(key_pair)))
}

struct ImportKeyPairOutput(KeyPair);

impl ToXml for ImportKeyPairOutput {
    fn write_xml(&self, w: &mut XmlWriter) {
        w.text("keyFingerprint", &self.0.fingerprint);
        w.text("keyName", &self.0.name);
        w.display("keyPairId", &self.0.id);
        w.tag_set("tagSet", &self.0.tags);
    }
}

/// KeyPairInfo; the public key only when IncludePublicKey asked for it.
struct KeyPairInfo<'a> {
    key_pair: &'a KeyPair,
    include_public_key: bool,
}

impl KeyPairInfo<'_> {
    fn write(&self, w: &mut XmlWriter) {
        let k = self.key_pair;
        w.display("keyPairId", &k.id);
        w.text("keyType", k.key_type.as_str());
        w.tag_set("tagSet", &k.tags);
        if self.include_public_key {
            w.text("publicKey", &k.public_key);
        }
        w.text("createTime", &timestamp(k.create_time));
        w.text("keyName", &k.name);
        w.text("keyFingerprint", &k.fingerprint);
    }
}

impl Render for KeyPair {
    const ELEMENT: &'static str = "keyPair";
    const SET: &'static str = "keySet";

    fn write(&self, w: &mut XmlWriter, _r: &Renderer<'_>) {
        KeyPairInfo { key_pair: self, include_public_key: false }.write(w);
    }
}

pub async fn describe_key_pairs(ctx: &Ctx<'_>, mut p: Params) -> ApiResult<Output> {
    let mut query = describe_query(ctx, &mut p, "KeyPairId", key_pair_id)?;
    let names = p.take_list("KeyName")?;
    let include_public_key = p.take_bool("IncludePublicKey")?.unwrap_or(false);
    ctx.finish_and_authorize(p)?;
    let part = ctx.read().await?;
    query.ids.extend(rules::ids_of_names(&part, &names)?);
    let page = eipd_domain::describe::describe::<KeyPair>(&part, ctx.scope(), &query)?;
    if !include_public_key {
        return Ok(rendered(&DescribeOutput { page, r: ctx.renderer(&part) }));
    }
    Ok(rendered(&DescribeKeyPairsWithPublicKeys(page.items)))
}

struct DescribeKeyPairsWithPublicKeys<'a>(Vec<&'a KeyPair>);

impl ToXml for DescribeKeyPairsWithPublicKeys<'_> {
    fn write_xml(&self, w: &mut XmlWriter) {
        w.list(KeyPair::SET, &self.0, |w, k| KeyPairInfo { key_pair: k, include_public_key: true }.write(w));
    }
}

pub async fn delete_key_pair(ctx: &Ctx<'_>, mut p: Params) -> ApiResult<Output> {
    let name = p.take_str("KeyName");
    let id = p.take_str("KeyPairId").map(|v| key_pair_id(ctx, &v)).transpose()?;
    let which = match (name, id) {
        (Some(name), None) => KeyPairRef::Name(name),
        (None, Some(id)) => KeyPairRef::Id(id),
        (None, None) => {
            return Err(ApiError::missing_parameter("The request must contain the parameter KeyName or KeyPairId"));
        }
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid_parameter_combination(
                "The parameters KeyName and KeyPairId cannot be used together",
            ));
        }
    };
    ctx.finish_and_authorize(p)?;
    let deleted = ctx.write(move |tx| rules::delete_key_pair(tx, &which)).await?;
    Ok(Box::new(DeleteKeyPairOutput(deleted)))
}

struct DeleteKeyPairOutput(Option<KeyPairId>);

impl ToXml for DeleteKeyPairOutput {
    fn write_xml(&self, w: &mut XmlWriter) {
        w.display("return", true);
        w.opt_display("keyPairId", self.0.as_ref());
    }
}
