//! Where each field of the stack file is: a map from field path (`subnets.public-a.cidr`,
//! `route_tables.public.routes[0].destination`) to its line and column, so that every
//! validation message can name the line.

use std::collections::BTreeMap;

use yaml_rust2::parser::{Event, Parser};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
}

#[derive(Debug, Default, Clone)]
pub struct SourceMap {
    /// Position of the key (for mapping entries) or of the item (for sequence items).
    positions: BTreeMap<String, Pos>,
    /// Keys given twice in the same mapping: path and position of the second one.
    pub duplicates: Vec<(String, Pos)>,
    /// Where the document's content starts (the fallback position).
    pub root: Option<Pos>,
    /// Where the nesting went deeper than `MAX_DEPTH` (indexing stopped there).
    pub too_deep: Option<Pos>,
}

/// How deep values may nest. The format needs at most 7 levels (a role's statement's
/// resource); the bound keeps a hostile file from exhausting the stack.
pub const MAX_DEPTH: usize = 32;

impl SourceMap {
    /// Index a YAML document. A document that does not parse yields an empty map (the
    /// syntax error itself is reported by the deserializer, with its position).
    pub fn index(text: &str) -> SourceMap {
        let mut map = SourceMap::default();
        // The YAML scanner looks ahead through every open `[`/`{` (quadratic in their
        // depth): refuse deep flow nesting before it starts.
        if let Some(pos) = flow_too_deep(text) {
            map.too_deep = Some(pos);
            return map;
        }
        let mut parser = Parser::new_from_str(text);
        let mut walker = Walker {
            parser: &mut parser,
            out: &mut map.positions,
            duplicates: &mut map.duplicates,
            depth: 0,
            too_deep: None,
        };
        let _ = walker.document();
        map.too_deep = walker.too_deep;
        map.root = map.positions.get("").copied();
        map
    }

    /// Position of a path, or of its nearest indexed parent, or of the document.
    pub fn find(&self, path: &str) -> Option<Pos> {
        let mut p = path.to_string();
        loop {
            if let Some(pos) = self.positions.get(&p) {
                return Some(*pos);
            }
            match p.rfind(['.', '[']) {
                Some(cut) => p.truncate(cut),
                None => return self.root,
            }
        }
    }
}

/// Where `[`/`{` nesting (outside quotes and comments) first goes past `MAX_DEPTH`, in
/// one pass over the text.
fn flow_too_deep(text: &str) -> Option<Pos> {
    let (mut depth, mut line, mut col) = (0usize, 1usize, 0usize);
    let mut quote: Option<char> = None;
    let (mut comment, mut escaped, mut prev) = (false, false, '\n');
    for c in text.chars() {
        col += 1;
        if c == '\n' {
            (line, col, comment) = (line + 1, 0, false);
            prev = c;
            continue;
        }
        match quote {
            _ if comment => {}
            Some('"') if escaped => escaped = false,
            Some('"') if c == '\\' => escaped = true,
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None => match c {
                '#' if prev.is_whitespace() => comment = true,
                '"' | '\'' if !prev.is_alphanumeric() => quote = Some(c),
                '[' | '{' => {
                    depth += 1;
                    if depth > MAX_DEPTH {
                        return Some(Pos { line, col });
                    }
                }
                ']' | '}' => depth = depth.saturating_sub(1),
                _ => {}
            },
        }
        prev = c;
    }
    None
}

struct Walker<'a, 'b> {
    parser: &'a mut Parser<std::str::Chars<'b>>,
    out: &'a mut BTreeMap<String, Pos>,
    duplicates: &'a mut Vec<(String, Pos)>,
    depth: usize,
    too_deep: Option<Pos>,
}

impl Walker<'_, '_> {
    fn next(&mut self) -> Option<(Event, Pos)> {
        let (ev, m) = self.parser.next_token().ok()?;
        Some((
            ev,
            Pos {
                line: m.line(),
                col: m.col() + 1,
            },
        ))
    }

    fn document(&mut self) -> Option<()> {
        loop {
            let (ev, pos) = self.next()?;
            match ev {
                Event::StreamStart | Event::DocumentStart => continue,
                Event::StreamEnd | Event::DocumentEnd => return Some(()),
                other => {
                    self.value(other, pos, String::new())?;
                    return Some(());
                }
            }
        }
    }

    /// Walk the value that starts with `ev`, recording positions under `path`.
    fn value(&mut self, ev: Event, pos: Pos, path: String) -> Option<()> {
        self.out.entry(path.clone()).or_insert(pos);
        if matches!(ev, Event::MappingStart(..) | Event::SequenceStart(..)) {
            if self.depth >= MAX_DEPTH {
                self.too_deep = Some(pos);
                return None;
            }
            self.depth += 1;
            let walked = self.nested(ev, path);
            self.depth -= 1;
            return walked;
        }
        Some(())
    }

    fn nested(&mut self, ev: Event, path: String) -> Option<()> {
        match ev {
            Event::MappingStart(..) => {
                let mut keys = std::collections::BTreeSet::new();
                loop {
                    let (k, kpos) = self.next()?;
                    let key = match k {
                        Event::MappingEnd => return Some(()),
                        Event::Scalar(s, ..) => s,
                        other => {
                            // Complex keys: walk and ignore.
                            self.value(other, kpos, format!("{path}.?"))?;
                            "?".to_string()
                        }
                    };
                    let child = if path.is_empty() {
                        key.clone()
                    } else {
                        format!("{path}.{key}")
                    };
                    if !keys.insert(key) {
                        self.duplicates.push((child.clone(), kpos));
                    }
                    self.out.entry(child.clone()).or_insert(kpos);
                    let (v, vpos) = self.next()?;
                    self.value(v, vpos, child)?;
                }
            }
            Event::SequenceStart(..) => {
                let mut i = 0;
                loop {
                    let (item, ipos) = self.next()?;
                    if item == Event::SequenceEnd {
                        return Some(());
                    }
                    self.value(item, ipos, format!("{path}[{i}]"))?;
                    i += 1;
                }
            }
            _ => Some(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_nested_fields_and_sequence_items() {
        let text = "stack: s\nsubnets:\n  a:\n    cidr: 10.0.0.0/24\n    routes:\n      - dest: x\n      - dest: y\n";
        let m = SourceMap::index(text);
        assert_eq!(m.find("subnets.a.cidr").map(|p| p.line), Some(4));
        assert_eq!(m.find("subnets.a.routes[1].dest").map(|p| p.line), Some(7));
        // Unknown child falls back to the parent.
        assert_eq!(m.find("subnets.a.nothere").map(|p| p.line), Some(3));
        assert_eq!(m.find("nothing").map(|p| p.line), Some(1));
        assert!(m.duplicates.is_empty());
    }

    #[test]
    fn reports_duplicate_keys_where_they_repeat() {
        let m = SourceMap::index("vpcs:\n  a: {cidr: x}\n  b: {}\n  a: {cidr: y}\n");
        assert_eq!(
            m.duplicates,
            vec![("vpcs.a".to_string(), Pos { line: 4, col: 3 })]
        );
    }

    #[test]
    fn deep_nesting_stops_at_the_bound_where_it_goes_too_deep() {
        let deep = format!("a: {}1{}", "[".repeat(100_000), "]".repeat(100_000));
        let m = SourceMap::index(&deep);
        assert_eq!(m.too_deep, Some(Pos { line: 1, col: 36 }));
        let fine = format!(
            "a: {}1{}",
            "[".repeat(MAX_DEPTH - 1),
            "]".repeat(MAX_DEPTH - 1)
        );
        assert_eq!(SourceMap::index(&fine).too_deep, None);
        // Block nesting, past the flow pre-check.
        let mut block = String::from("a:\n");
        for i in 1..40 {
            block.push_str(&format!("{}k:\n", " ".repeat(i)));
        }
        assert_eq!(
            SourceMap::index(&block).too_deep,
            Some(Pos { line: 33, col: 34 })
        );
        // Brackets in quotes and comments are not nesting.
        let quoted = format!("a: '{0}'\nb: \"{0}\" # {0}\n", "[".repeat(100));
        assert_eq!(SourceMap::index(&quoted).too_deep, None);
    }
}
