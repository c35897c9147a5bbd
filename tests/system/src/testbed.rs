//! [`TestBed`]: a broker, the simulated locks (bonded to hci0, or [`Builder::unpaired`]),
//! lockgated with those locks enrolled, and an observer subscribed to everything under the
//! gateway's base before the gateway starts. Endpoints are made on demand, and the `lockgate`
//! CLI runs against the gateway's control socket. Dropped, it stops everything and leaves its
//! logs' tails with the test's [`Diagnostics`].

use crate::binaries::binaries;
use crate::broker::{Broker, TlsListener};
use crate::certs::Certs;
use crate::endpoint::Endpoint;
use crate::gateway::{Gateway, GatewayConfig, MqttTransport};
use crate::lockctl::Lockctl;
use crate::mqtt::{Message, Mqtt, Settings};
use crate::run::Diagnostics;
use crate::sim::{LockInfo, Sim, SimOptions};
use anyhow::{bail, Result};
use lockgate_wire::{LockId, Topic, Topics};
use serde_json::Value;
use std::collections::BTreeSet;
use std::time::Duration;
use tokio::time::Instant;

/// The gateway id of every test bed; topics live under `lockgate/systest`.
pub const GATEWAY_ID: &str = "systest";

/// How long the gateway may take to come online.
pub const ONLINE_LIMIT: Duration = Duration::from_secs(20);

/// How long to wait for something the gateway publishes by itself.
pub const WAIT: Duration = Duration::from_secs(30);

/// A change to the gateway's configuration.
type Change = Box<dyn FnOnce(&mut GatewayConfig)>;

/// What to set up.
pub struct Builder {
    sim: SimOptions,
    tls: bool,
    start_gateway: bool,
    enroll: bool,
    configure: Vec<Change>,
}

impl Builder {
    /// Number of simulated locks (all enrolled).
    pub fn locks(mut self, n: u32) -> Self {
        self.sim.locks = n;
        self
    }

    /// The simulation's options (MTU, seed, extra arguments).
    pub fn sim(mut self, change: impl FnOnce(&mut SimOptions)) -> Self {
        change(&mut self.sim);
        self
    }

    /// A TLS listener (client certificates required) beside the plain one, and the gateway
    /// on it with the test CA and client certificate.
    pub fn tls(mut self) -> Self {
        self.tls = true;
        self
    }

    /// Locks that start neither bonded nor enrolled: the gateway has to pair them (its
    /// pairing window).
    pub fn unpaired(mut self) -> Self {
        self.sim.bonded = false;
        self.enroll = false;
        self
    }

    /// Leaves the gateway stopped; start it with [`TestBed::start_gateway`].
    pub fn gateway_stopped(mut self) -> Self {
        self.start_gateway = false;
        self
    }

    /// Changes the gateway's configuration (after the harness filled in broker and TLS).
    pub fn gateway(mut self, change: impl FnOnce(&mut GatewayConfig) + 'static) -> Self {
        self.configure.push(Box::new(change));
        self
    }

    /// Starts everything; the gateway (unless left stopped) is online when this returns.
    pub async fn start(self, diagnostics: &Diagnostics) -> Result<TestBed> {
        let binaries = binaries()?;
        let certs = match self.tls {
            true => Some(Certs::generate()?),
            false => None,
        };
        let broker = Broker::spawn_with(certs.as_ref().map(TlsListener::from_certs)).await?;
        let sim = Sim::start(binaries, &self.sim).await?;
        let locks = sim.locks().await?;
        let mut config = GatewayConfig::new(GATEWAY_ID, broker.port());
        if let (Some(certs), Some(port)) = (&certs, broker.tls_port()) {
            config.port = port;
            config.transport = MqttTransport::Tls {
                ca_file: certs.ca.clone(),
                client: Some((certs.client_cert.clone(), certs.client_key.clone())),
            };
        }
        for change in self.configure {
            change(&mut config);
        }
        let gateway = Gateway::new(binaries, config, sim.bus_address())?;
        if self.enroll {
            gateway.enroll(&locks)?;
        }
        let topics = Topics::for_gateway(GATEWAY_ID)?;
        let observer = Mqtt::connect(
            &Settings::plain("observer", broker.port()),
            Duration::from_secs(10),
        )
        .await?;
        observer.subscribe(&format!("{}/#", topics.base())).await?;
        let mut bed = TestBed {
            gateway,
            observer,
            sim,
            broker,
            certs,
            topics,
            locks,
            diagnostics: diagnostics.clone(),
            endpoints: 0,
        };
        if self.start_gateway {
            bed.start_gateway().await?;
        }
        Ok(bed)
    }
}

/// Everything a system test needs, torn down on drop (gateway first).
pub struct TestBed {
    /// lockgated.
    pub gateway: Gateway,
    /// A client subscribed to `<base>/#` since before the gateway started.
    pub observer: Mqtt,
    /// The simulated locks.
    pub sim: Sim,
    /// mosquitto.
    pub broker: Broker,
    /// The test PKI, with TLS.
    pub certs: Option<Certs>,
    /// The gateway's topics.
    pub topics: Topics,
    /// The simulated (and enrolled) locks.
    pub locks: Vec<LockInfo>,
    diagnostics: Diagnostics,
    endpoints: u64,
}

impl TestBed {
    /// What to set up: one lock, plain MQTT, the gateway started.
    pub fn builder() -> Builder {
        Builder {
            sim: SimOptions::default(),
            tls: false,
            start_gateway: true,
            enroll: true,
            configure: Vec::new(),
        }
    }

    /// The id of lock `i`.
    pub fn lock_id(&self, i: usize) -> LockId {
        self.locks[i].id
    }

    /// Starts the gateway and waits until it says `online` (a new `bridge/state` message).
    pub async fn start_gateway(&mut self) -> Result<()> {
        let from = self.observer.cursor();
        self.gateway.start()?;
        self.wait_online(from).await
    }

    /// Waits for `{"state":"online"}` on `bridge/state` at inbox index `from` or later; fails
    /// at once if lockgated exits meanwhile.
    pub async fn wait_online(&mut self, from: usize) -> Result<()> {
        let topic = self.topics.bridge_state();
        let online =
            |m: &Message| m.topic == topic && m.json().is_ok_and(|v| v["state"] == "online");
        let deadline = Instant::now() + ONLINE_LIMIT;
        loop {
            let step = Duration::from_millis(250);
            let seen = self
                .observer
                .next_message(step, from, "the gateway online", online);
            if seen.await.is_ok() {
                return Ok(());
            }
            if let Some(status) = self.gateway.exit_status() {
                bail!("lockgated exited ({status}) instead of coming online");
            }
            if Instant::now() >= deadline {
                bail!("lockgated did not say online on {topic} within {ONLINE_LIMIT:?}");
            }
        }
    }

    /// The first message on `topic` at observer index `from` or later whose JSON payload
    /// `pred` accepts.
    pub async fn wait_json(
        &self,
        topic: &str,
        from: usize,
        what: &str,
        pred: impl Fn(&Value) -> bool,
    ) -> Result<Value> {
        let accept = |m: &Message| m.topic == topic && m.json().is_ok_and(|v| pred(&v));
        let (_, m) = self.observer.next_message(WAIT, from, what, accept).await?;
        m.json()
    }

    /// The first `bridge/event` of type `kind` at observer index `from` or later.
    pub async fn wait_event(&self, from: usize, kind: &str) -> Result<Value> {
        let what = format!("a {kind} event");
        let topic = self.topics.bridge_event();
        self.wait_json(&topic, from, &what, |v| v["type"] == kind)
            .await
    }

    /// Waits until the last `<lock>/link` message says `connected`.
    pub async fn wait_link(&self, lock: &LockId, connected: bool) -> Result<()> {
        let topic = self.topics.for_lock(lock).link();
        let what = format!("{topic} saying connected: {connected}");
        self.observer
            .wait(WAIT, &what, |inbox| {
                let last = inbox.messages.iter().rev().find(|m| m.topic == topic)?;
                let json = last.json().ok()?;
                (json["connected"] == connected).then_some(())
            })
            .await
    }

    /// The most links that were up at once, replaying every `<lock>/link` message seen.
    pub fn most_links_at_once(&self) -> usize {
        let mut up = BTreeSet::new();
        let mut most = 0;
        for m in self.observer.messages() {
            let Ok(Topic::Link { lock }) = self.topics.parse(&m.topic) else {
                continue;
            };
            match m.json().is_ok_and(|v| v["connected"] == true) {
                true => up.insert(lock),
                false => up.remove(&lock),
            };
            most = most.max(up.len());
        }
        most
    }

    /// A new endpoint on the plain listener; `name` is its pairing name.
    pub async fn endpoint(&mut self, name: &str) -> Result<Endpoint> {
        self.endpoints += 1;
        let id = format!("endpoint-{}-{name}", self.endpoints);
        let settings = Settings::plain(&id, self.broker.port());
        Endpoint::connect(&settings, self.topics.clone(), name, self.endpoints).await
    }

    /// The `lockgate` CLI with `args` against the gateway's control socket, not started.
    pub fn lockgate_command(&self, args: &[&str]) -> Result<tokio::process::Command> {
        let mut command = tokio::process::Command::new(&binaries()?.lockgate);
        command
            .args(args)
            .arg("--socket")
            .arg(self.gateway.control_socket())
            .kill_on_drop(true);
        Ok(command)
    }

    /// Runs the `lockgate` CLI with `args` to its end (at most [`WAIT`]).
    pub async fn lockgate(&self, args: &[&str]) -> Result<std::process::Output> {
        let run = self.lockgate_command(args)?.output();
        match tokio::time::timeout(WAIT, run).await {
            Ok(output) => Ok(output?),
            Err(_) => bail!("lockgate {} did not finish within {WAIT:?}", args.join(" ")),
        }
    }

    /// A `lockctl` endpoint on the plain listener, with a key store of its own; `name` is its
    /// pairing name.
    pub fn lockctl(&self, name: &str) -> Result<Lockctl> {
        Lockctl::new(binaries()?, self.broker.port(), name)
    }

    /// Presses lock `i`'s button and pairs `endpoint` with it by its label code.
    pub async fn pair(&self, endpoint: &mut Endpoint, i: usize) -> Result<u32> {
        let lock = &self.locks[i];
        self.sim.press(&lock.id).await?;
        Ok(endpoint.pair(lock.id, &lock.label_code).await?.auth_id)
    }
}

impl Drop for TestBed {
    fn drop(&mut self) {
        let d = &self.diagnostics;
        d.record("lockgated log (tail)", self.gateway.log());
        d.record("mosquitto log (tail)", self.broker.log());
        d.record("locksim log (tail)", self.sim.log());
    }
}
