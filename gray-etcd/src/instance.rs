//! What a service registers: [`Instance`] (its address, weight and routing metadata, stored as
//! JSON), and the key layout under a prefix ([`Layout`]).

use gray_core::spec::{NodeMetadata, NodeSpec, MAX_WEIGHT};
use serde::{Deserialize, Serialize};

/// One registered instance, stored as JSON at `<prefix>/instances/<group>/<address>`:
/// `{"address": "10.0.2.10:8080", "weight": 1, "version": "1.1", "region": "dev", "env": "prod",
/// "zone": "z1", "group": "blue", "id": "..."}`. Only `address` is required (it defaults to
/// the key's last segment); `group` here is the Nepxion isolation group (metadata), while the
/// gray group (the service) is the key's segment. Unknown fields are ignored.
///
/// ```
/// use gray_etcd::Instance;
///
/// let i = Instance::new("10.0.2.10:8080").version("1.1").zone("z1").weight(5);
/// let node = i.to_node().unwrap();
/// assert_eq!(node.weight, 5);
/// assert_eq!(node.metadata.version.as_deref(), Some("1.1"));
/// let text = i.to_json();
/// assert_eq!(Instance::from_json(&text, "ignored:1").unwrap(), i);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instance {
    /// `ip:port`, `[v6]:port` or `host:port`.
    #[serde(default)]
    pub address: String,
    /// Relative weight, 0..=10000. Default 1.
    #[serde(default = "one")]
    pub weight: u32,
    /// Draining: no new requests.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub drain: bool,
    /// Release version, e.g. `1.1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
    /// Availability zone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
    /// Consumer-isolation group (metadata `group`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Instance id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

fn one() -> u32 {
    1
}

impl Instance {
    /// An instance at `address` with weight 1 and no metadata.
    pub fn new(address: &str) -> Instance {
        Instance {
            address: address.to_string(),
            weight: 1,
            drain: false,
            version: None,
            region: None,
            env: None,
            zone: None,
            group: None,
            id: None,
        }
    }

    /// Sets the weight.
    pub fn weight(mut self, weight: u32) -> Instance {
        self.weight = weight;
        self
    }

    /// Sets the version.
    pub fn version(mut self, v: &str) -> Instance {
        self.version = Some(v.to_string());
        self
    }

    /// Sets the region.
    pub fn region(mut self, v: &str) -> Instance {
        self.region = Some(v.to_string());
        self
    }

    /// Sets the environment.
    pub fn env(mut self, v: &str) -> Instance {
        self.env = Some(v.to_string());
        self
    }

    /// Sets the zone.
    pub fn zone(mut self, v: &str) -> Instance {
        self.zone = Some(v.to_string());
        self
    }

    /// Sets the isolation group.
    pub fn group(mut self, v: &str) -> Instance {
        self.group = Some(v.to_string());
        self
    }

    /// Sets the instance id.
    pub fn id(mut self, v: &str) -> Instance {
        self.id = Some(v.to_string());
        self
    }

    /// The JSON stored in etcd.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Parses a stored value; `key_address` (the key's last segment) fills a missing address
    /// (an address in the value wins over the key's).
    pub fn from_json(text: &str, key_address: &str) -> Result<Instance, String> {
        let mut i: Instance =
            serde_json::from_str(text).map_err(|e| format!("not instance JSON: {e}"))?;
        if i.address.is_empty() {
            i.address = key_address.to_string();
        }
        i.to_node()?;
        Ok(i)
    }

    /// The node gray routes to; fails on an empty address or a weight over 10000.
    pub fn to_node(&self) -> Result<NodeSpec, String> {
        if self.address.trim().is_empty() {
            return Err("empty address".to_string());
        }
        if self.weight > MAX_WEIGHT {
            return Err(format!(
                "weight {} is over the maximum {MAX_WEIGHT}",
                self.weight
            ));
        }
        let mut node = NodeSpec::new(&self.address).with_weight(self.weight);
        node.drain = self.drain;
        node.metadata = NodeMetadata {
            version: self.version.clone(),
            region: self.region.clone(),
            env: self.env.clone(),
            zone: self.zone.clone(),
            group: self.group.clone(),
            id: self.id.clone(),
            ..NodeMetadata::default()
        };
        Ok(node)
    }
}

/// Where things live under a prefix (`/gray/shop`, say):
///
/// | key | holds |
/// |---|---|
/// | `/gray/shop/spec` | the rules, native YAML or JSON (optional) |
/// | `/gray/shop/instances/<group>/<address>` | an [`Instance`] as JSON, usually under a lease |
///
/// ```
/// use gray_etcd::{Layout, Slot};
///
/// let l = Layout::new("/gray/shop/").unwrap();
/// assert_eq!(l.instance("canary", "10.0.2.10:8080"), "/gray/shop/instances/canary/10.0.2.10:8080");
/// assert_eq!(l.spec(), "/gray/shop/spec");
/// assert_eq!(l.slot("/gray/shop/instances/canary/10.0.2.10:8080"),
///            Slot::Instance { group: "canary".into(), address: "10.0.2.10:8080".into() });
/// assert_eq!(l.slot("/gray/shop/other"), Slot::Other);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    prefix: String,
}

/// What a key under the prefix is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Slot {
    /// The rules.
    Spec,
    /// An instance of a group.
    Instance {
        /// The gray group (service).
        group: String,
        /// The key's address segment.
        address: String,
    },
    /// Anything else (ignored).
    Other,
}

impl Layout {
    /// The layout under `prefix` (a trailing `/` is dropped; must not be empty).
    pub fn new(prefix: &str) -> Result<Layout, String> {
        let prefix = prefix.trim_end_matches('/');
        if prefix.is_empty() {
            return Err("the etcd prefix must not be empty (for example /gray/prod)".into());
        }
        Ok(Layout {
            prefix: prefix.to_string(),
        })
    }

    /// The prefix, without a trailing `/`.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Everything watched: the prefix and a `/`.
    pub fn root(&self) -> String {
        format!("{}/", self.prefix)
    }

    /// The rules key.
    pub fn spec(&self) -> String {
        format!("{}/spec", self.prefix)
    }

    /// An instance's key.
    pub fn instance(&self, group: &str, address: &str) -> String {
        format!("{}/instances/{group}/{address}", self.prefix)
    }

    /// What `key` is.
    pub fn slot(&self, key: &str) -> Slot {
        let Some(rest) = key
            .strip_prefix(&self.prefix)
            .and_then(|r| r.strip_prefix('/'))
        else {
            return Slot::Other;
        };
        if rest == "spec" {
            return Slot::Spec;
        }
        match rest
            .strip_prefix("instances/")
            .and_then(|r| r.split_once('/'))
        {
            Some((group, address)) if !group.is_empty() && !address.is_empty() => Slot::Instance {
                group: group.to_string(),
                address: address.to_string(),
            },
            _ => Slot::Other,
        }
    }
}
