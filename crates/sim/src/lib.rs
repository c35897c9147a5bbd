//! locksim: a BlueZ look-alike on D-Bus hosting simulated lockgate locks.
//!
//! It owns `org.bluez` on a (private) bus and serves adapters, devices and GATT objects the
//! way bluetoothd 5.66+ does, so that the gateway's real `bluer` code path can be tested and
//! demonstrated without a Bluetooth adapter. Every device is the reference lock of
//! `lockgate-e2e` behind the lockgate GATT service. `org.lockgate.Sim1` steers the world and
//! injects faults; [`testbed`] starts a private `dbus-daemon` for tests.

#![forbid(unsafe_code)]

pub mod bluez;
pub mod clients;
pub mod control;
pub mod link;
pub mod lock;
pub mod objects;
pub mod radio;
pub mod sim;
pub mod store;
pub mod testbed;
pub mod timing;
pub mod world;

pub use sim::{Sim, SimError};
pub use timing::Timing;
pub use world::SimConfig;
