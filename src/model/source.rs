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
}

impl SourceMap {
    /// Index a YAML document. A document that does not parse yields an empty map (the
    /// syntax error itself is reported by the deserializer, with its position).
    pub fn index(text: &str) -> SourceMap {
        let mut map = SourceMap::default();
        let mut parser = Parser::new_from_str(text);
        let mut walker = Walker {
            parser: &mut parser,
            out: &mut map.positions,
        };
        let _ = walker.document();
        map
    }

    /// Position of a path, or of its nearest indexed parent.
    pub fn find(&self, path: &str) -> Option<Pos> {
        let mut p = path.to_string();
        loop {
            if let Some(pos) = self.positions.get(&p) {
                return Some(*pos);
            }
            let cut = p.rfind(['.', '['])?;
            p.truncate(cut);
        }
    }
}

struct Walker<'a, 'b> {
    parser: &'a mut Parser<std::str::Chars<'b>>,
    out: &'a mut BTreeMap<String, Pos>,
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
        if !path.is_empty() {
            self.out.entry(path.clone()).or_insert(pos);
        }
        match ev {
            Event::MappingStart(..) => loop {
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
                    key
                } else {
                    format!("{path}.{key}")
                };
                self.out.entry(child.clone()).or_insert(kpos);
                let (v, vpos) = self.next()?;
                self.value(v, vpos, child)?;
            },
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
        assert_eq!(m.find("nothing"), None);
    }
}
