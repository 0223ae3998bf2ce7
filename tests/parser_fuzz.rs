//! Property test of the stack parser and validator: thousands of mutated stack files
//! (bytes flipped, lines dropped, duplicated or swapped, values replaced by other YAML)
//! never make it panic, and every rejection names the file and a line.

use provision::kinds::models;
use provision::model::parse;

/// xorshift64*: small, seeded, reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545F4914F6CDD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const SNIPPETS: &[&str] = &[
    "",
    "~",
    "[]",
    "{}",
    "-1",
    "0",
    "65536",
    "1e9",
    "\"\"",
    "yes",
    "null",
    "[a, b]",
    "{x: 1}",
    "10.0.0.0/8",
    "10.0.0.0/33",
    "eu-west-3z",
    "&a x",
    "*a",
    "!!binary aGk=",
    "\"\\u0000\"",
    "'",
    "{",
    ": :",
    "- - -",
    "\t",
    "ünïcödé",
    "0x1F",
    ".inf",
];

fn mutate(text: &str, rng: &mut Rng) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    for _ in 0..=rng.below(4) {
        if lines.is_empty() {
            break;
        }
        let i = rng.below(lines.len());
        match rng.below(7) {
            0 => {
                lines.remove(i);
            }
            1 => {
                let l = lines[i].clone();
                lines.insert(i, l);
            }
            2 => {
                let j = rng.below(lines.len());
                lines.swap(i, j);
            }
            3 => {
                // Replace a value with another piece of YAML.
                if let Some(pos) = lines[i].find(": ") {
                    let snippet = SNIPPETS[rng.below(SNIPPETS.len())];
                    lines[i] = format!("{}: {snippet}", &lines[i][..pos]);
                }
            }
            4 => {
                // Flip one byte to some ASCII character.
                let mut bytes = lines[i].clone().into_bytes();
                if !bytes.is_empty() {
                    let k = rng.below(bytes.len());
                    const CHARS: &[u8] = b" :-{}[],#&*!|>'\"%@`\tab01";
                    bytes[k] = CHARS[rng.below(CHARS.len())];
                }
                lines[i] = String::from_utf8_lossy(&bytes).into_owned();
            }
            5 => {
                // Change the indentation.
                let n = rng.below(6);
                lines[i] = format!("{}{}", " ".repeat(n), lines[i].trim_start());
            }
            _ => {
                let snippet = SNIPPETS[rng.below(SNIPPETS.len())];
                lines.insert(i, snippet.to_string());
            }
        }
    }
    lines.join("\n")
}

#[test]
fn mutated_stack_files_never_panic_and_errors_name_a_line() {
    let base = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/stack.yaml"))
        .expect("stack.yaml");
    let kinds = models();
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let mut rejected = 0;
    for case in 0..3000 {
        let text = mutate(&base, &mut rng);
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            parse("fuzz.yaml", &text, &kinds, None).map(|_| ())
        }));
        let outcome =
            result.unwrap_or_else(|_| panic!("the parser panicked on case {case}:\n{text}"));
        if let Err(invalid) = outcome {
            rejected += 1;
            assert!(
                !invalid.diagnostics.is_empty(),
                "case {case}: rejected without a diagnostic"
            );
            for d in &invalid.diagnostics {
                assert_eq!(d.file, "fuzz.yaml");
                assert!(d.line.is_some(), "case {case}: no line in {d}\n{text}");
            }
        }
    }
    assert!(
        rejected > 1000,
        "the mutations should mostly break the file ({rejected} rejected)"
    );
}
