//! W3C trace context (`traceparent`), carried from a caller through
//! review-svc into its classifier calls, so the logs of both services share
//! one trace id for one piece of work.
//!
//! With OpenTelemetry export on (`--otlp-endpoint`), [`TraceContext::attach`]
//! makes a `tracing` span the exported span this context names: same trace
//! id, same span id, parented on the span that started the work, so the
//! spans exported by both services form one trace.

use tonic::metadata::MetadataMap;

/// A `traceparent`: version 00, trace id, parent span id, flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceContext {
    pub trace_id: String,
    pub span_id: String,
    pub flags: String,
    /// The span this one was started from, when known (see `child`): none
    /// for a new trace or a context read from a header.
    pub parent_span_id: Option<String>,
}

impl TraceContext {
    /// The caller's context, when it sent a well-formed `traceparent`.
    pub fn from_metadata(metadata: &MetadataMap) -> Option<Self> {
        Self::parse(metadata.get("traceparent")?.to_str().ok()?)
    }

    pub fn parse(header: &str) -> Option<Self> {
        let mut parts = header.trim().split('-');
        let (version, trace_id, span_id, flags) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        let hex = |s: &str, len: usize| {
            s.len() == len
                && s.bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        };
        let valid = version == "00"
            && parts.next().is_none()
            && hex(trace_id, 32)
            && hex(span_id, 16)
            && hex(flags, 2)
            && trace_id.bytes().any(|b| b != b'0')
            && span_id.bytes().any(|b| b != b'0');
        valid.then(|| Self {
            trace_id: trace_id.to_owned(),
            span_id: span_id.to_owned(),
            flags: flags.to_owned(),
            parent_span_id: None,
        })
    }

    /// A new trace, for work no caller traced.
    pub fn root() -> Self {
        Self {
            trace_id: uuid::Uuid::new_v4().simple().to_string(),
            span_id: new_span_id(),
            flags: "01".to_owned(),
            parent_span_id: None,
        }
    }

    /// The caller's trace with a span of our own, or a new trace.
    pub fn continue_or_start(metadata: &MetadataMap) -> Self {
        match Self::from_metadata(metadata) {
            Some(parent) => parent.child(),
            None => Self::root(),
        }
    }

    /// The same trace, with a new span id.
    pub fn child(&self) -> Self {
        Self {
            trace_id: self.trace_id.clone(),
            span_id: new_span_id(),
            flags: self.flags.clone(),
            parent_span_id: Some(self.span_id.clone()),
        }
    }

    pub fn header(&self) -> String {
        format!("00-{}-{}-{}", self.trace_id, self.span_id, self.flags)
    }

    /// `self.child().attach(span)`, for a span started from the caller's
    /// context `self` (free when spans are not exported).
    pub fn attach_child(&self, span: &tracing::Span) {
        if crate::logging::exporting_spans() {
            self.child().attach(span);
        }
    }

    /// Makes `span` (new, not yet entered) the exported span this context
    /// names: its OpenTelemetry trace id and span id are this context's, and
    /// its parent is `parent_span_id` in the same trace, or none, so
    /// `header()` sent onwards names exactly the exported span. Does nothing
    /// when spans are not exported.
    pub fn attach(&self, span: &tracing::Span) {
        if !crate::logging::exporting_spans() {
            return;
        }
        use opentelemetry::trace::{
            SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState,
        };
        use tracing_opentelemetry::OpenTelemetrySpanExt;
        let (Ok(trace_id), Ok(span_id), Ok(flags)) = (
            TraceId::from_hex(&self.trace_id),
            SpanId::from_hex(&self.span_id),
            u8::from_str_radix(&self.flags, 16),
        ) else {
            return;
        };
        let flags = TraceFlags::new(flags & TraceFlags::SAMPLED.to_u8());
        let parent = match self.parent_span_id.as_deref().map(SpanId::from_hex) {
            Some(Ok(parent)) => opentelemetry::Context::new().with_remote_span_context(
                SpanContext::new(trace_id, parent, flags, true, TraceState::default()),
            ),
            // A new trace: no parent, not even the enclosing `tracing` span.
            _ => opentelemetry::Context::new(),
        };
        if span.set_parent(parent).is_ok() {
            // Starts the OpenTelemetry span now, with our ids.
            crate::logging::with_next_ids(trace_id, span_id, || span.context());
        }
    }
}

fn new_span_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..16].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_valid_headers_and_refuses_the_rest() {
        let valid = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let parsed = TraceContext::parse(valid).unwrap();
        assert_eq!(parsed.header(), valid);
        for bad in [
            "",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
        ] {
            assert_eq!(TraceContext::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn children_keep_the_trace_and_change_the_span() {
        let root = TraceContext::root();
        let child = root.child();
        assert_eq!(child.trace_id, root.trace_id);
        assert_ne!(child.span_id, root.span_id);
        assert!(TraceContext::parse(&child.header()).is_some());
        assert_eq!(child.parent_span_id.as_deref(), Some(root.span_id.as_str()));
    }
}
