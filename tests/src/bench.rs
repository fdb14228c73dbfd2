//! Shared by the real-TUN benchmark tools (`examples/loadgen`, `examples/smoltcp_tun_server`,
//! `examples/bench_memory`, driven by `scripts/bench-tun.sh`): the chargen stream both servers
//! send, percentiles and medians, and the records file that becomes one side-by-side table.
//!
//! A records file has one measurement per line, tab-separated:
//! `stack  metric  better  value  label` — `better` is `hi` or `lo`, `value` a number or `fail`
//! (that run of that mode failed), `label` the human name of the metric with its unit.

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// The median of `values` (the mean of the two middle ones for an even count); None if empty.
pub fn median(values: &[f64]) -> Option<f64> {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(v[n / 2]),
        _ => Some((v[n / 2 - 1] + v[n / 2]) / 2.0),
    }
}

/// The nearest-rank `p`th percentile (0 < p ≤ 100) of an ascending slice; None if empty.
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// Which direction of a metric is the good one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Better {
    Higher,
    Lower,
}

/// What one number means: a stable key, a label with the unit, and its good direction.
#[derive(Clone, Debug, PartialEq)]
pub struct Metric {
    pub key: String,
    pub label: String,
    pub better: Better,
}

impl Metric {
    pub fn new(key: &str, label: impl Into<String>, better: Better) -> Metric {
        Metric {
            key: key.into(),
            label: label.into(),
            better,
        }
    }
}

/// One measurement of one stack: `value` None means the run failed.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    pub stack: String,
    pub metric: Metric,
    pub value: Option<f64>,
}

impl Record {
    /// The line of a records file (no newline).
    pub fn to_line(&self) -> String {
        let better = match self.metric.better {
            Better::Higher => "hi",
            Better::Lower => "lo",
        };
        let value = self.value.map_or("fail".to_string(), |v| format!("{v}"));
        let clean = |s: &str| s.replace(['\t', '\n'], " ");
        format!(
            "{}\t{}\t{better}\t{value}\t{}",
            clean(&self.stack),
            clean(&self.metric.key),
            clean(&self.metric.label)
        )
    }

    /// Parses one line of a records file.
    pub fn parse(line: &str) -> Result<Record, String> {
        let f: Vec<&str> = line.splitn(5, '\t').collect();
        let [stack, key, better, value, label] = f[..] else {
            return Err(format!("expected 5 tab-separated fields: {line:?}"));
        };
        let better = match better {
            "hi" => Better::Higher,
            "lo" => Better::Lower,
            other => return Err(format!("better must be hi or lo, not {other:?}")),
        };
        let value = match value {
            "fail" => None,
            v => Some(
                v.parse::<f64>()
                    .ok()
                    .filter(|x| x.is_finite())
                    .ok_or_else(|| format!("not a number: {v:?}"))?,
            ),
        };
        Ok(Record {
            stack: stack.into(),
            metric: Metric::new(key, label, better),
            value,
        })
    }
}

/// Parses a whole records file (blank lines skipped); the error names the line.
pub fn parse_records(text: &str) -> Result<Vec<Record>, String> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| Record::parse(l).map_err(|e| format!("line {}: {e}", i + 1)))
        .collect()
}

/// A number for a table: thousands separated above 1000, fewer decimals as it grows.
pub fn format_number(v: f64) -> String {
    let a = v.abs();
    if a >= 1000.0 {
        let s = format!("{:.0}", a);
        let mut out = String::new();
        for (i, c) in s.chars().enumerate() {
            if i > 0 && (s.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(c);
        }
        if v < 0.0 {
            out.insert(0, '-');
        }
        out
    } else if a >= 100.0 || v.fract() == 0.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// The runs of one metric by one stack.
#[derive(Debug, Default)]
struct Runs {
    values: Vec<f64>,
    failed: usize,
}

impl Runs {
    fn cell(&self) -> String {
        let n = self.values.len() + self.failed;
        match median(&self.values) {
            None if n == 0 => "—".into(),
            None => format!("failed ({n} of {n})"),
            Some(m) if self.failed > 0 => {
                format!("{} ({} of {n} failed)", format_number(m), self.failed)
            }
            Some(m) => format_number(m),
        }
    }
}

/// Rows in the order metrics first appear, with every stack's runs.
fn group(records: &[Record]) -> Vec<(Metric, BTreeMap<String, Runs>)> {
    let mut rows: Vec<(Metric, BTreeMap<String, Runs>)> = Vec::new();
    for r in records {
        let i = match rows.iter().position(|(m, _)| m.key == r.metric.key) {
            Some(i) => i,
            None => {
                rows.push((r.metric.clone(), BTreeMap::new()));
                rows.len() - 1
            }
        };
        let runs = rows[i].1.entry(r.stack.clone()).or_default();
        match r.value {
            Some(v) => runs.values.push(v),
            None => runs.failed += 1,
        }
    }
    rows
}

/// The side-by-side Markdown table: metric | base | other | other/base, medians of each
/// stack's runs; a failed run is counted in the cell, a metric with no run is "—".
pub fn table(records: &[Record], base: &str, other: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| metric (median) | {base} | {other} | {other}/{base} |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|");
    for (metric, by_stack) in group(records) {
        let get = |s: &str| by_stack.get(s);
        let cell = |s: &str| get(s).map_or("—".into(), Runs::cell);
        let med = |s: &str| get(s).and_then(|r| median(&r.values));
        let ratio = match (med(base), med(other)) {
            (Some(b), Some(o)) if b != 0.0 => format!("{:.2}", o / b),
            _ => "—".into(),
        };
        let hint = match metric.better {
            Better::Higher => "",
            Better::Lower => " (lower is better)",
        };
        let _ = writeln!(
            out,
            "| {}{hint} | {} | {} | {ratio} |",
            metric.label,
            cell(base),
            cell(other)
        );
    }
    out
}

/// Every run, one line per metric and stack, for the record beside the medians.
pub fn runs_listing(records: &[Record]) -> String {
    let mut out = String::new();
    for (metric, by_stack) in group(records) {
        for (stack, runs) in by_stack {
            let mut vals: Vec<String> = runs.values.iter().map(|v| format_number(*v)).collect();
            vals.extend(std::iter::repeat_n("fail".to_string(), runs.failed));
            let _ = writeln!(out, "{:<24} {:<8} {}", metric.key, stack, vals.join(" "));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(stack: &str, key: &str, better: Better, value: Option<f64>) -> Record {
        Record {
            stack: stack.into(),
            metric: Metric::new(key, format!("{key}, units"), better),
            value,
        }
    }

    #[test]
    fn median_odd_even_and_empty() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&[7.0]), Some(7.0));
        assert_eq!(median(&[]), None);
    }

    #[test]
    fn percentile_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), Some(50.0));
        assert_eq!(percentile(&v, 99.0), Some(99.0));
        assert_eq!(percentile(&v, 100.0), Some(100.0));
        assert_eq!(percentile(&[5.0], 99.0), Some(5.0));
        assert_eq!(percentile(&[1.0, 2.0, 3.0], 50.0), Some(2.0));
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn records_round_trip_and_reject_garbage() {
        let r = rec("ustack", "push_gbps", Better::Higher, Some(2.5));
        assert_eq!(Record::parse(&r.to_line()), Ok(r));
        let f = rec("smoltcp", "rr_p99_us", Better::Lower, None);
        assert_eq!(Record::parse(&f.to_line()), Ok(f));
        assert!(Record::parse("ustack\tpush\thi\t2.5").is_err());
        assert!(Record::parse("ustack\tpush\tup\t2.5\tx").is_err());
        assert!(Record::parse("ustack\tpush\thi\tNaN\tx").is_err());
        assert!(Record::parse("ustack\tpush\thi\tquick\tx").is_err());
        let err = parse_records("ustack\tpush\thi\t1\tx\n\nbad line\n").unwrap_err();
        assert!(err.starts_with("line 3:"), "{err}");
    }

    #[test]
    fn numbers_are_formatted_for_people() {
        assert_eq!(format_number(64000.4), "64,000");
        assert_eq!(format_number(1234567.0), "1,234,567");
        assert_eq!(format_number(-1500.0), "-1,500");
        assert_eq!(format_number(999.6), "1000");
        assert_eq!(format_number(123.4), "123");
        assert_eq!(format_number(42.44), "42.4");
        assert_eq!(format_number(2.345), "2.35");
        assert_eq!(format_number(0.0), "0");
        assert_eq!(format_number(17.0), "17");
    }

    #[test]
    fn table_has_medians_ratio_failures_and_order() {
        let mut rs = Vec::new();
        for (s, v) in [(5.0, 2.0), (6.0, 3.0), (7.0, 1.0)] {
            rs.push(rec("smoltcp", "push", Better::Higher, Some(s)));
            rs.push(rec("ustack", "push", Better::Higher, Some(v)));
        }
        rs.push(rec("ustack", "lat", Better::Lower, Some(10.0)));
        rs.push(rec("ustack", "lat", Better::Lower, None));
        rs.push(rec("smoltcp", "lat", Better::Lower, None));
        let t = table(&rs, "smoltcp", "ustack");
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(
            lines[0],
            "| metric (median) | smoltcp | ustack | ustack/smoltcp |"
        );
        assert_eq!(lines[2], "| push, units | 6 | 2 | 0.33 |");
        assert_eq!(
            lines[3],
            "| lat, units (lower is better) | failed (1 of 1) | 10 (1 of 2 failed) | — |"
        );
        assert_eq!(lines.len(), 4);
        let l = runs_listing(&rs);
        assert!(l.contains("push                     smoltcp  5 6 7"), "{l}");
        assert!(
            l.contains("lat                      ustack   10 fail"),
            "{l}"
        );
    }
}
