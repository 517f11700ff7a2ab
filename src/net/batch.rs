//! Batch bodies (DESIGN.md §8): many hits in one POST, each as the query a
//! GET of it would carry, as lines or as Matomo's bulk JSON. Which hits
//! join a batch and what its outcome does is the worker's business
//! (`engine::delivery`); this module only writes the body and keeps it
//! within its byte limit.

/// How a batch body lists its hits (`batch_format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchFormat {
    /// `text/plain`: one query per line.
    Lines,
    /// `application/json`: `{"requests":["?<query>", …]}`.
    Json,
}

impl BatchFormat {
    pub fn from_name(name: &str) -> Option<BatchFormat> {
        match name {
            "lines" => Some(BatchFormat::Lines),
            "json" => Some(BatchFormat::Json),
            _ => None,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            BatchFormat::Lines => "text/plain; charset=utf-8",
            BatchFormat::Json => "application/json",
        }
    }
}

const JSON_OPEN: &[u8] = b"{\"requests\":[";
const JSON_CLOSE: &[u8] = b"]}";

/// A batch body being written, never over `max_bytes` once finished.
pub struct BatchBody {
    format: BatchFormat,
    body: Vec<u8>,
    hits: usize,
    max_bytes: usize,
}

impl BatchBody {
    pub fn new(format: BatchFormat, max_bytes: usize) -> BatchBody {
        let mut body = Vec::with_capacity(max_bytes.min(1 << 20));
        if format == BatchFormat::Json {
            body.extend_from_slice(JSON_OPEN);
        }
        BatchBody {
            format,
            body,
            hits: 0,
            max_bytes,
        }
    }

    #[cfg(test)]
    pub fn hits(&self) -> usize {
        self.hits
    }

    /// Adds one hit's query; `false` (body unchanged) when it would take
    /// the finished body over `max_bytes`.
    pub fn push(&mut self, query: &str) -> bool {
        let before = self.body.len();
        let closing = match self.format {
            BatchFormat::Lines => {
                if self.hits > 0 {
                    self.body.push(b'\n');
                }
                self.body.extend_from_slice(query.as_bytes());
                0
            }
            BatchFormat::Json => {
                if self.hits > 0 {
                    self.body.push(b',');
                }
                // The query is percent-encoded ASCII already; serde_json
                // escapes whatever else a full-URL hit may carry.
                let quoted = serde_json::to_string(&format!("?{query}")).unwrap_or_default();
                self.body.extend_from_slice(quoted.as_bytes());
                JSON_CLOSE.len()
            }
        };
        if self.body.len() + closing > self.max_bytes {
            self.body.truncate(before);
            return false;
        }
        self.hits += 1;
        true
    }

    /// The finished body.
    pub fn finish(mut self) -> Vec<u8> {
        if self.format == BatchFormat::Json {
            self.body.extend_from_slice(JSON_CLOSE);
        }
        self.body
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_json_bodies_stay_within_their_limit() {
        let mut lines = BatchBody::new(BatchFormat::Lines, 11);
        assert!(lines.push("a=1&b=2"));
        assert!(lines.push("c=3"));
        assert!(!lines.push("d"), "one byte over");
        assert_eq!(lines.hits(), 2);
        assert_eq!(lines.finish(), b"a=1&b=2\nc=3");

        let mut json = BatchBody::new(BatchFormat::Json, 40);
        assert!(json.push("a=1"));
        assert!(json.push("b=%22x%22"));
        assert!(!json.push("c=3"));
        let body = json.finish();
        assert_eq!(body, br#"{"requests":["?a=1","?b=%22x%22"]}"#);
        assert!(body.len() <= 40);
        let parsed: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(parsed["requests"][1], "?b=%22x%22");

        let mut tiny = BatchBody::new(BatchFormat::Json, 10);
        assert!(!tiny.push("a=1"), "a hit larger than the limit never fits");
        assert_eq!(tiny.hits(), 0);
    }
}
