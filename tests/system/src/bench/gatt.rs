//! The bench as a second BlueZ client, with `bluer`, on the simulation's bus: it opens a lock's
//! `rx` and `tx` itself, writes frames fragment by fragment with write requests and reassembles
//! the notified answers, as the gateway's link actor does. Used for the direct GATT round trip
//! (no gateway, no broker) and to make locks produce up-frames while the broker is away.
//!
//! libdbus (and so bluer) reads `DBUS_SYSTEM_BUS_ADDRESS` once per process, so each bench
//! part runs in a process of its own and calls [`session`] for one bus only.

use anyhow::{anyhow, bail, Context, Result};
use bluer::gatt::remote::{Characteristic, CharacteristicWriteRequest};
use bluer::gatt::WriteOp;
use bluer::{Adapter, Address, Device, Session, Uuid};
use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use lockgate_wire::frag::{fragments, Reassembler};
use lockgate_wire::{RX_CHAR_UUID, SERVICE_UUID, TX_CHAR_UUID};
use std::time::{Duration, Instant};

/// The system bus variable bluer reads.
const BUS_VAR: &str = "DBUS_SYSTEM_BUS_ADDRESS";

/// How long one write or answer may take.
const LIMIT: Duration = Duration::from_secs(10);

/// A bluer session on the bus at `address` and its adapter `hci0`.
pub async fn session(address: &str) -> Result<(Session, Adapter)> {
    match std::env::var(BUS_VAR) {
        Ok(set) if set != address => {
            bail!("{BUS_VAR} is {set} already; bluer reads it once per process")
        }
        Ok(_) => {}
        Err(_) => std::env::set_var(BUS_VAR, address),
    }
    let session = Session::new().await.context("bluer session")?;
    let adapter = session.adapter("hci0").context("adapter hci0")?;
    Ok((session, adapter))
}

/// A link to one lock opened by the bench.
pub struct GattLink {
    device: Device,
    rx: Characteristic,
    mtu: u16,
    notes: Option<BoxStream<'static, Vec<u8>>>,
    reassembler: Reassembler,
}

impl GattLink {
    /// Connects to the lock at `address` (a no-op when the gateway holds the link already)
    /// and finds `rx`; with `answers`, subscribes to `tx` to receive what the lock says.
    pub async fn open(adapter: &Adapter, address: &str, answers: bool) -> Result<GattLink> {
        let address: Address = address.parse().map_err(|e| anyhow!("{address}: {e}"))?;
        let device = adapter.device(address)?;
        device.connect().await.context("connecting")?;
        let (rx, tx) = characteristics(&device).await?;
        let notes = match answers {
            true => Some(tx.notify().await.context("notify on tx")?.boxed()),
            false => None,
        };
        // bluer reports the ATT MTU less the 5 bytes BlueZ sets aside.
        let mtu = u16::try_from(rx.mtu().await? + 5)?;
        Ok(GattLink {
            device,
            rx,
            mtu,
            notes,
            reassembler: Reassembler::default(),
        })
    }

    /// Writes `frame`, fragment by fragment, each a write request.
    pub async fn write(&self, frame: &[u8]) -> Result<()> {
        let request = CharacteristicWriteRequest {
            op_type: WriteOp::Request,
            ..Default::default()
        };
        for fragment in fragments(frame, self.mtu)? {
            let write = self.rx.write_ext(&fragment, &request);
            tokio::time::timeout(LIMIT, write).await??;
        }
        Ok(())
    }

    /// The next whole frame the lock notifies.
    pub async fn receive(&mut self) -> Result<Vec<u8>> {
        let notes = self.notes.as_mut().context("opened without answers")?;
        loop {
            let note = tokio::time::timeout(LIMIT, notes.next())
                .await
                .context("waiting for the lock's answer")?
                .context("notifications ended")?;
            if let Some(frame) = self.reassembler.push(&note, Instant::now())? {
                return Ok(frame);
            }
        }
    }

    /// Drops the link (for every client: BlueZ has one link per device).
    pub async fn disconnect(self) -> Result<()> {
        drop(self.notes);
        Ok(self.device.disconnect().await?)
    }
}

/// The lockgate service's `rx` and `tx` characteristics of a connected device.
async fn characteristics(device: &Device) -> Result<(Characteristic, Characteristic)> {
    let (mut rx, mut tx) = (None, None);
    for service in device.services().await? {
        if service.uuid().await? != Uuid::from_u128(SERVICE_UUID) {
            continue;
        }
        for ch in service.characteristics().await? {
            let uuid = ch.uuid().await?;
            if uuid == Uuid::from_u128(RX_CHAR_UUID) {
                rx = Some(ch);
            } else if uuid == Uuid::from_u128(TX_CHAR_UUID) {
                tx = Some(ch);
            }
        }
    }
    rx.zip(tx)
        .ok_or_else(|| anyhow!("{} has no lockgate service", device.address()))
}
