//! Property test of the stack parser and validator: thousands of mutated stack files
//! (bytes flipped, lines dropped, duplicated or swapped, values replaced by other YAML)
//! never make it panic, and every rejection names the file and a line; generated deep and
//! large files (nesting of every YAML form, thousands of resources, huge values, alias
//! expansion) never crash or hang it.

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
            parse("fuzz.yaml", &text, &kinds, &Default::default()).map(|_| ())
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

/// A stack file built to be deep or large: nesting of every YAML form, thousands of
/// resources (some overlapping), huge values, alias expansion, many tags.
fn generated(form: usize, rng: &mut Rng) -> (String, String) {
    let depth = 8 + rng.below(4000);
    match form % 8 {
        0 => {
            let mut s = String::from("stack: demo\ntags:\n");
            for d in 0..depth.min(600) {
                s.push_str(&format!("{}k{d}:\n", "  ".repeat(d + 1)));
            }
            (format!("block maps {depth}"), s)
        }
        1 => {
            let open: String = (0..depth)
                .map(|i| if i % 2 == 0 { '[' } else { '{' })
                .collect();
            (
                format!("flow nesting {depth}"),
                format!("stack: demo\ntags: {open}\n"),
            )
        }
        2 => (
            format!("sequence nesting {depth}"),
            format!("stack: demo\nvpcs:\n  main:\n    {}x\n", "- ".repeat(depth)),
        ),
        3 => {
            let n = 100 + rng.below(4000);
            let mut s = String::from("stack: large\nvpcs:\n");
            for v in 0..n.div_ceil(256) {
                s.push_str(&format!("  v{v}: {{cidr: 10.{v}.0.0/16}}\n"));
            }
            s.push_str("subnets:\n");
            for i in 0..n {
                // Every so often a block that overlaps one before it in its VPC.
                let k = if rng.below(50) == 0 {
                    i - i % 256 + rng.below(i % 256 + 1)
                } else {
                    i
                };
                s.push_str(&format!(
                    "  s{i}: {{vpc: v{}, cidr: 10.{}.{}.0/24, zone: eu-west-3a}}\n",
                    i / 256,
                    k / 256,
                    k % 256
                ));
            }
            (format!("{n} subnets"), s)
        }
        4 => {
            let len = 1 + rng.below(3_000_000);
            (
                format!("a value of {len} bytes"),
                format!("stack: demo\ntags: {{note: \"{}\"}}\n", "x".repeat(len)),
            )
        }
        5 => {
            // Alias expansion: each level refers to the one before it ten times.
            let levels = 1 + rng.below(12);
            let mut s = String::from(
                "stack: demo\nvpcs:\n  main:\n    x0: &x0 [a, a, a, a, a, a, a, a, a, a]\n",
            );
            for l in 1..=levels {
                let refs = vec![format!("*x{}", l - 1); 10].join(", ");
                s.push_str(&format!("    x{l}: &x{l} [{refs}]\n"));
            }
            (format!("aliases {levels} levels deep"), s)
        }
        6 => {
            let n = 40 + rng.below(5000);
            let tags: Vec<String> = (0..n).map(|i| format!("t{i}: v")).collect();
            (
                format!("{n} tags"),
                format!("stack: demo\ntags: {{{}}}\n", tags.join(", ")),
            )
        }
        _ => {
            let n = 1 + rng.below(200_000);
            (
                format!("{n} empty lines and comments"),
                format!("stack: demo\n{}", "# c\n\n".repeat(n)),
            )
        }
    }
}

#[test]
fn deep_and_large_generated_stack_files_never_crash_or_hang() {
    let mut rng = Rng(0x5eed_dee9_1a76_0002);
    for case in 0..48 {
        let (what, text) = generated(case, &mut rng);
        // A thread of its own with the main thread's usual stack: a recursion the bounds
        // missed would overflow it and abort the test run.
        let parsed = std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(move || {
                let kinds = models();
                parse("big.yaml", &text, &kinds, &Default::default())
                    .map(|_| ())
                    .map_err(|invalid| invalid.diagnostics)
            })
            .expect("thread");
        let started = std::time::Instant::now();
        while !parsed.is_finished() {
            // A hang, not a speed: minutes where a second is the budget.
            assert!(
                started.elapsed() < std::time::Duration::from_secs(120),
                "case {case} ({what}) hangs"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let outcome = parsed
            .join()
            .unwrap_or_else(|_| panic!("case {case} ({what}): the parser panicked"));
        if let Err(diagnostics) = outcome {
            assert!(!diagnostics.is_empty(), "case {case} ({what})");
            for d in &diagnostics {
                assert_eq!(d.file, "big.yaml");
                assert!(d.line.is_some(), "case {case} ({what}): no line in {d}");
            }
            eprintln!("case {case} ({what}): {}", diagnostics[0]);
        } else {
            eprintln!("case {case} ({what}): valid");
        }
    }
}
