//! The architecture drawn in three languages: Mermaid (GitHub renders it in Markdown), D2
//! and Graphviz DOT. The same boxes and paths in each: the VPC holding its zones and
//! subnet tiers, each resource where it runs, regional and global services outside, and
//! the traffic the security groups allow, labelled with its ports.

use std::fmt::Write;

use super::{Architecture, Node, Path, INTERNET};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Mermaid,
    D2,
    Dot,
}

impl Format {
    /// The format a file name asks for, and whether it is a picture to render.
    pub fn of_file(name: &str) -> Option<(Format, Option<&'static str>)> {
        let ext = name.rsplit_once('.')?.1.to_ascii_lowercase();
        Some(match ext.as_str() {
            "mmd" | "mermaid" | "md" => (Format::Mermaid, None),
            "d2" => (Format::D2, None),
            "dot" | "gv" => (Format::Dot, None),
            "svg" => (Format::Dot, Some("svg")),
            "png" => (Format::Dot, Some("png")),
            _ => return None,
        })
    }
}

pub fn render(a: &Architecture, format: Format) -> String {
    match format {
        Format::Mermaid => mermaid(a),
        Format::D2 => d2(a),
        Format::Dot => dot(a),
    }
}

fn title(a: &Architecture) -> String {
    format!("Stack {} ({})", a.stack, a.region)
}

/// The boxes outside the VPCs: (id, label, nodes), the empty ones left out.
fn outside(a: &Architecture) -> Vec<(&'static str, String, &[Node])> {
    [
        (
            "_regional",
            format!("Regional services, {}", a.region),
            a.regional.as_slice(),
        ),
        (
            "_global",
            "Global services".to_string(),
            a.global.as_slice(),
        ),
    ]
    .into_iter()
    .filter(|(_, _, nodes)| !nodes.is_empty())
    .collect()
}

fn subnets_line(t: &super::Tier) -> Vec<String> {
    t.subnets
        .iter()
        .map(|s| format!("{} {} {}", s.zone, s.name, s.cidr))
        .collect()
}

// ---------------------------------------------------------------------------------------
// Mermaid

fn m_text(label: &str) -> String {
    label.replace('"', "'").replace("\\n", "<br/>")
}

fn m_node(out: &mut String, indent: &str, n: &Node) {
    let text = m_text(&n.label);
    let _ = match n.shape {
        "database" => writeln!(out, "{indent}{}[(\"{text}\")]", n.id),
        "storage" => writeln!(out, "{indent}{}[/\"{text}\"/]", n.id),
        "edge" => writeln!(out, "{indent}{}{{{{\"{text}\"}}}}", n.id),
        "network" => writeln!(out, "{indent}{}([\"{text}\"])", n.id),
        _ => writeln!(out, "{indent}{}[\"{text}\"]", n.id),
    };
}

fn m_path(out: &mut String, p: &Path) {
    let arrow = if p.relation { "-.->" } else { "-->" };
    let _ = writeln!(
        out,
        "  {} {arrow}|\"{}\"| {}",
        p.from,
        m_text(&p.label),
        p.to
    );
}

fn mermaid(a: &Architecture) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "---\ntitle: {}\n---\nflowchart LR", title(a));
    if a.internet {
        let _ = writeln!(out, "  {INTERNET}((\"Internet\"))");
    }
    for n in &a.networks {
        let _ = writeln!(
            out,
            "  subgraph {}[\"{}<br/>zones {}\"]",
            n.id,
            m_text(&n.label),
            n.zones.join(", ")
        );
        for t in &n.tiers {
            let mut label = vec![t.label.clone()];
            label.extend(subnets_line(t));
            let _ = writeln!(out, "    subgraph {}[\"{}\"]", t.id, label.join("<br/>"));
            for node in &t.nodes {
                m_node(&mut out, "      ", node);
            }
            let _ = writeln!(out, "    end");
        }
        for node in &n.nodes {
            m_node(&mut out, "    ", node);
        }
        let _ = writeln!(out, "  end");
    }
    for (name, label, nodes) in outside(a) {
        let _ = writeln!(out, "  subgraph {name}[\"{label}\"]");
        for node in nodes {
            m_node(&mut out, "    ", node);
        }
        let _ = writeln!(out, "  end");
    }
    for p in &a.paths {
        m_path(&mut out, p);
    }
    out
}

// ---------------------------------------------------------------------------------------
// D2

fn d2_text(label: &str) -> String {
    label.replace('"', "'")
}

fn d2_node(out: &mut String, indent: &str, n: &Node) {
    let shape = match n.shape {
        "database" => "cylinder",
        "storage" => "stored_data",
        "edge" => "hexagon",
        "network" => "oval",
        _ => "rectangle",
    };
    let _ = writeln!(
        out,
        "{indent}{}: \"{}\" {{shape: {shape}}}",
        n.id,
        d2_text(&n.label)
    );
}

fn d2(a: &Architecture) -> String {
    // D2 names a node inside containers by its path; the paths below use them.
    let mut path_of = std::collections::BTreeMap::new();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "title: \"{}\" {{near: top-center; shape: text}}",
        title(a)
    );
    let _ = writeln!(out, "direction: right");
    if a.internet {
        let _ = writeln!(out, "{INTERNET}: \"Internet\" {{shape: cloud}}");
        path_of.insert(INTERNET.to_string(), INTERNET.to_string());
    }
    for n in &a.networks {
        let _ = writeln!(
            out,
            "{}: \"{}\\nzones {}\" {{",
            n.id,
            d2_text(&n.label),
            n.zones.join(", ")
        );
        for t in &n.tiers {
            let mut label = vec![t.label.clone()];
            label.extend(subnets_line(t));
            let _ = writeln!(out, "  {}: \"{}\" {{", t.id, label.join("\\n"));
            for node in &t.nodes {
                d2_node(&mut out, "    ", node);
                path_of.insert(node.id.clone(), format!("{}.{}.{}", n.id, t.id, node.id));
            }
            let _ = writeln!(out, "  }}");
        }
        for node in &n.nodes {
            d2_node(&mut out, "  ", node);
            path_of.insert(node.id.clone(), format!("{}.{}", n.id, node.id));
        }
        let _ = writeln!(out, "}}");
    }
    for (name, label, nodes) in outside(a) {
        let _ = writeln!(out, "{name}: \"{label}\" {{");
        for node in nodes {
            d2_node(&mut out, "  ", node);
            path_of.insert(node.id.clone(), format!("{name}.{}", node.id));
        }
        let _ = writeln!(out, "}}");
    }
    for p in &a.paths {
        let (Some(from), Some(to)) = (path_of.get(&p.from), path_of.get(&p.to)) else {
            continue;
        };
        let style = if p.relation {
            " {style.stroke-dash: 4}"
        } else {
            ""
        };
        let _ = writeln!(out, "{from} -> {to}: \"{}\"{style}", d2_text(&p.label));
    }
    out
}

// ---------------------------------------------------------------------------------------
// Graphviz DOT

fn dot_text(label: &str) -> String {
    label.replace('"', "'")
}

fn dot_node(out: &mut String, indent: &str, n: &Node) {
    let (shape, color) = match n.shape {
        "database" => ("cylinder", "#dae8fc"),
        "storage" => ("folder", "#d5e8d4"),
        "edge" => ("hexagon", "#e1d5e7"),
        "network" => ("ellipse", "#fff2cc"),
        "compute" => ("box", "#ffe6cc"),
        _ => ("note", "#f5f5f5"),
    };
    let _ = writeln!(
        out,
        "{indent}{} [label=\"{}\", shape={shape}, style=filled, fillcolor=\"{color}\"];",
        n.id,
        dot_text(&n.label)
    );
}

fn dot(a: &Architecture) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "digraph stack {{");
    let _ = writeln!(
        out,
        "  graph [rankdir=LR, fontname=\"Helvetica\", label=\"{}\", labelloc=t, compound=true];",
        title(a)
    );
    let _ = writeln!(out, "  node [fontname=\"Helvetica\", fontsize=10];");
    let _ = writeln!(out, "  edge [fontname=\"Helvetica\", fontsize=9];");
    if a.internet {
        let _ = writeln!(
            out,
            "  {INTERNET} [label=\"Internet\", shape=doublecircle];"
        );
    }
    for n in &a.networks {
        let _ = writeln!(out, "  subgraph cluster_{} {{", n.id);
        let _ = writeln!(
            out,
            "    label=\"{}\\nzones {}\"; style=rounded; color=\"#2f6f2f\";",
            dot_text(&n.label),
            n.zones.join(", ")
        );
        for t in &n.tiers {
            let mut label = vec![t.label.clone()];
            label.extend(subnets_line(t));
            let _ = writeln!(out, "    subgraph cluster_{} {{", t.id);
            let _ = writeln!(
                out,
                "      label=\"{}\"; style=dashed; color=\"#5a8dee\";",
                label.join("\\n")
            );
            if t.nodes.is_empty() {
                // Graphviz drops an empty cluster: keep the subnets visible.
                let _ = writeln!(
                    out,
                    "      {}_empty [label=\"\", shape=point, style=invis];",
                    t.id
                );
            }
            for node in &t.nodes {
                dot_node(&mut out, "      ", node);
            }
            let _ = writeln!(out, "    }}");
        }
        for node in &n.nodes {
            dot_node(&mut out, "    ", node);
        }
        let _ = writeln!(out, "  }}");
    }
    for (name, label, nodes) in outside(a) {
        let _ = writeln!(out, "  subgraph cluster_{name} {{");
        let _ = writeln!(
            out,
            "    label=\"{label}\"; style=rounded; color=\"#999999\";"
        );
        for node in nodes {
            dot_node(&mut out, "    ", node);
        }
        let _ = writeln!(out, "  }}");
    }
    for p in &a.paths {
        let style = if p.relation { ", style=dashed" } else { "" };
        let _ = writeln!(
            out,
            "  {} -> {} [label=\"{}\"{style}];",
            p.from,
            p.to,
            dot_text(&p.label)
        );
    }
    let _ = writeln!(out, "}}");
    out
}
