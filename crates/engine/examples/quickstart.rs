// A slab of 4096 u64 slots in two copies, read by hedging: two replica threads race to read both
// copies and the first answer wins, so a read that lands on a refreshing DRAM row does not wait
// for it. Run it with `cargo run -p ultraslayer --example quickstart`; it needs only this crate.
//
// Costs to know before using it: memory is N× (one copy per replica), hedging keeps N cores
// busy, and every read is handed to another core and back, which raises the median read time;
// what it buys is a shorter tail. `Strategy::Steer` and `Strategy::Direct` read from the calling
// thread instead (no extra cores).

use ultraslayer::{ErrorKind, Options, Slayer, Strategy};

fn main() -> Result<(), ultraslayer::Error> {
    let mut options = Options::new(4096);
    options.strategy = Strategy::Hedge;
    options.threads.record_latency = true; // per-read latencies in stats()
    let mut slab = Slayer::new(options)?;

    // Slots hold one 64-bit word each; writes reach every copy.
    slab.write(0, 42)?;
    slab.write(1, 101.25f64.to_bits())?;
    assert_eq!(slab.read(0)?, 42);
    assert_eq!(f64::from_bits(slab.read(1)?), 101.25);

    // Several slots at once.
    slab.write_many(&[2, 3], &[7, 8])?;
    let mut out = [0u64; 2];
    slab.read_many(&[2, 3], &mut out)?;
    assert_eq!(out, [7, 8]);

    // What the slab got and how it runs (page kind, cores, strategy and why) ...
    let info = slab.info();
    println!(
        "{} slots x {} copies, {} pages, strategy {:?} ({}), cores {:?}",
        info.slots,
        info.replicas,
        info.page_kind.name(),
        info.strategy,
        info.choice.reason,
        info.cores
    );
    // ... and what its reads did: which copy answered first, and the latency percentiles.
    let stats = slab.stats();
    println!("hedged reads {}, wins per copy {:?}", stats.hedged, stats.wins);
    if let Some(p) = stats.latency {
        println!("latency ns: p50 {} p99 {} max {}", p.p50, p.p99, p.max);
    }

    // Refusals are values: `kind()` says whether the caller passed a bad type or shape, a value
    // out of range, or the system refused; the message says what to do.
    match slab.read(1 << 20) {
        Err(e) if e.kind() == ErrorKind::Range => println!("refused: {e}"),
        other => panic!("expected a range error, got {other:?}"),
    }

    shared_slab()?;
    Ok(())
}

/// A named slab other processes open by name (a file under /dev/shm): one process creates and
/// writes it, any number open it and read.
#[cfg(unix)]
fn shared_slab() -> Result<(), ultraslayer::Error> {
    use ultraslayer::{OpenOptions, SharedOptions};

    let name = format!("quickstart-{}", std::process::id());
    let mut options = Options::new(1024);
    options.strategy = Strategy::Direct; // no replica threads in this part
    let writer = Slayer::create_shared(&name, options, SharedOptions::default())?;
    writer.write(5, 55)?;

    let open = OpenOptions { strategy: Strategy::Direct, ..OpenOptions::default() };
    let mut reader = Slayer::open_shared(&name, open)?;
    assert_eq!(reader.read(5)?, 55);

    // The segment outlives both handles until it is unlinked.
    drop(reader);
    drop(writer);
    ultraslayer::shm::unlink(&name, None)?;
    println!("shared slab {name}: created, written, opened, read, unlinked");
    Ok(())
}

#[cfg(not(unix))]
fn shared_slab() -> Result<(), ultraslayer::Error> {
    Ok(())
}
