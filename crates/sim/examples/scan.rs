//! A plain `bluer` program pointed at locksim: discovers lockgate locks for a few seconds and
//! prints what their advertisements say.
//!
//! ```sh
//! eval "$(cargo run -q -p locksim -- up --locks 3 | head -n 1)" &   # or run `locksim up` elsewhere
//! cargo run -p locksim --example scan
//! ```

use bluer::{AdapterEvent, DiscoveryFilter, Session, Uuid};
use futures_util::StreamExt;
use lockgate_wire::{Advertisement, COMPANY_ID};
use std::time::Duration;

#[tokio::main]
async fn main() -> bluer::Result<()> {
    let session = Session::new().await?;
    let adapter = session.default_adapter().await?;
    println!("adapter {} ({})", adapter.name(), adapter.address().await?);
    let filter = DiscoveryFilter {
        uuids: [Uuid::from_u128(lockgate_wire::gatt::SERVICE_UUID)].into(),
        ..Default::default()
    };
    adapter.set_discovery_filter(filter).await?;
    let mut events = adapter.discover_devices().await?;
    let deadline = tokio::time::sleep(Duration::from_secs(3));
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            _ = &mut deadline => break,
            event = events.next() => match event {
                Some(AdapterEvent::DeviceAdded(addr)) => {
                    let device = adapter.device(addr)?;
                    let data = device.manufacturer_data().await?.unwrap_or_default();
                    let adv = data.get(&COMPANY_ID).map(|d| Advertisement::decode(COMPANY_ID, d));
                    let rssi = device.rssi().await?.unwrap_or_default();
                    match adv {
                        Some(Ok(a)) => println!(
                            "{addr}  lock {}  rssi {rssi} dBm  pairing={} pending={}",
                            a.lock_id, a.flags.pairing, a.flags.pending
                        ),
                        _ => println!("{addr}  (no lockgate advertisement)"),
                    }
                }
                Some(_) => {}
                None => break,
            }
        }
    }
    Ok(())
}
