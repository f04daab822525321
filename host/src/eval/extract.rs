//! From model text to a Python program.
//!
//! 1. **Fences.** If the text has a markdown fence (```` ```python ````,
//!    ```` ``` ````, also inline or unclosed — a reply cut by `max_tokens` often
//!    lacks its closing fence), the code is the first fenced block that defines
//!    the entry point, else the first Python (or untagged) block, else the first
//!    block. In completion style, text *before* the first fence that is code
//!    (not blank, and the fence not tagged `python`) is the completion, and the
//!    fence ends it.
//! 2. **Whole function or body.** If the code starts at column 0 and defines
//!    `def ENTRY_POINT(` at column 0, it is the whole function: the program is
//!    the prompt's text before its own `def ENTRY_POINT` (imports such as
//!    `from typing import List`, helper functions of the prompt) followed by the
//!    code, cut before top-level test code (`if __name__`, `print(`, `assert `,
//!    `check(` at column 0 after the def). Otherwise it is the body: stop
//!    sequences are applied, a body whose first line is not indented is
//!    indented by four spaces, and the program is prompt + body.
//! 3. **Stop sequences** (Codex's, for completions): `\ndef `, `\nclass `,
//!    `\nif __name__`, `\nprint(`, `\n#` — anything at column 0 of those kinds
//!    ends the function body.
//!
//! Extraction never fails: no code at all is reported as `no_code`.

use super::dataset::Problem;
use super::prompt::PromptStyle;

/// Stop sequences applied to a completion (the function body).
pub const STOP_SEQUENCES: &[&str] = &["\ndef ", "\nclass ", "\nif __name__", "\nprint(", "\n#"];

/// Column-0 lines that start test code after a whole function.
const TRAILER_STARTS: &[&str] = &["if __name__", "print(", "assert ", "check("];

/// How the completion was turned into code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeKind {
    /// The completion defined the entry point itself.
    WholeFunction,
    /// The completion is the function's body, appended to the prompt.
    Body,
}

impl CodeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CodeKind::WholeFunction => "whole_function",
            CodeKind::Body => "body",
        }
    }
}

/// The extracted function code (without the tests).
#[derive(Debug, Clone, PartialEq)]
pub struct Extraction {
    /// `None`: the text held no code (empty, or nothing left after the stops).
    pub code: Option<String>,
    pub kind: CodeKind,
    /// Whether the code came out of a markdown fence.
    pub fenced: bool,
}

/// The text up to the earliest stop sequence.
pub fn apply_stop_sequences(text: &str) -> &str {
    let end = STOP_SEQUENCES
        .iter()
        .filter_map(|s| text.find(s))
        .min()
        .unwrap_or(text.len());
    &text[..end]
}

/// A fenced block.
#[derive(Debug, Clone, PartialEq)]
struct Fence<'a> {
    /// Byte offset of the opening fence.
    start: usize,
    /// The info string, lowercased (`python`, `py`, ``).
    lang: String,
    content: &'a str,
}

impl Fence<'_> {
    fn is_python(&self) -> bool {
        matches!(self.lang.as_str(), "python" | "py" | "python3" | "")
    }
    fn tagged_python(&self) -> bool {
        matches!(self.lang.as_str(), "python" | "py" | "python3")
    }
}

fn fenced_blocks(text: &str) -> Vec<Fence<'_>> {
    let mut blocks = Vec::new();
    let mut pos = 0;
    while let Some(i) = text[pos..].find("```") {
        let open = pos + i;
        let after = open + 3;
        let Some(nl) = text[after..].find('\n') else {
            // A fence on the last line: an empty, unclosed block.
            let lang = first_word(&text[after..]);
            blocks.push(Fence {
                start: open,
                lang,
                content: "",
            });
            break;
        };
        let lang = first_word(&text[after..after + nl]);
        let content_start = after + nl + 1;
        match text[content_start..].find("```") {
            Some(j) => {
                blocks.push(Fence {
                    start: open,
                    lang,
                    content: &text[content_start..content_start + j],
                });
                pos = content_start + j + 3;
            }
            None => {
                blocks.push(Fence {
                    start: open,
                    lang,
                    content: &text[content_start..],
                });
                break;
            }
        }
    }
    blocks
}

fn first_word(s: &str) -> String {
    s.split_whitespace()
        .next()
        .unwrap_or("")
        .to_ascii_lowercase()
}

/// Byte offset of the column-0 line `def NAME(` (or `async def NAME(`).
pub fn find_def(code: &str, name: &str) -> Option<usize> {
    let mut offset = 0;
    for line in code.split_inclusive('\n') {
        let rest = line
            .strip_prefix("def ")
            .or_else(|| line.strip_prefix("async def "));
        if let Some(rest) = rest
            && let Some(after) = rest.trim_start().strip_prefix(name)
            && after.trim_start().starts_with('(')
        {
            return Some(offset);
        }
        offset += line.len();
    }
    None
}

/// Cuts whole-function code before top-level test code that follows the def at `def_at`.
fn cut_trailer(code: &str, def_at: usize) -> &str {
    let mut offset = def_at;
    for line in code[def_at..].split_inclusive('\n') {
        if offset > def_at && TRAILER_STARTS.iter().any(|t| line.starts_with(t)) {
            return &code[..offset];
        }
        offset += line.len();
    }
    code
}

/// Turns model text into the function code for `problem`.
pub fn extract(problem: &Problem, completion: &str, style: PromptStyle) -> Extraction {
    let mut fenced = false;
    let code: &str = match fenced_blocks(completion).as_slice() {
        [] => completion,
        blocks => {
            let before = &completion[..blocks[0].start];
            if style == PromptStyle::Chat || before.trim().is_empty() || blocks[0].tagged_python() {
                fenced = true;
                blocks
                    .iter()
                    .find(|b| find_def(b.content, &problem.entry_point).is_some())
                    .or_else(|| blocks.iter().find(|b| b.is_python()))
                    .unwrap_or(&blocks[0])
                    .content
            } else {
                before
            }
        }
    };
    let first_line = code.lines().find(|l| !l.trim().is_empty());
    let at_column_0 = first_line.is_some_and(|l| !l.starts_with([' ', '\t']));
    if at_column_0 && let Some(def_at) = find_def(code, &problem.entry_point) {
        let header = find_def(&problem.prompt, &problem.entry_point)
            .map(|i| &problem.prompt[..i])
            .unwrap_or("");
        let mut program = format!("{header}{}", cut_trailer(code, def_at).trim_end());
        program.push('\n');
        return Extraction {
            code: Some(program),
            kind: CodeKind::WholeFunction,
            fenced,
        };
    }
    let body = apply_stop_sequences(code);
    if body.trim().is_empty() {
        return Extraction {
            code: None,
            kind: CodeKind::Body,
            fenced,
        };
    }
    // Drop leading blank lines; keep the first code line's indentation.
    let start = body
        .split_inclusive('\n')
        .take_while(|l| l.trim().is_empty())
        .map(str::len)
        .sum::<usize>();
    let body = body[start..].trim_end();
    let body = if body.starts_with([' ', '\t']) {
        body.to_owned()
    } else {
        body.lines()
            .map(|l| {
                if l.trim().is_empty() {
                    String::new()
                } else {
                    format!("    {l}")
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    let mut program = problem.prompt.clone();
    if !program.ends_with('\n') {
        program.push('\n');
    }
    program.push_str(&body);
    program.push('\n');
    Extraction {
        code: Some(program),
        kind: CodeKind::Body,
        fenced,
    }
}

/// The script the executor runs: the code, the problem's tests, the check call
/// (the seed's layout).
pub fn test_script(function_code: &str, problem: &Problem) -> String {
    format!(
        "{function_code}\n\n{}\n\ncheck({})\n",
        problem.test, problem.entry_point
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem() -> Problem {
        Problem {
            task_id: "T/0".into(),
            prompt: "from typing import List\n\n\ndef total(xs: List[int]) -> int:\n    \"\"\"Sum.\"\"\"\n".into(),
            test: "def check(c):\n    assert c([1, 2]) == 3\n".into(),
            entry_point: "total".into(),
            canonical_solution: None,
        }
    }

    fn code(completion: &str, style: PromptStyle) -> String {
        extract(&problem(), completion, style).code.unwrap()
    }

    #[test]
    fn stop_sequences_cut_at_the_earliest() {
        assert_eq!(
            apply_stop_sequences("    return 1\n\ndef other():\n    pass\n"),
            "    return 1\n"
        );
        assert_eq!(
            apply_stop_sequences("    return 1\nclass A: pass"),
            "    return 1"
        );
        assert_eq!(
            apply_stop_sequences("    return 1\nif __name__ == '__main__':\n    main()"),
            "    return 1"
        );
        assert_eq!(
            apply_stop_sequences("    return 1\nprint(total([1]))"),
            "    return 1"
        );
        assert_eq!(
            apply_stop_sequences("    return 1\n# test\nprint(1)"),
            "    return 1"
        );
        // Indented lines are part of the body.
        assert_eq!(
            apply_stop_sequences(
                "    # sum\n    def inner():\n        return 1\n    return inner()\n"
            ),
            "    # sum\n    def inner():\n        return 1\n    return inner()\n"
        );
        assert_eq!(apply_stop_sequences("    return 1"), "    return 1");
    }

    #[test]
    fn body_completion_is_appended_to_the_prompt() {
        let e = extract(
            &problem(),
            "    return sum(xs)\n\n\ndef main():\n    pass\n",
            PromptStyle::Completion,
        );
        assert_eq!(e.kind, CodeKind::Body);
        assert!(!e.fenced);
        assert_eq!(
            e.code.unwrap(),
            format!("{}    return sum(xs)\n", problem().prompt)
        );
    }

    #[test]
    fn unindented_body_is_indented() {
        assert_eq!(
            code(
                "s = 0\nfor x in xs:\n    s += x\n\nreturn s",
                PromptStyle::Chat
            ),
            format!(
                "{}    s = 0\n    for x in xs:\n        s += x\n\n    return s\n",
                problem().prompt
            )
        );
    }

    #[test]
    fn whole_function_keeps_the_prompt_imports_and_drops_test_code() {
        let text = "def total(xs: List[int]) -> int:\n    return sum(xs)\n\n\ndef helper():\n    return 0\n\nprint(total([1, 2]))\nassert total([]) == 0\n";
        let e = extract(&problem(), text, PromptStyle::Chat);
        assert_eq!(e.kind, CodeKind::WholeFunction);
        assert_eq!(
            e.code.unwrap(),
            "from typing import List\n\n\ndef total(xs: List[int]) -> int:\n    return sum(xs)\n\n\ndef helper():\n    return 0\n"
        );
    }

    #[test]
    fn markdown_fences() {
        let text = "Here you go:\n```python\ndef total(xs):\n    return sum(xs)\n```\nIt sums.";
        let e = extract(&problem(), text, PromptStyle::Chat);
        assert!(e.fenced);
        assert_eq!(e.kind, CodeKind::WholeFunction);
        assert!(
            e.code
                .unwrap()
                .ends_with("def total(xs):\n    return sum(xs)\n")
        );

        // The block defining the entry point wins over an earlier one.
        let text = "```\npip install nothing\n```\n```py\ndef total(xs):\n    return 0\n```";
        assert!(code(text, PromptStyle::Chat).ends_with("def total(xs):\n    return 0\n"));

        // Unclosed fence (cut by max_tokens).
        let text = "```python\ndef total(xs):\n    return sum(xs)\n";
        assert!(code(text, PromptStyle::Chat).ends_with("    return sum(xs)\n"));

        // A fenced body.
        let text = "```python\n    return sum(xs)\n```";
        assert_eq!(
            code(text, PromptStyle::Chat),
            format!("{}    return sum(xs)\n", problem().prompt)
        );
    }

    #[test]
    fn in_completion_style_a_fence_after_code_ends_it() {
        let text = "    return sum(xs)\n```\n\n```python\nprint(1)\n```";
        assert_eq!(
            code(text, PromptStyle::Completion),
            format!("{}    return sum(xs)\n", problem().prompt)
        );
        // A completion that opens with a fence is fenced code.
        let text = "\n```python\ndef total(xs):\n    return 1\n```";
        assert!(code(text, PromptStyle::Completion).ends_with("    return 1\n"));
    }

    #[test]
    fn body_that_redefines_the_function_later_stays_a_body() {
        // Starts indented, so it is a body, and the stop cuts the second def.
        let text = "    return sum(xs)\n\n\ndef total(xs):\n    return 0\n";
        let e = extract(&problem(), text, PromptStyle::Completion);
        assert_eq!(e.kind, CodeKind::Body);
        assert!(e.code.unwrap().ends_with("    return sum(xs)\n"));
    }

    #[test]
    fn no_code() {
        for text in ["", "   \n\n", "\ndef other():\n    pass", "```python\n```"] {
            let e = extract(&problem(), text, PromptStyle::Completion);
            assert_eq!(e.code, None, "{text:?}");
        }
    }

    #[test]
    fn find_def_needs_column_0_and_the_exact_name() {
        assert_eq!(find_def("def total(x):\n", "total"), Some(0));
        assert_eq!(find_def("x = 1\nasync def total (x):\n", "total"), Some(6));
        assert_eq!(find_def("    def total(x):\n", "total"), None);
        assert_eq!(find_def("def totally(x):\n", "total"), None);
    }

    #[test]
    fn script_layout() {
        assert_eq!(
            test_script("def total(xs):\n    return 1\n", &problem()),
            "def total(xs):\n    return 1\n\n\ndef check(c):\n    assert c([1, 2]) == 3\n\n\ncheck(total)\n"
        );
    }
}
