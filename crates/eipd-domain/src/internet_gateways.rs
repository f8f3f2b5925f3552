//! Internet gateways: a VPC needs one attached before its addresses can be associated.

use crate::describe::Described;
use crate::error::{ApiError, ApiResult};
use crate::ids::*;
use crate::model::*;
use crate::state::{Partition, Record, RecordKey, Tx};
use crate::vpcs::vpc;

pub fn internet_gateway<'a>(part: &'a Partition, id: &InternetGatewayId) -> ApiResult<&'a InternetGateway> {
    part.internet_gateway(id).ok_or_else(|| ApiError::invalid_internet_gateway_id_not_found(id.as_str()))
}

pub fn create_internet_gateway(tx: &mut Tx, tags: Tags) -> InternetGateway {
    let igw = InternetGateway { id: InternetGatewayId::generate(), attached_vpc: None, tags };
    tx.put(Record::InternetGateway(igw.clone()));
    igw
}

pub fn attach_internet_gateway(tx: &mut Tx, id: &InternetGatewayId, vpc_id: &VpcId) -> ApiResult<()> {
    let mut igw = internet_gateway(tx.part(), id)?.clone();
    vpc(tx.part(), vpc_id)?;
    if let Some(attached) = &igw.attached_vpc {
        return Err(ApiError::resource_already_associated_raw(format!(
            "resource {id} is already attached to network {attached}"
        )));
    }
    if let Some(other) = tx.part().gateway_of(vpc_id) {
        return Err(ApiError::resource_already_associated_raw(format!(
            "Network {vpc_id} already has an internet gateway attached ({})",
            other.id
        )));
    }
    igw.attached_vpc = Some(vpc_id.clone());
    tx.put(Record::InternetGateway(igw));
    Ok(())
}

/// Detaching is refused while the VPC has mapped public addresses, as in AWS.
pub fn detach_internet_gateway(tx: &mut Tx, id: &InternetGatewayId, vpc_id: &VpcId) -> ApiResult<()> {
    let mut igw = internet_gateway(tx.part(), id)?.clone();
    vpc(tx.part(), vpc_id)?;
    if igw.attached_vpc.as_ref() != Some(vpc_id) {
        return Err(ApiError::gateway_not_attached_raw(format!("resource {id} is not attached to network {vpc_id}")));
    }
    let part = tx.part();
    let mapped = part.interfaces().any(|eni| &eni.vpc_id == vpc_id && !part.public_ipv4s(eni).is_empty());
    if mapped {
        return Err(ApiError::dependency_violation(format!(
            "Network {vpc_id} has some mapped public address(es). Please unmap those public \
             address(es) before detaching the gateway."
        )));
    }
    igw.attached_vpc = None;
    tx.put(Record::InternetGateway(igw));
    Ok(())
}

pub fn delete_internet_gateway(tx: &mut Tx, id: &InternetGatewayId) -> ApiResult<()> {
    let igw = internet_gateway(tx.part(), id)?;
    let edge = tx.part().route_table_associated_with(&AssociatedWith::Gateway(id.clone())).is_some();
    if igw.attached_vpc.is_some() || edge {
        return Err(ApiError::dependency_violation(format!(
            "The internetGateway '{id}' has dependencies and cannot be deleted."
        )));
    }
    tx.delete(RecordKey::InternetGateway(id.clone()));
    Ok(())
}

impl Described for InternetGateway {
    type Id = InternetGatewayId;
    const FILTERS: &'static [&'static str] =
        &["internet-gateway-id", "attachment.vpc-id", "attachment.state", "owner-id"];

    fn all(part: &Partition) -> Vec<&Self> {
        part.internet_gateways().collect()
    }

    fn get<'p>(part: &'p Partition, id: &InternetGatewayId) -> Option<&'p Self> {
        part.internet_gateway(id)
    }

    fn id(&self) -> &InternetGatewayId {
        &self.id
    }

    fn tags(&self) -> &Tags {
        &self.tags
    }

    fn not_found(missing: &[&InternetGatewayId]) -> ApiError {
        ApiError::invalid_internet_gateway_id_not_found(missing[0].as_str())
    }

    fn filter_values(&self, _: &Partition, scope: &Scope, name: &str) -> Vec<String> {
        match name {
            "internet-gateway-id" => vec![self.id.to_string()],
            "attachment.vpc-id" => self.attached_vpc.iter().map(ToString::to_string).collect(),
            "attachment.state" => self.attached_vpc.iter().map(|_| "available".to_owned()).collect(),
            "owner-id" => vec![scope.account.to_string()],
            _ => Vec::new(),
        }
    }

    fn page_key(&self) -> String {
        self.id.to_string()
    }
}
