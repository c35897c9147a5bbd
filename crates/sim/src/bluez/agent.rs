//! `org.bluez.AgentManager1` at `/org/bluez`: clients register the agent that bluetoothd
//! calls back while pairing (`org.bluez.Agent1.RequestPasskey`, `Cancel`).

use super::BluezError;
use crate::world::{AgentReg, Shared};
use std::sync::Arc;
use zbus::message::Header;
use zbus::zvariant::OwnedObjectPath;

const CAPABILITIES: [&str; 6] = [
    "",
    "DisplayOnly",
    "DisplayYesNo",
    "KeyboardOnly",
    "NoInputNoOutput",
    "KeyboardDisplay",
];

/// The agent manager.
pub struct AgentManager {
    shared: Arc<Shared>,
}

impl AgentManager {
    /// The agent manager of the simulation.
    pub fn new(shared: Arc<Shared>) -> Self {
        AgentManager { shared }
    }
}

fn owner(header: &Header<'_>) -> String {
    header.sender().map(|s| s.to_string()).unwrap_or_default()
}

#[zbus::interface(name = "org.bluez.AgentManager1")]
impl AgentManager {
    async fn register_agent(
        &self,
        agent: OwnedObjectPath,
        capability: String,
        #[zbus(header)] header: Header<'_>,
    ) -> Result<(), BluezError> {
        if !CAPABILITIES.contains(&capability.as_str()) {
            return Err(BluezError::InvalidArguments(
                "Invalid arguments: capability".into(),
            ));
        }
        let owner = owner(&header);
        let mut world = self.shared.world();
        if world.agents.iter().any(|a| a.owner == owner) {
            return Err(BluezError::AlreadyExists("Already Exists".into()));
        }
        world.agents.push(AgentReg {
            owner,
            path: agent.to_string(),
            capability,
            default: false,
        });
        world.count("agent.registered");
        Ok(())
    }

    async fn unregister_agent(
        &self,
        agent: OwnedObjectPath,
        #[zbus(header)] header: Header<'_>,
    ) -> Result<(), BluezError> {
        let owner = owner(&header);
        let mut world = self.shared.world();
        let before = world.agents.len();
        world.agents.retain(|a| !a.is(&owner, agent.as_str()));
        if world.agents.len() == before {
            return Err(BluezError::DoesNotExist("Does Not Exist".into()));
        }
        Ok(())
    }

    async fn request_default_agent(
        &self,
        agent: OwnedObjectPath,
        #[zbus(header)] header: Header<'_>,
    ) -> Result<(), BluezError> {
        let owner = owner(&header);
        let mut world = self.shared.world();
        if !world.agents.iter().any(|a| a.is(&owner, agent.as_str())) {
            return Err(BluezError::DoesNotExist("Does Not Exist".into()));
        }
        for a in &mut world.agents {
            a.default = a.is(&owner, agent.as_str());
        }
        Ok(())
    }
}
