//! Related resources: what a policy that follows `Related.<name>` sees, and which resources
//! depend on a resource that changed.
//!
//! A kind declares its references once ([`crate::registry::Relation`]: which attribute holds
//! which related id or ARN). A policy's condition reads `Related.<name>` paths; the relations it
//! follows, nested (an instance's subnet's route table), are derived from those paths
//! ([`RelatedReads`]), never declared by the policy. Before such a policy is evaluated, the
//! resource's configuration is extended into its *document*: its own fields, its `ResourceArn`,
//! and under `Related.<name>` the documents of the related resources, as far as the policy reads
//! ([`RelatedIndex::document`]). The condition then quantifies over them as over any array, and
//! its evidence names each related resource on the path by its `ResourceArn`.
//!
//! A [`RelatedIndex`] holds one account's resources of the types the policies reach, loaded once
//! (a partition at a time) and indexed by the values relations join on, so resolving a reference
//! costs a hash lookup, never a read. The same index answers the event processor's question when
//! a related resource changes: which resources' documents reach it ([`RelatedIndex::reaching`]).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::{Map, Value};

use crate::model::Resource;
use crate::policy::cond::Path;
use crate::policy::schema::{Field, Type, RELATED, RESOURCE_ARN};
use crate::registry::{self, Relation};
use crate::store::object_data::BucketData;

/// What the object scanner found in a bucket, as a related resource of the bucket
/// (`Related.ObjectData`): not collected from AWS, derived from the object scans
/// ([`crate::store::object_data`]). Its ARN is the bucket's objects, `arn:aws:s3:::<bucket>/*`.
pub const OBJECT_DATA: &str = "QRIE::S3::ObjectData";

/// The fields of [`OBJECT_DATA`].
pub const OBJECT_DATA_FIELDS: &[Field] = &[
    Field::new("Bucket", Type::String),
    Field::new(RESOURCE_ARN, Type::String),
    // Units (objects, or parts of large ones) with at least one finding.
    Field::new("Units", Type::Number),
    Field::new("Findings", Type::Number),
    Field::new(
        "Detectors",
        Type::Array(&Type::Object(&[
            Field::new("Detector", Type::String),
            Field::new("Count", Type::Number),
            // One match, masked.
            Field::new("Sample", Type::String),
        ])),
    ),
    Field::new("LastFoundAt", Type::String),
];

/// The fields of a related type that no collector produces ([`OBJECT_DATA`]), if it is one.
pub fn derived_fields(resource_type: &str) -> Option<&'static [Field]> {
    (resource_type == OBJECT_DATA).then_some(OBJECT_DATA_FIELDS)
}

/// A bucket's object data as a related resource.
pub fn object_data_resource(data: &BucketData) -> Resource {
    let partition = crate::arn::partition_for_region(&data.region);
    let findings: u64 = data.detectors.values().map(|d| d.count).sum();
    let detectors: Vec<Value> = data
        .detectors
        .iter()
        .map(
            |(name, d)| serde_json::json!({"Detector": name, "Count": d.count, "Sample": d.sample}),
        )
        .collect();
    Resource {
        arn: format!("arn:{partition}:s3:::{}/*", data.bucket),
        account_id: data.account_id.clone(),
        service: crate::model::Service::S3,
        resource_type: OBJECT_DATA.to_owned(),
        region: data.region.clone(),
        configuration: serde_json::json!({
            "Bucket": data.bucket,
            "Units": data.units,
            "Findings": findings,
            "Detectors": detectors,
            "LastFoundAt": data.last_found_at,
        }),
        last_seen_at: chrono::DateTime::parse_from_rfc3339(&data.last_found_at)
            .map(|t| t.with_timezone(&chrono::Utc))
            .unwrap_or_else(|_| chrono::Utc::now()),
    }
}

/// The relations a policy follows, as a tree: from its resource type, each relation it reads and
/// what it reads below it.
#[derive(Debug, Clone, Default)]
pub struct RelatedReads {
    pub follows: BTreeMap<&'static str, (&'static Relation, RelatedReads)>,
}

impl RelatedReads {
    /// The relations the paths `reads` follow from a resource of `resource_type` (the policy's
    /// reads, which the loader has checked against the schema).
    pub fn from_reads(resource_type: &str, reads: &[Path]) -> Self {
        let mut tree = RelatedReads::default();
        for path in reads {
            let segments: Vec<&str> = path.segments().iter().map(String::as_str).collect();
            tree.add(resource_type, &segments);
        }
        tree
    }

    fn add(&mut self, resource_type: &str, segments: &[&str]) {
        let Some(at) = segments.iter().position(|s| *s == RELATED) else {
            return;
        };
        let Some(name) = segments.get(at + 1) else {
            return;
        };
        let Some(relation) = registry::relation(resource_type, name) else {
            return;
        };
        let (_, below) = self
            .follows
            .entry(relation.name)
            .or_insert_with(|| (relation, RelatedReads::default()));
        // Below the relation, paths may index the array (`Related.Subnet.0.Related...`).
        let rest: Vec<&str> = segments[at + 2..]
            .iter()
            .copied()
            .skip_while(|s| s.parse::<usize>().is_ok())
            .collect();
        below.add(relation.target_type(), &rest);
    }

    /// True when the policy follows no relation.
    pub fn is_empty(&self) -> bool {
        self.follows.is_empty()
    }

    /// Every type the tree reaches (the related kinds an index must hold).
    pub fn types(&self) -> BTreeSet<&'static str> {
        let mut out = BTreeSet::new();
        for (relation, below) in self.follows.values() {
            out.insert(relation.target_type());
            if let Some(otherwise) = relation.otherwise {
                out.insert(otherwise.target_type());
            }
            out.extend(below.types());
        }
        out
    }
}

/// The string values at a dotted path, through arrays at any step (`SecurityGroupIds`,
/// `VpcSecurityGroups.VpcSecurityGroupId`, `DBSubnetGroup.SubnetIds`).
pub fn values_at<'v>(config: &'v Value, path: &str) -> Vec<&'v str> {
    let mut current: Vec<&Value> = vec![config];
    for segment in path.split('.') {
        let mut next = Vec::new();
        for value in current {
            match value {
                Value::Object(map) => {
                    if let Some(v) = map.get(segment) {
                        next.push(v);
                    }
                }
                Value::Array(items) => next.extend(items.iter().filter_map(|i| i.get(segment))),
                _ => {}
            }
        }
        current = next;
    }
    let mut out = Vec::new();
    for value in current {
        match value {
            Value::String(s) => out.push(s.as_str()),
            Value::Array(items) => out.extend(items.iter().filter_map(Value::as_str)),
            _ => {}
        }
    }
    out
}

/// One account's resources of the related types, indexed by the values relations join on.
#[derive(Debug, Default)]
pub struct RelatedIndex {
    resources: Vec<Resource>,
    /// (target type, remote path) → value → positions in `resources`.
    by_value: HashMap<(&'static str, &'static str), HashMap<String, Vec<usize>>>,
    by_arn: HashMap<String, usize>,
}

/// Every relation (with its fallbacks) of every registered kind.
fn all_relations() -> Vec<&'static Relation> {
    let mut out = Vec::new();
    for kind in registry::kinds() {
        for relation in kind.relations {
            out.push(relation);
            if let Some(otherwise) = relation.otherwise {
                out.push(otherwise);
            }
        }
    }
    out
}

impl RelatedIndex {
    /// Indexes `resources` (one account's) for every relation that targets their types.
    pub fn new(resources: Vec<Resource>) -> Self {
        let relations = all_relations();
        let mut index = RelatedIndex::default();
        for (position, resource) in resources.iter().enumerate() {
            index.by_arn.insert(resource.arn.clone(), position);
            for relation in relations
                .iter()
                .filter(|r| r.target_type() == resource.resource_type)
            {
                let key = (relation.target_type(), relation.remote);
                let map = index.by_value.entry(key).or_default();
                for value in values_at(&resource.configuration, relation.remote) {
                    let positions = map.entry(value.to_owned()).or_default();
                    if !positions.contains(&position) {
                        positions.push(position);
                    }
                }
            }
        }
        index.resources = resources;
        index
    }

    /// How many resources the index holds.
    pub fn len(&self) -> usize {
        self.resources.len()
    }

    /// True when it holds none.
    pub fn is_empty(&self) -> bool {
        self.resources.is_empty()
    }

    /// The resource of this ARN, if the index holds it.
    pub fn get(&self, arn: &str) -> Option<&Resource> {
        self.by_arn.get(arn).map(|&i| &self.resources[i])
    }

    /// Every resource the index holds.
    pub fn resources(&self) -> &[Resource] {
        &self.resources
    }

    /// The resources `relation` reaches from `resource`, in inventory order, each once.
    pub fn related(&self, resource: &Resource, relation: &Relation) -> Vec<&Resource> {
        let found = self.matching(resource, relation);
        match relation.otherwise {
            Some(otherwise) if found.is_empty() => self.matching(resource, otherwise),
            _ => found,
        }
    }

    fn matching(&self, resource: &Resource, relation: &Relation) -> Vec<&Resource> {
        let Some(map) = self
            .by_value
            .get(&(relation.target_type(), relation.remote))
        else {
            return Vec::new();
        };
        let mut positions: Vec<usize> = values_at(&resource.configuration, relation.local)
            .into_iter()
            .filter_map(|v| map.get(v))
            .flatten()
            .copied()
            .collect();
        positions.sort_unstable();
        positions.dedup();
        positions
            .into_iter()
            .map(|i| &self.resources[i])
            .filter(|r| r.arn != resource.arn && r.account_id == resource.account_id)
            .filter(|r| !relation.same_region || r.region == resource.region)
            .filter(|r| {
                relation.only_where.is_none_or(|flag| {
                    Path::dotted(flag).resolve(&r.configuration) == Some(&Value::Bool(true))
                })
            })
            .collect()
    }

    /// The document a policy reading `reads` evaluates for `resource`: its configuration with
    /// its `ResourceArn` and, under `Related`, the documents of what it follows.
    pub fn document(&self, resource: &Resource, reads: &RelatedReads) -> Value {
        let mut doc = match &resource.configuration {
            Value::Object(map) => map.clone(),
            _ => Map::new(),
        };
        doc.insert(RESOURCE_ARN.into(), Value::String(resource.arn.clone()));
        if !reads.is_empty() {
            let mut related = Map::new();
            for (name, (relation, below)) in &reads.follows {
                let items = self
                    .related(resource, relation)
                    .into_iter()
                    .map(|r| self.document(r, below))
                    .collect();
                related.insert((*name).to_owned(), Value::Array(items));
            }
            doc.insert(RELATED.into(), Value::Object(related));
        }
        Value::Object(doc)
    }

    /// The resources of `resource_type` whose document under `reads` includes the resource
    /// `arn` (the dependents to re-evaluate when it changes).
    pub fn reaching(&self, resource_type: &str, reads: &RelatedReads, arn: &str) -> Vec<&Resource> {
        self.resources
            .iter()
            .filter(|r| r.resource_type == resource_type)
            .filter(|r| self.reaches(r, reads, arn))
            .collect()
    }

    fn reaches(&self, resource: &Resource, reads: &RelatedReads, arn: &str) -> bool {
        reads.follows.values().any(|(relation, below)| {
            self.related(resource, relation)
                .into_iter()
                .any(|r| r.arn == arn || self.reaches(r, below, arn))
        })
    }
}

/// Loads, from the resources table, one account's resources of `types` into an index: each
/// service partition holding one of them is read once, page by page. An error names the
/// partition that could not be read (a policy that follows relations then says nothing: its
/// related resources are unknown, not absent).
pub async fn load_index(
    stores: &crate::store::Stores,
    account_id: &str,
    types: &BTreeSet<&str>,
) -> Result<RelatedIndex, String> {
    let resources = stores.resources.as_ref();
    let mut services: Vec<crate::model::Service> = types
        .iter()
        .filter_map(|t| registry::kind(t))
        .map(|k| k.shape.service)
        .collect();
    services.sort();
    services.dedup();
    let mut loaded = Vec::new();
    for service in services {
        let partition = crate::model::partition_key(account_id, service);
        let mut cursor = None;
        loop {
            let page = resources
                .page(&partition, cursor.take())
                .await
                .map_err(|e| format!("{partition}: reading related resources: {e}"))?;
            loaded.extend(
                page.items
                    .into_iter()
                    .filter(|r| types.contains(r.resource_type.as_str())),
            );
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
    }
    if types.contains(OBJECT_DATA) {
        let data = stores
            .object_data
            .of_account(account_id)
            .await
            .map_err(|e| format!("{account_id}: reading object-scan data: {e}"))?;
        loaded.extend(data.iter().map(object_data_resource));
    }
    Ok(RelatedIndex::new(loaded))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use serde_json::json;

    fn resource(kind: &str, arn: &str, region: &str, config: Value) -> Resource {
        Resource {
            arn: arn.into(),
            account_id: "111122223333".into(),
            service: crate::model::Service::of_resource_type(kind).unwrap(),
            resource_type: kind.into(),
            region: region.into(),
            configuration: config,
            last_seen_at: Utc::now(),
        }
    }

    fn network() -> RelatedIndex {
        let a = "arn:aws:ec2:us-east-1:111122223333";
        RelatedIndex::new(vec![
            resource(
                "AWS::EC2::Subnet",
                &format!("{a}:subnet/subnet-1"),
                "us-east-1",
                json!({"SubnetId": "subnet-1", "VpcId": "vpc-1"}),
            ),
            resource(
                "AWS::EC2::Subnet",
                &format!("{a}:subnet/subnet-2"),
                "us-east-1",
                json!({"SubnetId": "subnet-2", "VpcId": "vpc-1"}),
            ),
            resource(
                "AWS::EC2::RouteTable",
                &format!("{a}:route-table/rtb-main"),
                "us-east-1",
                json!({"RouteTableId": "rtb-main", "VpcId": "vpc-1", "Main": true, "SubnetIds": []}),
            ),
            resource(
                "AWS::EC2::RouteTable",
                &format!("{a}:route-table/rtb-2"),
                "us-east-1",
                json!({"RouteTableId": "rtb-2", "VpcId": "vpc-1", "Main": false, "SubnetIds": ["subnet-2"]}),
            ),
            // the same group id in another region is another group
            resource(
                "AWS::EC2::SecurityGroup",
                &format!("{a}:security-group/sg-1"),
                "us-east-1",
                json!({"GroupId": "sg-1"}),
            ),
            resource(
                "AWS::EC2::SecurityGroup",
                "arn:aws:ec2:eu-west-1:111122223333:security-group/sg-1",
                "eu-west-1",
                json!({"GroupId": "sg-1"}),
            ),
        ])
    }

    fn instance(subnet: &str) -> Resource {
        resource(
            "AWS::EC2::Instance",
            "arn:aws:ec2:us-east-1:111122223333:instance/i-1",
            "us-east-1",
            json!({"InstanceId": "i-1", "SubnetId": subnet, "SecurityGroupIds": ["sg-1"]}),
        )
    }

    fn reads(paths: &[&str]) -> RelatedReads {
        let paths: Vec<Path> = paths.iter().map(|p| Path::dotted(p)).collect();
        RelatedReads::from_reads("AWS::EC2::Instance", &paths)
    }

    #[test]
    fn a_document_follows_only_the_relations_read_and_the_main_table_when_none_is_explicit() {
        // given an index of two subnets (one explicitly associated) and a policy reading route
        // tables through the subnet
        let index = network();
        let tree = reads(&["Related.Subnet.Related.RouteTable.Main"]);
        assert_eq!(
            tree.types().into_iter().collect::<Vec<_>>(),
            vec!["AWS::EC2::RouteTable", "AWS::EC2::Subnet"]
        );
        // when the documents of instances in each subnet are built
        let implicit = index.document(&instance("subnet-1"), &tree);
        let explicit = index.document(&instance("subnet-2"), &tree);
        // then the implicit subnet gets its VPC's main table and the other its own
        let table = |doc: &Value| {
            doc["Related"]["Subnet"][0]["Related"]["RouteTable"][0]["RouteTableId"].clone()
        };
        assert_eq!(table(&implicit), json!("rtb-main"));
        assert_eq!(table(&explicit), json!("rtb-2"));
        assert_eq!(
            explicit["Related"]["Subnet"][0]["Related"]["RouteTable"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
        // and each related resource carries its ARN, and no relation that is not read
        assert_eq!(
            implicit["ResourceArn"],
            json!("arn:aws:ec2:us-east-1:111122223333:instance/i-1")
        );
        assert!(implicit["Related"].get("SecurityGroups").is_none());
        // and an unknown subnet is an empty list, not an error
        assert_eq!(
            index.document(&instance("subnet-9"), &tree)["Related"]["Subnet"],
            json!([])
        );
    }

    #[test]
    fn a_regional_reference_stays_in_its_region() {
        let index = network();
        let doc = index.document(
            &instance("subnet-1"),
            &reads(&["Related.SecurityGroups.GroupId"]),
        );
        let groups = doc["Related"]["SecurityGroups"].as_array().unwrap();
        assert_eq!(groups.len(), 1);
        assert_eq!(
            groups[0]["ResourceArn"],
            json!("arn:aws:ec2:us-east-1:111122223333:security-group/sg-1")
        );
    }

    #[test]
    fn the_resources_reaching_a_changed_one_are_found_through_every_step() {
        // given instances in both subnets, indexed with the network
        let mut all = network().resources().to_vec();
        let mut other = instance("subnet-2");
        other.arn = "arn:aws:ec2:us-east-1:111122223333:instance/i-2".into();
        all.push(instance("subnet-1"));
        all.push(other);
        let index = RelatedIndex::new(all);
        let tree = reads(&["Related.Subnet.Related.RouteTable.Main"]);
        let reaching = |arn: &str| -> Vec<String> {
            index
                .reaching("AWS::EC2::Instance", &tree, arn)
                .into_iter()
                .map(|r| r.arn.clone())
                .collect()
        };
        // then the main table reaches only the instance of the subnet without its own table
        assert_eq!(
            reaching("arn:aws:ec2:us-east-1:111122223333:route-table/rtb-main"),
            vec!["arn:aws:ec2:us-east-1:111122223333:instance/i-1"]
        );
        assert_eq!(
            reaching("arn:aws:ec2:us-east-1:111122223333:route-table/rtb-2"),
            vec!["arn:aws:ec2:us-east-1:111122223333:instance/i-2"]
        );
        // and a group the policy does not read reaches nobody
        assert!(reaching("arn:aws:ec2:us-east-1:111122223333:security-group/sg-1").is_empty());
    }

    #[test]
    fn values_are_read_through_arrays_at_any_step() {
        let config = json!({"A": [{"B": "x"}, {"B": ["y", "z"]}, {"C": 1}], "D": "w"});
        assert_eq!(values_at(&config, "A.B"), vec!["x", "y", "z"]);
        assert_eq!(values_at(&config, "D"), vec!["w"]);
        assert!(values_at(&config, "E").is_empty());
    }
}
