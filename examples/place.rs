//! Places a slab on huge pages by refresh group and prints what placement found (a measurement
//! tool, not a test): `cargo run --release --no-default-features --example place -- SLOTS [REPLICAS] [PAGES]`.

use ultraslayer::placement::{self, PlacementOptions};
use ultraslayer::{LockRequest, PageRequest};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let slots: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(1 << 22);
    let replicas: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(2);
    let pages = PageRequest::parse(args.get(3).map_or("auto", |s| s.as_str())).expect("pages");
    match placement::build(slots, replicas, pages, LockRequest::Auto, &PlacementOptions::default()) {
        Ok((_slab, info)) => println!("{}", serde_json::to_string_pretty(&info).unwrap()),
        Err(e) => println!("placement failed: {e}"),
    }
}
