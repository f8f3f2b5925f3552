//! What the stores persist: one record per resource, under its key.

use std::hash::Hash;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use crate::ids::*;
use crate::model::*;

/// A stored record, as the store persists it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Record {
    Address(Address),
    Vpc(Vpc),
    Subnet(Subnet),
    InternetGateway(InternetGateway),
    NetworkInterface(NetworkInterface),
    Instance(Instance),
    SecurityGroup(SecurityGroup),
    RouteTable(RouteTable),
    NatGateway(NatGateway),
    KeyPair(KeyPair),
    DhcpOptions(DhcpOptions),
    EndedAssociation { id: AssociationId, ended_at: i64 },
}

impl Record {
    /// Decodes a stored record of `kind` (its key's [`RecordKey::kind`])
    /// straight into that kind's struct: decoding the enum by its `kind`
    /// field would first buffer every field (serde's internally tagged
    /// enums), which made decoding the larger part of a start-up.
    pub fn decode(kind: &str, json: &[u8]) -> serde_json::Result<Record> {
        #[derive(Deserialize)]
        struct Ended {
            id: AssociationId,
            ended_at: i64,
        }
        Ok(match kind {
            "address" => Record::Address(serde_json::from_slice(json)?),
            "vpc" => Record::Vpc(serde_json::from_slice(json)?),
            "subnet" => Record::Subnet(serde_json::from_slice(json)?),
            "igw" => Record::InternetGateway(serde_json::from_slice(json)?),
            "eni" => Record::NetworkInterface(serde_json::from_slice(json)?),
            "instance" => Record::Instance(serde_json::from_slice(json)?),
            "sg" => Record::SecurityGroup(serde_json::from_slice(json)?),
            "rtb" => Record::RouteTable(serde_json::from_slice(json)?),
            "nat" => Record::NatGateway(serde_json::from_slice(json)?),
            "key" => Record::KeyPair(serde_json::from_slice(json)?),
            "dopt" => Record::DhcpOptions(serde_json::from_slice(json)?),
            "ended" => {
                let Ended { id, ended_at } = serde_json::from_slice(json)?;
                Record::EndedAssociation { id, ended_at }
            }
            _ => return Err(serde::de::Error::custom(format!("unknown record kind {kind:?}"))),
        })
    }

    pub fn key(&self) -> RecordKey {
        match self {
            Record::Address(a) => RecordKey::Address(a.public_ip),
            Record::Vpc(v) => RecordKey::Vpc(v.id.clone()),
            Record::Subnet(s) => RecordKey::Subnet(s.id.clone()),
            Record::InternetGateway(g) => RecordKey::InternetGateway(g.id.clone()),
            Record::NetworkInterface(n) => RecordKey::NetworkInterface(n.id.clone()),
            Record::Instance(i) => RecordKey::Instance(i.id.clone()),
            Record::SecurityGroup(g) => RecordKey::SecurityGroup(g.id.clone()),
            Record::RouteTable(t) => RecordKey::RouteTable(t.id.clone()),
            Record::NatGateway(g) => RecordKey::NatGateway(g.id.clone()),
            Record::KeyPair(k) => RecordKey::KeyPair(k.id.clone()),
            Record::DhcpOptions(d) => RecordKey::DhcpOptions(d.id.clone()),
            Record::EndedAssociation { id, .. } => RecordKey::EndedAssociation(id.clone()),
        }
    }

    /// The pool IPs this record holds.
    pub(super) fn public_ips(&self) -> impl Iterator<Item = Ipv4Addr> {
        let ip = match self {
            Record::Address(a) => Some(a.public_ip),
            Record::NetworkInterface(n) => n.auto_public_ip,
            _ => None,
        };
        ip.into_iter()
    }
}

/// The identity of a record within its partition.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RecordKey {
    Address(Ipv4Addr),
    Vpc(VpcId),
    Subnet(SubnetId),
    InternetGateway(InternetGatewayId),
    NetworkInterface(NetworkInterfaceId),
    Instance(InstanceId),
    SecurityGroup(SecurityGroupId),
    RouteTable(RouteTableId),
    NatGateway(NatGatewayId),
    KeyPair(KeyPairId),
    DhcpOptions(DhcpOptionsId),
    EndedAssociation(AssociationId),
}

impl RecordKey {
    /// The inverse of [`RecordKey::encode`].
    pub fn decode(s: &str) -> Option<Self> {
        let (kind, id) = s.split_once('/')?;
        Some(match kind {
            "address" => RecordKey::Address(id.parse().ok()?),
            "vpc" => RecordKey::Vpc(VpcId::parse(id)?),
            "subnet" => RecordKey::Subnet(SubnetId::parse(id)?),
            "igw" => RecordKey::InternetGateway(InternetGatewayId::parse(id)?),
            "eni" => RecordKey::NetworkInterface(NetworkInterfaceId::parse(id)?),
            "instance" => RecordKey::Instance(InstanceId::parse(id)?),
            "sg" => RecordKey::SecurityGroup(SecurityGroupId::parse(id)?),
            "rtb" => RecordKey::RouteTable(RouteTableId::parse(id)?),
            "nat" => RecordKey::NatGateway(NatGatewayId::parse(id)?),
            "key" => RecordKey::KeyPair(KeyPairId::parse(id)?),
            "dopt" => RecordKey::DhcpOptions(DhcpOptionsId::parse(id)?),
            "ended" => RecordKey::EndedAssociation(AssociationId::parse(id)?),
            _ => return None,
        })
    }

    /// The kind part of the key: `address`, `vpc`, …
    pub fn kind(&self) -> &'static str {
        match self {
            RecordKey::Address(_) => "address",
            RecordKey::Vpc(_) => "vpc",
            RecordKey::Subnet(_) => "subnet",
            RecordKey::InternetGateway(_) => "igw",
            RecordKey::NetworkInterface(_) => "eni",
            RecordKey::Instance(_) => "instance",
            RecordKey::SecurityGroup(_) => "sg",
            RecordKey::RouteTable(_) => "rtb",
            RecordKey::NatGateway(_) => "nat",
            RecordKey::KeyPair(_) => "key",
            RecordKey::DhcpOptions(_) => "dopt",
            RecordKey::EndedAssociation(_) => "ended",
        }
    }

    /// `kind/id`, the key under which a backend stores the record.
    pub fn encode(&self) -> String {
        let kind = self.kind();
        match self {
            RecordKey::Address(ip) => format!("{kind}/{ip}"),
            RecordKey::Vpc(id) => format!("{kind}/{id}"),
            RecordKey::Subnet(id) => format!("{kind}/{id}"),
            RecordKey::InternetGateway(id) => format!("{kind}/{id}"),
            RecordKey::NetworkInterface(id) => format!("{kind}/{id}"),
            RecordKey::Instance(id) => format!("{kind}/{id}"),
            RecordKey::SecurityGroup(id) => format!("{kind}/{id}"),
            RecordKey::RouteTable(id) => format!("{kind}/{id}"),
            RecordKey::NatGateway(id) => format!("{kind}/{id}"),
            RecordKey::KeyPair(id) => format!("{kind}/{id}"),
            RecordKey::DhcpOptions(id) => format!("{kind}/{id}"),
            RecordKey::EndedAssociation(id) => format!("{kind}/{id}"),
        }
    }
}
