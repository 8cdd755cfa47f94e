//! The text log line when stdout is not a terminal: the very line tracing-subscriber's default
//! format writes without colours (`2026-12-02T05:43:30.225315Z  INFO target: message k=v`),
//! written with less work, as one is written for every request.
//!
//! Why: profiled under load, the default format spent most of its time on things a piped log
//! does not show: the colour wrappers (called even with colours off) and the date and time
//! formatted field by field for every line. Here the date and time up to the second are
//! formatted once per second per thread, the fields still by tracing-subscriber's own
//! `DefaultFields`, so the line stays byte for byte the same.

use std::cell::RefCell;
use std::fmt::Write as _;

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// The format (no spans are used in this program, so none are written). Install it with
/// `with_ansi(false)`: the fields are written by `DefaultFields`, which colours them otherwise.
#[derive(Clone, Copy, Debug, Default)]
pub struct Plain;

thread_local! {
    /// The second last formatted on this thread and its `YYYY-MM-DDTHH:MM:SS`.
    static SECOND: RefCell<(i64, String)> = const { RefCell::new((i64::MIN, String::new())) };
}

/// `2026-12-02T05:43:30.225315Z`, as tracing-subscriber's `SystemTime` writes it.
fn timestamp(
    out: &mut impl std::fmt::Write,
    now: chrono::DateTime<chrono::Utc>,
) -> std::fmt::Result {
    SECOND.with(|cached| {
        let mut cached = cached.borrow_mut();
        let second = now.timestamp();
        if cached.0 != second {
            cached.1.clear();
            write!(cached.1, "{}", now.format("%Y-%m-%dT%H:%M:%S"))?;
            cached.0 = second;
        }
        write!(out, "{}.{:06}Z", cached.1, now.timestamp_subsec_micros())
    })
}

fn level(level: &Level) -> &'static str {
    match *level {
        Level::TRACE => "TRACE",
        Level::DEBUG => "DEBUG",
        Level::INFO => " INFO",
        Level::WARN => " WARN",
        Level::ERROR => "ERROR",
    }
}

/// The request log's target (`http::service` logs each request under it).
const REQUEST_TARGET: &str = "belvo_mock::request";

/// `message k=v k="str"`: `DefaultFields`' form (`str` values quoted and escaped, numbers
/// and `%`-values as they display), without its per-field formatting machinery.
struct Fields<'a, W: std::fmt::Write> {
    out: &'a mut W,
    first: bool,
    result: std::fmt::Result,
}

impl<W: std::fmt::Write> Fields<'_, W> {
    /// The separator and, except for the message, `name=`.
    fn name(&mut self, field: &tracing::field::Field) {
        if !self.first {
            self.result = self.result.and_then(|()| self.out.write_char(' '));
        }
        self.first = false;
        if field.name() != "message" {
            let out = &mut *self.out;
            self.result = self
                .result
                .and_then(|()| out.write_str(field.name()))
                .and_then(|()| out.write_char('='));
        }
    }
}

impl<W: std::fmt::Write> tracing::field::Visit for Fields<'_, W> {
    fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
        self.name(field);
        let mut digits = itoa::Buffer::new();
        let text = digits.format(value);
        self.result = self.result.and_then(|()| self.out.write_str(text));
    }

    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.name(field);
        if field.name() == "message" {
            self.result = self.result.and_then(|()| self.out.write_str(value));
        } else {
            self.result = self.result.and_then(|()| write!(self.out, "{value:?}"));
        }
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.name(field);
        self.result = self.result.and_then(|()| write!(self.out, "{value:?}"));
    }
}

impl<S, N> FormatEvent<S, N> for Plain
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        let meta = event.metadata();
        timestamp(&mut writer, chrono::Utc::now())?;
        writer.write_char(' ')?;
        writer.write_str(level(meta.level()))?;
        writer.write_char(' ')?;
        writer.write_str(meta.target())?;
        writer.write_str(": ")?;
        if meta.target() == REQUEST_TARGET {
            // One of these a request: its fields written directly, as `DefaultFields` would.
            let mut fields = Fields {
                out: &mut writer,
                first: true,
                result: Ok(()),
            };
            event.record(&mut fields);
            fields.result?;
        } else {
            ctx.format_fields(writer.by_ref(), event)?;
        }
        writer.write_char('\n')
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::log_sink::testing::Captured;

    fn lines(plain: bool) -> String {
        let out = Captured::default();
        let make = {
            let out = out.clone();
            move || out.clone()
        };
        let emit = || {
            tracing::info!(target: "belvo_mock::request", method = %"GET", path = "/api/links/", status = 404u16, micros = 7u64, "request");
            tracing::info!(target: "belvo_mock::request", method = %"POST", path = "/a\"b\\c", status = 428u16, request_id = %"00ff", micros = 0u64, "request");
            tracing::warn!("a \"quoted\" message");
        };
        if plain {
            let subscriber = tracing_subscriber::fmt()
                .with_writer(make)
                .with_ansi(false)
                .event_format(Plain)
                .finish();
            tracing::subscriber::with_default(subscriber, emit);
        } else {
            let subscriber = tracing_subscriber::fmt()
                .with_writer(make)
                .with_ansi(false)
                .finish();
            tracing::subscriber::with_default(subscriber, emit);
        }
        out.text()
    }

    /// Same line as the default format, timestamps aside (they are apart by a few µs).
    #[test]
    fn the_plain_line_is_the_default_formats_line_without_colours() {
        let strip = |text: String| -> Vec<String> {
            text.lines()
                .map(|l| {
                    assert_eq!(l.as_bytes()[26], b'Z', "{l}");
                    assert!(
                        chrono::DateTime::parse_from_rfc3339(&l[..27]).is_ok(),
                        "{l}"
                    );
                    l[27..].to_owned()
                })
                .collect()
        };
        let plain = strip(lines(true));
        assert_eq!(plain, strip(lines(false)));
        assert_eq!(
            plain,
            vec![
                "  INFO belvo_mock::request: request method=GET path=\"/api/links/\" status=404 micros=7",
                "  INFO belvo_mock::request: request method=POST path=\"/a\\\"b\\\\c\" status=428 request_id=00ff micros=0",
                "  WARN belvo_mock::log_format::tests: a \"quoted\" message",
            ]
        );
    }
}
