//! The fuzzer's source of variation: a seeded xorshift generator and the
//! mutations it picks from. Mutations are blind to any grammar except for a
//! dictionary of YAML/JSON tokens (anchors, aliases, tags, merge keys, flow
//! brackets, extreme numbers, hostile unicode) and of the mapping keys found
//! in the seeds, so mutants stay close enough to a descriptor or a payload to
//! get past the first parse.

/// The most bytes a mutant may grow to: twice the descriptor cap
/// ([`wasmano::descriptor::MAX_DESCRIPTOR_BYTES`], 1 MiB), so that the caps
/// themselves are exercised while executions stay fast.
const MAX_INPUT_BYTES: usize = 2 << 20;

/// A xorshift64* generator: small, fast and reproducible from its seed.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator drawing from `seed` (a zero seed is replaced, as xorshift
    /// would only ever produce zeros from it).
    pub fn new(seed: u64) -> Self {
        Self(if seed == 0 { 0x9E37_79B9_7F4A_7C15 } else { seed })
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..bound` (`bound` must not be zero).
    pub fn below(&mut self, bound: usize) -> usize {
        // The modulo bias is irrelevant for fuzzing.
        (self.next_u64() % bound as u64) as usize
    }

    /// True once in `odds` draws.
    pub fn one_in(&mut self, odds: usize) -> bool {
        self.below(odds) == 0
    }

    /// One element of a non-empty slice.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Tokens of YAML and JSON that parsers get wrong: anchors and aliases (and
/// merge keys, which expand them), tags (binary, sets, custom), flow
/// collections, block scalars, directives, extreme and odd numbers, escapes
/// that make no character, and unicode that changes how text reads.
const SYNTAX_TOKENS: &[&str] = &[
    "&a ",
    "*a",
    "&anchor [*a, *a, *a, *a]",
    "<<: *a",
    "<<: [*a, *a]",
    "!!binary ",
    "!!binary aGVsbG8=",
    "!!str ",
    "!!int ",
    "!!float ",
    "!!bool ",
    "!!null ",
    "!!map ",
    "!!seq ",
    "!!set ",
    "!!omap ",
    "!!timestamp 2001-12-14t21:59:43.10-05:00",
    "!<tag:yaml.org,2002:str> ",
    "!custom ",
    "%YAML 1.2\n---\n",
    "%TAG ! tag:example.com,2000:\n---\n",
    "---\n",
    "\n...\n",
    "? ",
    ": ",
    "- ",
    "|\n  ",
    ">-\n  ",
    "|+\n",
    "{",
    "}",
    "[",
    "]",
    ",",
    "{}",
    "[]",
    "{a: [b, {c: d}]}",
    "\"",
    "'",
    "#",
    "\t",
    "\r\n",
    "\n",
    "  ",
    "~",
    "null",
    "true",
    "false",
    "yes",
    "0",
    "-0",
    "-1",
    "0.1",
    "1e308",
    "1e309",
    "-1e309",
    "4.9e-324",
    ".nan",
    ".inf",
    "-.inf",
    "NaN",
    "0x7fffffffffffffff",
    "0o777",
    "0b101",
    "1_000",
    "18446744073709551616",
    "-9223372036854775809",
    "340282366920938463463374607431768211456",
    "\"\\u0000\"",
    "\"\\ud800\"",
    "\"\\udc00\\ud800\"",
    "\"\\ud83d\\ude00\"",
    "\"\\x1b[31m\"",
    "\"\\\\\"",
    "\u{feff}",
    "\u{202e}",
    "\u{200b}",
    "\u{0}",
    "\u{1b}[2J",
    "\u{85}",
    "\u{2028}",
    "é",
    "𝕏",
    "ﷺ",
    "..",
    "../",
    "/etc/passwd",
    "modules/",
    ".wasm",
    ".yml",
];

/// Builds the dictionary a run mutates with: [`SYNTAX_TOKENS`] and every
/// mapping key found in the seeds (`name:` at the start of a line, after an
/// optional `- `, or a JSON `"name":`).
pub fn dictionary(seeds: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut keys = std::collections::BTreeSet::new();
    for seed in seeds {
        let text = String::from_utf8_lossy(seed);
        for line in text.lines() {
            let line = line.trim_start().trim_start_matches("- ").trim_start_matches('"');
            let key: String = line
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
                .collect();
            let rest = &line[key.len()..];
            if !key.is_empty() && (rest.starts_with(':') || rest.starts_with("\":")) {
                keys.insert(format!("{key}: "));
            }
        }
    }
    SYNTAX_TOKENS
        .iter()
        .map(|token| token.as_bytes().to_vec())
        .chain(keys.into_iter().map(String::into_bytes))
        .collect()
}

/// Applies one to four mutations to `input`, drawing tokens from
/// `dictionary` and chunks from `other` (another input of the pool).
pub fn mutate(rng: &mut Rng, input: &mut Vec<u8>, other: &[u8], dictionary: &[Vec<u8>]) {
    let rounds = 1 + rng.below(4);
    for _ in 0..rounds {
        mutate_once(rng, input, other, dictionary);
    }
    input.truncate(MAX_INPUT_BYTES);
}

fn mutate_once(rng: &mut Rng, input: &mut Vec<u8>, other: &[u8], dictionary: &[Vec<u8>]) {
    let position = |rng: &mut Rng, input: &[u8]| rng.below(input.len() + 1);
    match rng.below(15) {
        0 if !input.is_empty() => {
            let at = rng.below(input.len());
            input[at] ^= 1 << rng.below(8);
        }
        1 if !input.is_empty() => {
            let at = rng.below(input.len());
            input[at] = *rng.pick(&[
                0, 0x7f, 0x80, 0xff, b'\n', b':', b'-', b' ', b'"', b'\'', b'#', b'\\', b'{', b'[',
            ]);
        }
        2 => {
            let at = position(rng, input);
            let count = 1 + rng.below(16);
            let bytes: Vec<u8> = (0..count).map(|_| rng.next_u64() as u8).collect();
            input.splice(at..at, bytes);
        }
        3 if !input.is_empty() => {
            let (start, end) = range(rng, input.len(), 64);
            input.drain(start..end);
        }
        4 if !input.is_empty() => {
            let (start, end) = range(rng, input.len(), 256);
            let chunk = input[start..end].to_vec();
            let at = position(rng, input);
            let copies = if rng.one_in(8) { 1 + rng.below(64) } else { 1 };
            for _ in 0..copies {
                input.splice(at..at, chunk.iter().copied());
            }
        }
        5 if !other.is_empty() => {
            let (start, end) = range(rng, other.len(), 512);
            let at = position(rng, input);
            input.splice(at..at, other[start..end].iter().copied());
        }
        6 if !other.is_empty() => {
            // Crossover: this input's head, the other's tail.
            let cut = position(rng, input);
            let from = rng.below(other.len());
            input.truncate(cut);
            input.extend_from_slice(&other[from..]);
        }
        7 if !input.is_empty() => {
            let keep = rng.below(input.len());
            input.truncate(keep);
        }
        8..=10 => {
            let at = near_line_start(rng, input);
            let token = rng.pick(dictionary).clone();
            input.splice(at..at, token);
        }
        11 => {
            let at = position(rng, input);
            let deepest = if rng.one_in(4) { 5000 } else { 64 };
            let depth = 1 + rng.below(deepest);
            let (open, close) = *rng.pick(&[("[", "]"), ("{a: ", "}"), ("{\"a\":", "}"), ("- ", ""), ("\n  a:", "")]);
            let mut nested = open.repeat(depth).into_bytes();
            nested.extend(close.repeat(depth).into_bytes());
            input.splice(at..at, nested);
        }
        12 => {
            let at = position(rng, input);
            let length = 1 << (4 + rng.below(17));
            let filler = *rng.pick(&[b'a', b'9', b' ', b'\n', b'"', b'\\', 0xc3]);
            input.splice(at..at, std::iter::repeat_n(filler, length));
        }
        13 => {
            let at = position(rng, input);
            let number = match rng.below(4) {
                0 => (rng.next_u64() as i64).to_string(),
                1 => format!("{}e{}", rng.below(10), rng.below(700)),
                2 => format!("-{}.{}", rng.next_u64(), rng.next_u64()),
                _ => "9".repeat(1 + rng.below(400)),
            };
            input.splice(at..at, number.into_bytes());
        }
        _ => swap_lines(rng, input),
    }
}

/// A random range of at most `longest` bytes within `0..length` (non-empty
/// when `length` is not zero).
fn range(rng: &mut Rng, length: usize, longest: usize) -> (usize, usize) {
    let start = rng.below(length);
    let end = start + 1 + rng.below(longest.min(length - start));
    (start, end)
}

/// A position just after a newline (or at the start) most of the time, so
/// that tokens and keys land where YAML gives them meaning; anywhere else
/// sometimes.
fn near_line_start(rng: &mut Rng, input: &[u8]) -> usize {
    let at = rng.below(input.len() + 1);
    if rng.one_in(3) {
        return at;
    }
    let line_start = input[..at]
        .iter()
        .rposition(|&byte| byte == b'\n')
        .map_or(0, |newline| newline + 1);
    let indent = input[line_start..].iter().take_while(|&&byte| byte == b' ').count();
    line_start + indent
}

/// Swaps two lines, or duplicates one when the input holds a single line.
fn swap_lines(rng: &mut Rng, input: &mut Vec<u8>) {
    let mut lines: Vec<Vec<u8>> = input.split(|&byte| byte == b'\n').map(<[u8]>::to_vec).collect();
    let first = rng.below(lines.len());
    let second = rng.below(lines.len());
    if first == second {
        let copy = lines[first].clone();
        lines.insert(first, copy);
    } else {
        lines.swap(first, second);
    }
    *input = lines.join(&b'\n');
}
