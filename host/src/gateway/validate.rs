//! Validation of a `POST /generate` body. Errors use FastAPI's 422 shape
//! (`{"detail": [{"type", "loc", "msg", "input"}]}`) so the seed's clients
//! read them unchanged; every problem in the body is reported, not just the
//! first.

use serde::Serialize;
use serde_json::Value;

/// Most stop sequences a request may carry.
pub const MAX_STOP: usize = 8;

/// Output tokens asked for when the body has no `max_tokens` (the seed's default).
pub const DEFAULT_MAX_TOKENS: u32 = 256;

/// A validated `/generate` body.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerateBody {
    pub user_id: String,
    pub project_id: String,
    pub model: String,
    pub prompt: String,
    pub max_tokens: u32,
    pub batch: bool,
    /// Answer with server-sent events (tokens as they come, then the usage).
    pub stream: bool,
    /// Sampling temperature passed to real backends (0 to 2).
    pub temperature: Option<f64>,
    /// Stop sequences passed to real backends (at most 8).
    pub stop: Vec<String>,
}

/// One problem in the body.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldError {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub loc: Vec<Value>,
    pub msg: String,
    pub input: Value,
}

impl FieldError {
    /// A problem with body field `field`.
    pub fn field(field: &str, kind: &'static str, msg: impl Into<String>, input: Value) -> Self {
        Self {
            kind,
            loc: vec!["body".into(), field.into()],
            msg: msg.into(),
            input,
        }
    }
}

/// Parses and checks a body.
pub fn generate_body(bytes: &[u8]) -> Result<GenerateBody, Vec<FieldError>> {
    let value: Value = match serde_json::from_slice(bytes) {
        Ok(v) => v,
        Err(e) => {
            return Err(vec![FieldError {
                kind: "json_invalid",
                loc: vec!["body".into(), e.column().into()],
                msg: format!(
                    "JSON decode error: {e} (send a JSON object with user_id, project_id, model and prompt)"
                ),
                input: Value::Object(Default::default()),
            }]);
        }
    };
    let Value::Object(map) = &value else {
        return Err(vec![FieldError {
            kind: "model_attributes_type",
            loc: vec!["body".into()],
            msg: "Input should be a JSON object with user_id, project_id, model and prompt".into(),
            input: value.clone(),
        }]);
    };
    let mut errors = Vec::new();
    let mut text = |name: &str, non_empty: bool| -> String {
        match map.get(name) {
            None | Some(Value::Null) => {
                errors.push(FieldError::field(
                    name,
                    "missing",
                    "Field required",
                    value.clone(),
                ));
                String::new()
            }
            Some(Value::String(s)) if non_empty && s.trim().is_empty() => {
                errors.push(FieldError::field(
                    name,
                    "string_too_short",
                    "String should not be empty",
                    s.as_str().into(),
                ));
                String::new()
            }
            Some(Value::String(s)) => s.clone(),
            Some(other) => {
                errors.push(FieldError::field(
                    name,
                    "string_type",
                    "Input should be a valid string",
                    other.clone(),
                ));
                String::new()
            }
        }
    };
    let user_id = text("user_id", true);
    let project_id = text("project_id", true);
    let model = text("model", true);
    let prompt = text("prompt", false);

    let max_tokens = match map.get("max_tokens") {
        None | Some(Value::Null) => DEFAULT_MAX_TOKENS,
        Some(v) => match integral(v) {
            Some(n) if n >= 1 && n <= u32::MAX as i128 => n as u32,
            Some(n) if n < 1 => {
                errors.push(FieldError::field(
                    "max_tokens",
                    "greater_than_equal",
                    "Input should be greater than or equal to 1",
                    v.clone(),
                ));
                0
            }
            Some(_) => {
                errors.push(FieldError::field(
                    "max_tokens",
                    "less_than_equal",
                    format!("Input should be less than or equal to {}", u32::MAX),
                    v.clone(),
                ));
                0
            }
            None => {
                errors.push(FieldError::field(
                    "max_tokens",
                    "int_type",
                    "Input should be a valid integer (a whole number >= 1)",
                    v.clone(),
                ));
                0
            }
        },
    };
    let batch = match map.get("request_type") {
        None | Some(Value::Null) => false,
        Some(Value::String(s)) if s == "interactive" => false,
        Some(Value::String(s)) if s == "batch" => true,
        Some(v) => {
            errors.push(FieldError::field(
                "request_type",
                "enum",
                "Input should be 'interactive' or 'batch'",
                v.clone(),
            ));
            false
        }
    };
    let stream = match map.get("stream") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(v) => {
            errors.push(FieldError::field(
                "stream",
                "bool_type",
                "Input should be a valid boolean",
                v.clone(),
            ));
            false
        }
    };
    let temperature = match map.get("temperature") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) if n.as_f64().is_some_and(|t| (0.0..=2.0).contains(&t)) => {
            n.as_f64()
        }
        Some(v) => {
            errors.push(FieldError::field(
                "temperature",
                "float_range",
                "Input should be a number from 0 to 2",
                v.clone(),
            ));
            None
        }
    };
    let stop = match map.get("stop") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) if !s.is_empty() => vec![s.clone()],
        Some(Value::Array(items))
            if items.len() <= MAX_STOP
                && items
                    .iter()
                    .all(|i| i.as_str().is_some_and(|s| !s.is_empty())) =>
        {
            items
                .iter()
                .filter_map(|i| i.as_str().map(str::to_owned))
                .collect()
        }
        Some(v) => {
            errors.push(FieldError::field(
                "stop",
                "list_type",
                format!("Input should be a non-empty string or a list of at most {MAX_STOP} non-empty strings"),
                v.clone(),
            ));
            Vec::new()
        }
    };
    if errors.is_empty() {
        Ok(GenerateBody {
            user_id,
            project_id,
            model,
            prompt,
            max_tokens,
            batch,
            stream,
            temperature,
            stop,
        })
    } else {
        Err(errors)
    }
}

/// An integer, or a float with no fractional part (`12.0`, as the seed accepts).
fn integral(v: &Value) -> Option<i128> {
    match v {
        Value::Number(n) => n
            .as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from))
            .or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && f.abs() < 1e30)
                    .map(|f| f as i128)
            }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(body: &str) -> Vec<(String, &'static str)> {
        generate_body(body.as_bytes())
            .expect_err(body)
            .into_iter()
            .map(|e| {
                (
                    e.loc
                        .last()
                        .map(|l| l.to_string().trim_matches('"').to_owned())
                        .unwrap_or_default(),
                    e.kind,
                )
            })
            .collect()
    }

    const OK: &str = r#"{"user_id":"u","project_id":"p","model":"m","prompt":"hi"}"#;

    #[test]
    fn defaults_and_seed_leniencies() {
        let b = generate_body(OK.as_bytes()).unwrap();
        assert_eq!((b.max_tokens, b.batch), (256, false));
        let b = generate_body(br#"{"user_id":"u","project_id":"p","model":"m","prompt":"","max_tokens":12.0,"request_type":"batch","extra":1}"#).unwrap();
        assert_eq!((b.max_tokens, b.batch, b.prompt.as_str()), (12, true, ""));
    }

    #[test]
    fn every_problem_is_reported_with_its_field() {
        assert_eq!(errors("not json")[0].1, "json_invalid");
        assert_eq!(errors("[1]")[0].1, "model_attributes_type");
        assert_eq!(
            errors(
                r#"{"user_id":1,"model":"","prompt":"x","max_tokens":-5,"request_type":"weird"}"#
            ),
            [
                ("user_id".to_string(), "string_type"),
                ("project_id".to_string(), "missing"),
                ("model".to_string(), "string_too_short"),
                ("max_tokens".to_string(), "greater_than_equal"),
                ("request_type".to_string(), "enum"),
            ]
        );
        assert_eq!(
            errors(r#"{"user_id":"u","project_id":"p","model":"m","prompt":"x","max_tokens":0}"#)
                [0]
            .1,
            "greater_than_equal"
        );
        assert_eq!(
            errors(
                r#"{"user_id":"u","project_id":"p","model":"m","prompt":"x","max_tokens":"abc"}"#
            )[0]
            .1,
            "int_type"
        );
        assert_eq!(
            errors(r#"{"user_id":"u","project_id":"p","model":"m","prompt":"x","max_tokens":1.5}"#)
                [0]
            .1,
            "int_type"
        );
        assert_eq!(
            errors(
                r#"{"user_id":"u","project_id":"p","model":"m","prompt":"x","max_tokens":true}"#
            )[0]
            .1,
            "int_type"
        );
    }

    #[test]
    fn sampling_options_are_checked_and_passed_on() {
        let base = r#""user_id":"u","project_id":"p","model":"m","prompt":"x""#;
        assert_eq!(
            errors(&format!(r#"{{{base},"temperature":3}}"#))[0].1,
            "float_range"
        );
        assert_eq!(
            errors(&format!(r#"{{{base},"stop":[""]}}"#))[0].1,
            "list_type"
        );
        assert_eq!(
            errors(&format!(r#"{{{base},"stop":[1]}}"#))[0].1,
            "list_type"
        );
        let b =
            generate_body(format!(r#"{{{base},"temperature":0.2,"stop":["\ndef "]}}"#).as_bytes())
                .unwrap();
        assert_eq!(
            (b.temperature, b.stop),
            (Some(0.2), vec!["\ndef ".to_string()])
        );
    }
}
