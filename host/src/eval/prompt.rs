//! What the model is asked: the raw HumanEval prompt for base models
//! (completion: the model continues the function body), or the seed's
//! instruction around it for instruct / chat models.

use serde::Serialize;

use super::dataset::Problem;

/// How a problem is put to the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum PromptStyle {
    /// The raw prompt (signature + docstring); the model writes the body.
    Completion,
    /// The seed's instruction + the prompt; the model returns the whole function.
    Chat,
}

impl PromptStyle {
    pub fn as_str(self) -> &'static str {
        match self {
            PromptStyle::Completion => "completion",
            PromptStyle::Chat => "chat",
        }
    }
}

/// The seed's instruction for instruct models (SEED-SPEC §17), verbatim.
pub const CHAT_INSTRUCTION: &str = "Complete the following Python function. Return the complete \
     function including the signature and docstring, with correct Python indentation. Do not add \
     explanations. Do not use markdown code blocks.\n\n";

/// Name tokens that mark an instruction-tuned model.
const CHAT_TOKENS: &[&str] = &["instruct", "chat", "it", "sft", "dpo", "rlhf", "ollama"];

/// Guesses the style from a model name: `chat` when the name, split on
/// anything but letters and digits, has a token `instruct`, `chat`, `it`
/// (Gemma's `-it`), `sft`, `dpo`, `rlhf`, or `ollama` (the seed's Ollama
/// models serve chat-tuned tags through a chat template), or a token ending in
/// `instruct` (`coderinstruct`); `completion` otherwise (base models, and the
/// simulated ones).
pub fn auto_style(model: &str) -> PromptStyle {
    let lower = model.to_ascii_lowercase();
    let chat = lower
        .split(|c: char| !c.is_ascii_alphanumeric())
        .any(|t| CHAT_TOKENS.contains(&t) || t.ends_with("instruct"));
    if chat {
        PromptStyle::Chat
    } else {
        PromptStyle::Completion
    }
}

/// The prompt sent to `/generate`.
pub fn build_prompt(problem: &Problem, style: PromptStyle) -> String {
    match style {
        PromptStyle::Completion => problem.prompt.clone(),
        PromptStyle::Chat => format!("{CHAT_INSTRUCTION}{}", problem.prompt),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heuristic() {
        for m in [
            "qwen2.5-coder-7b-instruct",
            "gemma-3-270m-it",
            "gemma3:270m-it-qat",
            "Llama-3.1-8B-Instruct",
            "mistral-7b-chat",
            "ollama-llama",
            "deepseek-coderinstruct",
        ] {
            assert_eq!(auto_style(m), PromptStyle::Chat, "{m}");
        }
        for m in [
            "simulated-small",
            "gemma3-270m",
            "tiny-llama",
            "starcoder2-3b",
            "bit-model",
            "llama-edit",
        ] {
            assert_eq!(auto_style(m), PromptStyle::Completion, "{m}");
        }
    }

    #[test]
    fn prompts() {
        let p = Problem {
            task_id: "T/0".into(),
            prompt: "def f():\n".into(),
            test: String::new(),
            entry_point: "f".into(),
            canonical_solution: None,
        };
        assert_eq!(build_prompt(&p, PromptStyle::Completion), "def f():\n");
        let chat = build_prompt(&p, PromptStyle::Chat);
        assert!(chat.starts_with("Complete the following Python function."));
        assert!(chat.ends_with("Do not use markdown code blocks.\n\ndef f():\n"));
    }
}
