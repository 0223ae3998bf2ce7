//! Dependency graph over resource names: topological order and cycle detection.

use std::collections::{BTreeMap, BTreeSet};

/// A directed graph: `edges[a]` holds the names `a` depends on.
#[derive(Debug, Default, Clone)]
pub struct Graph {
    edges: BTreeMap<String, BTreeSet<String>>,
}

impl Graph {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add_node(&mut self, n: &str) {
        self.edges.entry(n.to_string()).or_default();
    }

    /// `from` depends on `to`.
    pub fn add_edge(&mut self, from: &str, to: &str) {
        self.add_node(to);
        self.edges
            .entry(from.to_string())
            .or_default()
            .insert(to.to_string());
    }

    pub fn deps(&self, n: &str) -> impl Iterator<Item = &String> {
        self.edges.get(n).into_iter().flatten()
    }

    /// Nodes with dependencies before dependents; ties broken by name so the order is stable.
    /// Fails with one cycle (as a path that starts and ends with the same name).
    pub fn topo_order(&self) -> Result<Vec<String>, Vec<String>> {
        #[derive(Clone, Copy, PartialEq)]
        enum Mark {
            Visiting,
            Done,
        }
        let mut marks: BTreeMap<&str, Mark> = BTreeMap::new();
        let mut order = Vec::new();
        let mut stack: Vec<&str> = Vec::new();

        fn visit<'a>(
            g: &'a Graph,
            n: &'a str,
            marks: &mut BTreeMap<&'a str, Mark>,
            stack: &mut Vec<&'a str>,
            order: &mut Vec<String>,
        ) -> Result<(), Vec<String>> {
            match marks.get(n) {
                Some(Mark::Done) => return Ok(()),
                Some(Mark::Visiting) => {
                    let start = stack.iter().position(|s| *s == n).unwrap_or(0);
                    let mut cycle: Vec<String> =
                        stack[start..].iter().map(|s| s.to_string()).collect();
                    cycle.push(n.to_string());
                    return Err(cycle);
                }
                None => {}
            }
            marks.insert(n, Mark::Visiting);
            stack.push(n);
            for d in g.deps(n) {
                visit(g, d, marks, stack, order)?;
            }
            stack.pop();
            marks.insert(n, Mark::Done);
            order.push(n.to_string());
            Ok(())
        }

        for n in self.edges.keys() {
            visit(self, n, &mut marks, &mut stack, &mut order)?;
        }
        Ok(order)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_dependencies_first() {
        let mut g = Graph::new();
        g.add_edge("subnet", "vpc");
        g.add_edge("nat", "subnet");
        g.add_edge("nat", "eip");
        g.add_node("bucket");
        let order = g.topo_order().expect("acyclic");
        let pos = |n: &str| order.iter().position(|x| x == n).expect("present");
        assert!(pos("vpc") < pos("subnet"));
        assert!(pos("subnet") < pos("nat"));
        assert!(pos("eip") < pos("nat"));
        assert_eq!(order.len(), 5);
    }

    #[test]
    fn reports_the_cycle_path() {
        let mut g = Graph::new();
        g.add_edge("a", "b");
        g.add_edge("b", "c");
        g.add_edge("c", "a");
        g.add_edge("d", "a");
        let cycle = g.topo_order().expect_err("cycle");
        assert_eq!(cycle.first(), cycle.last());
        assert_eq!(cycle.len(), 4);
        for n in ["a", "b", "c"] {
            assert!(cycle.contains(&n.to_string()));
        }
    }
}
