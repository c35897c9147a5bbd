//! The test bed of the system tests: a real mosquitto on free loopback ports, a private
//! dbus-daemon serving locksim, and lockgated as a child process, each with its own temporary
//! configuration and state; endpoints that pair and talk to locks end to end over MQTT.
//!
//! * [`broker`]: mosquitto (plain and TLS listeners), stopped and started on the same ports.
//! * [`certs`]: a test PKI generated with rcgen.
//! * [`sim`]: locksim on a private bus, steered with `locksim ctl`.
//! * [`gateway`]: lockgated's configuration, registry and process.
//! * [`mqtt`]: an MQTT client with an inbox that tests await.
//! * [`endpoint`]: pairing and E2E sessions over MQTT.
//! * [`lockctl`]: the `lockctl` binary run as an endpoint, with a key store of its own.
//! * [`spool`], [`blindness`]: looking at what the gateway left on disk and in memory.
//! * [`support`]: a remote support client (one-time code, handshake, requests) over MQTT.
//! * [`testbed`]: all of it together; [`run`]: one test, bounded in time, with logs on failure.
//! * [`bench`]: the benchmark of lockgated built on all of it (`src/bin/bench.rs`).
//!
//! **The binaries under test** (`locksim`, `lockgated`, `lockgate`, `lockctl`) belong to other packages,
//! so cargo neither builds them for `cargo test -p lockgate-systest` nor tells where they are.
//! [`run`] therefore builds them first, once per test process, with
//! `cargo build -p locksim -p lockgate -p lockctl --bins` into the target directory and profile of the
//! running test executable, and finds them there (`<target>/<profile>/`); see [`binaries`].
//! `SYSTEST_BIN_DIR=<dir>` uses prebuilt binaries instead. Building is the robust
//! choice: the tests can never run against stale binaries left from an older build.
//!
//! Everything is bounded in time, listens on 127.0.0.1 only, and cleans up after itself:
//! children are killed on drop (and when the test process dies), temporary directories are
//! removed. Errors are `anyhow` with context, as in a binary: a failing test should say what
//! it waited for.
//!
//! mosquitto must be installed (`apt-get install -y mosquitto`), and `dbus-daemon` for
//! locksim. The daemon scenarios (`tests/relay.rs`) read process memory and so run as root.

pub mod bench;
pub mod binaries;
pub mod blindness;
pub mod bridge;
pub mod broker;
pub mod certs;
pub mod endpoint;
pub mod gateway;
pub mod ha_schema;
pub mod lockctl;
pub mod mqtt;
pub mod process;
pub mod run;
pub mod sim;
pub mod spool;
pub mod support;
pub mod testbed;

pub use broker::Broker;
pub use certs::Certs;
pub use endpoint::Endpoint;
pub use gateway::{Gateway, GatewayConfig, MqttTransport};
pub use lockctl::Lockctl;
pub use mqtt::{Message, Mqtt, Settings, Transport};
pub use run::{run, Diagnostics};
pub use sim::{LockInfo, Sim, SimOptions};
pub use testbed::TestBed;
