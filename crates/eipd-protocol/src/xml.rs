//! The EC2 XML response writer.
//!
//! Responses are small and flat, so a streaming writer into one `String` is
//! both the simplest and the fastest form; quick-xml does the escaping.

use std::fmt::{Display, Write};

use quick_xml::escape::escape;

use eipd_domain::error::ApiError;

pub const XMLNS: &str = "http://ec2.amazonaws.com/doc/2016-11-15/";

pub struct XmlWriter {
    out: String,
}

/// A typed operation output that knows its elements.
pub trait ToXml {
    fn write_xml(&self, w: &mut XmlWriter);

    /// About how many bytes `write_xml` writes, to size the document once.
    fn size_hint(&self) -> usize {
        0
    }
}

impl XmlWriter {
    fn new(body_size: usize) -> Self {
        let mut out = String::with_capacity(256 + body_size);
        out.push_str(r#"<?xml version="1.0" encoding="UTF-8"?>"#);
        out.push('\n');
        Self { out }
    }

    /// A writer for the members of an output, built while reading a
    /// snapshot; it is itself the output (`ToXml`).
    pub fn fragment() -> Self {
        Self { out: String::with_capacity(1024) }
    }

    pub fn start(&mut self, name: &str) {
        self.out.push('<');
        self.out.push_str(name);
        self.out.push('>');
    }

    pub fn end(&mut self, name: &str) {
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push('>');
    }

    /// `<name>text</name>`, escaped.
    pub fn text(&mut self, name: &str, value: &str) {
        self.start(name);
        let escaped = escape(value);
        if escaped.contains('\r') {
            // A parser turns a literal CR into LF (XML 1.0, end-of-line
            // handling); the character reference survives.
            self.out.push_str(&escaped.replace('\r', "&#xD;"));
        } else {
            self.out.push_str(&escaped);
        }
        self.end(name);
    }

    /// `<name>value</name>` for numbers, booleans, addresses and ids.
    pub fn display(&mut self, name: &str, value: impl Display) {
        self.start(name);
        let _ = write!(self.out, "{value}");
        self.end(name);
    }

    /// A bare value, for lists of strings (`<item>value</item>`).
    pub fn raw_display(&mut self, value: impl Display) {
        let _ = write!(self.out, "{value}");
    }

    pub fn opt_text(&mut self, name: &str, value: Option<&str>) {
        if let Some(v) = value {
            self.text(name, v);
        }
    }

    pub fn opt_display(&mut self, name: &str, value: Option<impl Display>) {
        if let Some(v) = value {
            self.display(name, v);
        }
    }

    /// `<name><item>…</item>…</name>`: EC2 wraps every list this way.
    pub fn list<T>(&mut self, name: &str, items: impl IntoIterator<Item = T>, mut each: impl FnMut(&mut Self, T)) {
        self.start(name);
        for item in items {
            self.start("item");
            each(self, item);
            self.end("item");
        }
        self.end(name);
    }

    /// A nested structure `<name>…</name>`.
    pub fn nested(&mut self, name: &str, body: impl FnOnce(&mut Self)) {
        self.start(name);
        body(self);
        self.end(name);
    }

    pub fn tag_set<'a>(&mut self, name: &str, tags: impl IntoIterator<Item = (&'a String, &'a String)>) {
        self.list(name, tags, |w, (k, v)| {
            w.text("key", k);
            w.text("value", v);
        });
    }
}

impl ToXml for XmlWriter {
    fn write_xml(&self, w: &mut XmlWriter) {
        w.out.push_str(&self.out);
    }

    fn size_hint(&self) -> usize {
        self.out.len()
    }
}

/// `<{Action}Response xmlns=…><requestId>…</requestId>…</{Action}Response>`.
pub fn success_document(action: &str, request_id: &str, output: &dyn ToXml) -> String {
    let mut w = XmlWriter::new(output.size_hint());
    w.out.push('<');
    w.out.push_str(action);
    w.out.push_str(r#"Response xmlns=""#);
    w.out.push_str(XMLNS);
    w.out.push_str(r#"">"#);
    w.text("requestId", request_id);
    output.write_xml(&mut w);
    w.out.push_str("</");
    w.out.push_str(action);
    w.out.push_str("Response>");
    w.out
}

/// EC2's error document: `<Response><Errors><Error>…</Error></Errors><RequestID>`.
pub fn error_document(error: &ApiError, request_id: &str) -> String {
    let mut w = XmlWriter::new(error.message.len());
    w.start("Response");
    w.start("Errors");
    w.start("Error");
    w.text("Code", error.code);
    w.text("Message", &error.message);
    w.end("Error");
    w.end("Errors");
    w.text("RequestID", request_id);
    w.end("Response");
    w.out
}

/// A success document of the plain Query protocol that services other than
/// EC2 speak (STS): the output inside `<{Action}Result>`, the request id in
/// `<ResponseMetadata>`.
pub fn query_success_document(namespace: &str, action: &str, request_id: &str, output: &dyn ToXml) -> String {
    let mut w = XmlWriter::new(output.size_hint());
    let (response, result) = (format!("{action}Response"), format!("{action}Result"));
    let _ = write!(w.out, r#"<{response} xmlns="{namespace}">"#);
    w.nested(&result, |w| output.write_xml(w));
    w.nested("ResponseMetadata", |w| w.text("RequestId", request_id));
    w.end(&response);
    w.out
}

/// The plain Query protocol's error document: `<ErrorResponse><Error>` with
/// `Type` Sender (the caller's fault, 4xx) or Receiver (5xx).
pub fn query_error_document(namespace: &str, error: &ApiError, request_id: &str) -> String {
    let mut w = XmlWriter::new(error.message.len());
    let _ = write!(w.out, r#"<ErrorResponse xmlns="{namespace}">"#);
    w.nested("Error", |w| {
        w.text("Type", if error.status >= 500 { "Receiver" } else { "Sender" });
        w.text("Code", error.code);
        w.text("Message", &error.message);
    });
    w.text("RequestId", request_id);
    w.end("ErrorResponse");
    w.out
}

/// The output of operations that answer only `<return>true</return>` (D10).
pub struct ReturnTrue;

impl ToXml for ReturnTrue {
    fn write_xml(&self, w: &mut XmlWriter) {
        w.display("return", true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_document_has_ec2_shape() {
        let doc = error_document(&ApiError::missing("AssociationId"), "r-1");
        assert!(doc.contains("<Response><Errors><Error><Code>MissingParameter</Code>"));
        assert!(doc.ends_with("<RequestID>r-1</RequestID></Response>"));
    }

    #[test]
    fn escapes_text() {
        struct T;
        impl ToXml for T {
            fn write_xml(&self, w: &mut XmlWriter) {
                w.text("v", "<a&b>");
            }
        }
        let doc = success_document("X", "id", &T);
        assert!(doc.contains("<v>&lt;a&amp;b&gt;</v>"));
        assert!(
            doc.contains(r#"<XResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>id</requestId>"#)
        );
    }
}
