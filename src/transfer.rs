//! `eipd export` and `eipd import`: the whole state as JSON Lines, for
//! backups and for seeding fixtures.
//!
//! The form (docs/operations.md): a header line
//! `{"eipd_export":1,"records":N}`, then one line per record,
//! `{"account":"…","region":"…","record":{…}}`, where `record` is the stored
//! record itself (its `kind` says which). An import is all-or-nothing: every
//! line is read and checked (JSON, one public IP per holder) before the
//! store is replaced in one transaction.

use std::io::{BufRead, BufWriter, IsTerminal, Write};

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};

use eipd_domain::{Record, Scope, World};

/// The version of the export form.
pub const EXPORT_VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
struct Header {
    eipd_export: u32,
    records: u64,
}

#[derive(Serialize, Deserialize)]
struct Line {
    account: String,
    region: String,
    record: Record,
}

fn progress(total: u64, what: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} records ({per_sec}, {eta} left)")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_message(what.to_owned());
    bar
}

/// Writes every record of `world`; returns how many.
pub fn export(world: &World, out: impl Write) -> anyhow::Result<u64> {
    let total: u64 = world.partitions().map(|(_, p)| p.record_keys().count() as u64).sum();
    let bar = progress(total, "exporting");
    let mut out = BufWriter::new(out);
    serde_json::to_writer(&mut out, &Header { eipd_export: EXPORT_VERSION, records: total })?;
    out.write_all(b"\n")?;
    let mut written = 0;
    for (scope, part) in world.partitions() {
        for key in part.record_keys() {
            let Some(record) = part.record(&key) else { continue };
            let line = Line { account: scope.account.to_string(), region: scope.region.to_string(), record };
            serde_json::to_writer(&mut out, &line)?;
            out.write_all(b"\n")?;
            written += 1;
            bar.inc(1);
        }
    }
    out.flush()?;
    bar.finish_and_clear();
    Ok(written)
}

/// Reads and checks an export into a World; nothing is written anywhere.
pub fn read(input: impl BufRead) -> anyhow::Result<World> {
    let mut lines = input.lines();
    let header = lines.next().context("the file is empty")??;
    let header: Header = serde_json::from_str(&header).context("the first line is not an eipd export header")?;
    if header.eipd_export > EXPORT_VERSION {
        bail!("the export has form {} (this eipd reads up to {EXPORT_VERSION})", header.eipd_export);
    }
    let bar = progress(header.records, "reading");
    let mut world = World::default();
    let mut count = 0u64;
    for (n, line) in lines.enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let parsed: Line = serde_json::from_str(&line).with_context(|| format!("line {}: not a record", n + 2))?;
        let scope = Scope::new(&parsed.account, &parsed.region);
        world.load(&scope, parsed.record);
        count += 1;
        bar.inc(1);
    }
    bar.finish_and_clear();
    if count != header.records {
        bail!("the header announces {} records but the file has {count}: truncated?", header.records);
    }
    // The same checks as a start: an import the server would refuse is refused here.
    let violations = eipd_domain::verify::violations(&world);
    if !violations.is_empty() {
        bail!("the export breaks eipd's invariants:\n  - {}", violations.join("\n  - "));
    }
    Ok(world)
}

#[cfg(test)]
mod tests {
    use super::*;
    use eipd_domain::addresses::{AllocateAddress, allocate_address};
    use eipd_domain::{Domain, Settings};

    #[test]
    fn round_trips_and_refuses_damage() {
        let settings = Settings::default();
        let mut world = World::default();
        let mut changes = eipd_domain::Changes::default();
        for account in ["111111111111", "222222222222"] {
            let mut tx = world.tx(&Scope::new(account, "us-east-1"), &settings, 0, &mut changes);
            let input = AllocateAddress {
                domain: Domain::Vpc,
                address: None,
                network_border_group: None,
                tags: Default::default(),
            };
            allocate_address(&mut tx, input).unwrap();
        }
        let mut buf = Vec::new();
        let n = export(&world, &mut buf).unwrap();
        assert!(n > 2);
        let back = read(buf.as_slice()).unwrap();
        let count = |w: &World| w.partitions().map(|(_, p)| p.record_keys().count()).sum::<usize>();
        assert_eq!(count(&back), count(&world));
        assert_eq!(back.address_count(), 2);
        // Truncated: the header's count no longer matches.
        let text = String::from_utf8(buf.clone()).unwrap();
        let cut: String = text.lines().take(3).map(|l| format!("{l}\n")).collect();
        assert!(read(cut.as_bytes()).err().expect("refused").to_string().contains("truncated"));
        // One IP for two accounts is refused.
        let lines: Vec<&str> = text.lines().collect();
        let address_line = lines.iter().find(|l| l.contains("\"kind\":\"address\"")).unwrap();
        let twin = address_line.replace("111111111111", "333333333333").replace("222222222222", "333333333333");
        let forged = format!("{{\"eipd_export\":1,\"records\":2}}\n{address_line}\n{twin}\n");
        assert!(read(forged.as_bytes()).err().expect("refused").to_string().contains("held twice"));
    }
}
