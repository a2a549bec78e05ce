//! W3C trace context (`traceparent` and `tracestate`, read and written by
//! OpenTelemetry's `TraceContextPropagator`), carried from a caller through
//! review-svc into its classifier calls, so the logs of both services share
//! one trace id for one piece of work.
//!
//! With OpenTelemetry export on (`--otlp-endpoint`), [`TraceContext::attach`]
//! makes a `tracing` span the exported span this context names: same trace
//! id, same span id, parented on the span that started the work, so the
//! spans exported by both services form one trace.

use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tonic::metadata::MetadataMap;

/// A `traceparent` (version 00, trace id, parent span id, flags) and the
/// caller's `tracestate`, passed on unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceContext {
    pub trace_id: String,
    pub span_id: String,
    pub flags: String,
    /// The span this one was started from, when known (see `child`): none
    /// for a new trace or a context read from a header.
    pub parent_span_id: Option<String>,
    /// The vendors' `tracestate` entries, as received (empty when none).
    pub tracestate: String,
}

struct Read<'a>(&'a MetadataMap);

impl Extractor for Read<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0
            .keys()
            .filter_map(|key| match key {
                tonic::metadata::KeyRef::Ascii(key) => Some(key.as_str()),
                tonic::metadata::KeyRef::Binary(_) => None,
            })
            .collect()
    }
}

struct Write<'a>(&'a mut MetadataMap);

impl Injector for Write<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(key), Ok(value)) = (
            tonic::metadata::MetadataKey::from_bytes(key.as_bytes()),
            value.parse(),
        ) {
            self.0.insert(key, value);
        }
    }
}

impl TraceContext {
    /// The caller's context, when it sent a well-formed `traceparent`.
    pub fn from_metadata(metadata: &MetadataMap) -> Option<Self> {
        let context = TraceContextPropagator::new().extract(&Read(metadata));
        Self::from_span_context(context.span().span_context())
    }

    /// A `traceparent` header value alone.
    pub fn parse(header: &str) -> Option<Self> {
        let mut metadata = MetadataMap::new();
        metadata.insert("traceparent", header.trim().parse().ok()?);
        Self::from_metadata(&metadata)
    }

    fn from_span_context(context: &SpanContext) -> Option<Self> {
        context.is_valid().then(|| Self {
            trace_id: context.trace_id().to_string(),
            span_id: context.span_id().to_string(),
            flags: format!("{:02x}", context.trace_flags().to_u8()),
            parent_span_id: None,
            tracestate: context.trace_state().header(),
        })
    }

    fn span_context(&self) -> Option<SpanContext> {
        let trace_id = TraceId::from_hex(&self.trace_id).ok()?;
        let span_id = SpanId::from_hex(&self.span_id).ok()?;
        let flags = u8::from_str_radix(&self.flags, 16).ok()?;
        let state = self.tracestate.parse::<TraceState>().unwrap_or_default();
        Some(SpanContext::new(
            trace_id,
            span_id,
            TraceFlags::new(flags & TraceFlags::SAMPLED.to_u8()),
            true,
            state,
        ))
    }

    /// Writes `traceparent` (naming this span) and `tracestate` into the
    /// metadata of an outgoing call.
    pub fn inject(&self, metadata: &mut MetadataMap) {
        if let Some(context) = self.span_context() {
            let context = opentelemetry::Context::new().with_remote_span_context(context);
            TraceContextPropagator::new().inject_context(&context, &mut Write(metadata));
        }
    }

    /// A new trace, for work no caller traced.
    pub fn root() -> Self {
        Self {
            trace_id: uuid::Uuid::new_v4().simple().to_string(),
            span_id: new_span_id(),
            flags: "01".to_owned(),
            parent_span_id: None,
            tracestate: String::new(),
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
            tracestate: self.tracestate.clone(),
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
            Some(Ok(parent)) => {
                opentelemetry::Context::new().with_remote_span_context(SpanContext::new(
                    trace_id,
                    parent,
                    flags,
                    true,
                    self.tracestate.parse::<TraceState>().unwrap_or_default(),
                ))
            }
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
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
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
    fn tracestate_is_carried_on() {
        let mut incoming = MetadataMap::new();
        incoming.insert(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
                .parse()
                .unwrap(),
        );
        incoming.insert("tracestate", "vendor=opaque,other=1".parse().unwrap());
        let ours = TraceContext::continue_or_start(&incoming);
        assert_eq!(ours.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(ours.parent_span_id.as_deref(), Some("00f067aa0ba902b7"));
        let mut outgoing = MetadataMap::new();
        ours.inject(&mut outgoing);
        assert_eq!(
            outgoing.get("traceparent").unwrap().to_str().unwrap(),
            ours.header()
        );
        assert_eq!(
            outgoing.get("tracestate").unwrap().to_str().unwrap(),
            "vendor=opaque,other=1"
        );
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
