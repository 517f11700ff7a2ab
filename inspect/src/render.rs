//! The report as text (aligned lines, then a listing) or as one JSON
//! object. Times as ISO 8601 UTC with milliseconds, and as Unix ms.

use crate::Refused;
use crate::args::Options;
use crate::gather::{Format, Header, LockState, Queue, Report};
use offtrack::Consent;
use offtrack::internals::Record;
use serde_json::{Value, json};
use std::fmt::Write;

/// Width the text listing is cut to without `--full` (`COLUMNS` if set).
const DEFAULT_WIDTH: usize = 100;

pub fn text(report: &Report, options: &Options) -> String {
    let mut out = String::new();
    let mut line = |name: &str, value: String| {
        let _ = writeln!(out, "{name:<16}{value}");
    };
    line("storage dir", report.dir.display().to_string());
    if let Some(header) = &report.header {
        line("format version", format_text(&header.format));
        line("encrypted", yes_no(header.encrypted).into());
        line("consent", consent_text(header.consent));
        line("opt-out", yes_no(opt_out(header)).into());
        line("lock", lock_text(&header.lock));
        if !header.damaged_kept.is_empty() {
            line("damaged kept", header.damaged_kept.join(", "));
        }
    }
    let Some(queue) = &report.queue else {
        return out;
    };
    line(
        "queue",
        format!("{} hits, {} bytes", queue.count, queue.bytes),
    );
    if queue.from_intake > 0 {
        line(
            "from intake",
            format!(
                "{} of them were in the intake files, not yet in the database (left by a kill)",
                queue.from_intake
            ),
        );
    }
    line("oldest", created_text(queue.oldest.as_ref()));
    line("latest", created_text(queue.latest.as_ref()));
    if queue.hits.is_empty() {
        return out;
    }
    let _ = writeln!(
        out,
        "\n{:<10} {:<24} {:>8}  hit",
        "id", "created", "attempts"
    );
    let width = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse::<usize>().ok())
        .unwrap_or(DEFAULT_WIDTH);
    let room = width.saturating_sub(10 + 1 + 24 + 1 + 8 + 2).max(20);
    for hit in &queue.hits {
        let _ = match hit {
            Ok(r) => writeln!(
                out,
                "{:<10} {:<24} {:>8}  {}",
                r.id,
                iso8601(r.created_ms),
                r.attempts,
                if options.full {
                    r.url.clone()
                } else {
                    cut(&r.url, room)
                }
            ),
            Err(id) => writeln!(
                out,
                "{id:<10} (does not decode: damaged or sealed under another key)"
            ),
        };
    }
    let listed = queue.hits.len() as u64;
    if listed < queue.count {
        let _ = writeln!(
            out,
            "… {} more (--limit N or --limit all to list them)",
            queue.count - listed
        );
    }
    out
}

pub fn json(report: &Report, refused: Option<&Refused>) -> String {
    let mut object = serde_json::Map::new();
    object.insert(
        "storage_dir".into(),
        json!(report.dir.display().to_string()),
    );
    if let Some(header) = &report.header {
        let (version, format_error) = match &header.format {
            Format::Missing => (Value::Null, Value::Null),
            Format::Version(v) => (json!(v), Value::Null),
            Format::Unreadable(why) => (Value::Null, json!(why)),
        };
        object.insert("format_version".into(), version);
        if !format_error.is_null() {
            object.insert("format_error".into(), format_error);
        }
        object.insert("encrypted".into(), json!(header.encrypted));
        object.insert("consent".into(), json!(header.consent.map(Consent::name)));
        object.insert("opt_out".into(), json!(opt_out(header)));
        let (lock, pid) = match header.lock {
            LockState::NoLockFile => ("no lock file", None),
            LockState::Free => ("free", None),
            LockState::Held(pid) => ("held", pid),
        };
        object.insert("lock".into(), json!(lock));
        object.insert("lock_pid".into(), json!(pid));
        object.insert("damaged_kept".into(), json!(header.damaged_kept));
    }
    if let Some(queue) = &report.queue {
        queue_json(queue, &mut object);
    }
    if let Some(refused) = refused {
        object.insert(
            "error".into(),
            json!({
                "kind": refused.kind.name(),
                "message": refused.message,
                "exit_code": refused.kind.exit_code(),
            }),
        );
    }
    Value::Object(object).to_string()
}

fn queue_json(queue: &Queue, object: &mut serde_json::Map<String, Value>) {
    object.insert("count".into(), json!(queue.count));
    object.insert("bytes".into(), json!(queue.bytes));
    object.insert("from_intake".into(), json!(queue.from_intake));
    object.insert("oldest".into(), created_json(queue.oldest.as_ref()));
    object.insert("latest".into(), created_json(queue.latest.as_ref()));
    let hits: Vec<Value> = queue
        .hits
        .iter()
        .map(|hit| match hit {
            Ok(r) => json!({
                "id": r.id,
                "created": r.created_ms,
                "created_iso": iso8601(r.created_ms),
                "attempts": r.attempts,
                "hit": r.url,
            }),
            Err(id) => json!({ "id": id, "undecodable": true }),
        })
        .collect();
    object.insert("listed".into(), json!(hits.len()));
    object.insert("hits".into(), Value::Array(hits));
}

fn created_json(record: Option<&Record>) -> Value {
    match record {
        Some(r) => {
            json!({ "id": r.id, "created": r.created_ms, "created_iso": iso8601(r.created_ms) })
        }
        None => Value::Null,
    }
}

fn created_text(record: Option<&Record>) -> String {
    match record {
        Some(r) => format!("{} ({}, id {})", iso8601(r.created_ms), r.created_ms, r.id),
        None => "-".into(),
    }
}

fn format_text(format: &Format) -> String {
    match format {
        Format::Missing => "none recorded (a tracker writes one at its first open)".into(),
        Format::Version(v) => v.to_string(),
        Format::Unreadable(why) => format!("unreadable ({why})"),
    }
}

fn consent_text(consent: Option<Consent>) -> String {
    match consent {
        Some(c) => c.name().into(),
        None => "none recorded (the app's config decides; granted by default)".into(),
    }
}

fn lock_text(lock: &LockState) -> String {
    match lock {
        LockState::NoLockFile => "free (no LOCK file)".into(),
        LockState::Free => "free".into(),
        LockState::Held(Some(pid)) => format!("held by a running tracker (pid {pid})"),
        LockState::Held(None) => "held by a running tracker".into(),
    }
}

fn opt_out(header: &Header) -> bool {
    header.consent == Some(Consent::Denied)
}

fn yes_no(value: bool) -> &'static str {
    if value { "yes" } else { "no" }
}

/// `text` cut to `room` characters, ending in "…" if it was longer.
fn cut(text: &str, room: usize) -> String {
    if text.chars().count() <= room {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(room.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Unix milliseconds as ISO 8601 UTC, e.g. `2024-11-22T13:06:40.123Z`.
pub fn iso8601(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Howard Hinnant's civil_from_days.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60,
        ms % 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso8601_dates() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601(1_732_280_000_123), "2024-11-22T12:53:20.123Z");
        assert_eq!(iso8601(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(iso8601(4_102_444_799_999), "2099-12-31T23:59:59.999Z");
    }

    #[test]
    fn cutting() {
        assert_eq!(cut("abcdef", 6), "abcdef");
        assert_eq!(cut("abcdef", 4), "abc…");
        assert_eq!(cut("ééééé", 3), "éé…");
    }
}
