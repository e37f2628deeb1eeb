//! Runs every probe once, briefly, and prints the reports:
//! `cargo run --release -p ultraslayer --features bench --example probe [seconds]`.

use std::io::Write;
use std::time::Duration;

use ultraslayer::probe::{groups, placement, refresh, MachineInfo};
use ultraslayer::{Layout, LockRequest, PageRequest};

fn progress(label: &'static str) -> impl FnMut(f64) {
    let mut shown = -1i32;
    move |f| {
        let pct = (f * 100.0) as i32;
        if pct / 10 != shown / 10 {
            shown = pct;
            eprint!("\r{label}: {pct:3}%");
            let _ = std::io::stderr().flush();
            if pct >= 100 {
                eprintln!();
            }
        }
    }
}

fn main() {
    let seconds: f64 = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(3.0);

    println!("== info ==\n{}\n", MachineInfo::read());

    let opts = refresh::RefreshOptions { duration: Duration::from_secs_f64(seconds), ..Default::default() };
    let period = match refresh::probe(&opts, progress("refresh")) {
        Ok(r) => {
            println!("== probe refresh ==\n{r}\n");
            r.refresh_period_ns
        }
        Err(e) => {
            println!("== probe refresh ==\nerror: {e}\n");
            None
        }
    };

    let gopts = groups::GroupsOptions { period_ns: period, ..Default::default() };
    let offset = match groups::probe(&gopts, progress("groups")) {
        Ok(g) => {
            println!("== probe groups ==\n{g}");
            match groups::record(&g) {
                Ok(p) => println!("recorded in {}", p.display()),
                Err(e) => println!("not recorded: {e}"),
            }
            println!("load_recorded(): {:?}\n", groups::load_recorded());
            g.recommended_offset
        }
        Err(e) => {
            println!("== probe groups ==\nerror: {e}\n");
            None
        }
    };

    println!("== probe placement ==");
    let layout = Layout::new(1 << 20, 2, offset.unwrap_or(256)).expect("a valid layout");
    match ultraslayer::slab::Slab::new(layout, PageRequest::Auto, LockRequest::Auto) {
        Ok(slab) => {
            for model in [
                placement::ChannelModel::Bit(6),
                placement::ChannelModel::Bit(8),
                placement::ChannelModel::XorMasks(vec![(1 << 8) | (1 << 13) | (1 << 22), (1 << 9) | (1 << 30)]),
            ] {
                match placement::check(&slab, &[], &model) {
                    Ok(r) => println!("{r}\n"),
                    Err(e) => println!("error: {e}\n"),
                }
            }
        }
        Err(e) => println!("no slab: {e}"),
    }
}
