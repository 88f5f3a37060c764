//! The service dependency graph: built once at load, checked for cycles, and
//! walked without recursion into the transitive sets the environment and the
//! plays need, plus the `deptree` drawing.

use std::collections::{BTreeSet, HashMap};

/// Hard dependencies between services. `declared` edges come from
/// `requires`; `implied` edges from `volumes_from`. Both order containers;
/// only declared ones give link variables (as in MaestroNG).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DependencyGraph {
    declared: HashMap<String, BTreeSet<String>>,
    all: HashMap<String, BTreeSet<String>>,
    dependents: HashMap<String, BTreeSet<String>>,
}

impl DependencyGraph {
    /// Builds the graph; `declared` and `implied` map a service to the services
    /// it depends on. Every service must appear as a key of `declared`.
    pub fn new(
        declared: HashMap<String, BTreeSet<String>>,
        implied: HashMap<String, BTreeSet<String>>,
    ) -> Self {
        let mut all = declared.clone();
        for (service, deps) in implied {
            all.entry(service).or_default().extend(deps);
        }
        let mut dependents: HashMap<String, BTreeSet<String>> =
            all.keys().map(|k| (k.clone(), BTreeSet::new())).collect();
        for (service, deps) in &all {
            for dep in deps {
                dependents
                    .entry(dep.clone())
                    .or_default()
                    .insert(service.clone());
            }
        }
        DependencyGraph {
            declared,
            all,
            dependents,
        }
    }

    /// A cycle, as the list of services around it (first repeated at the end),
    /// if there is one. Deterministic: the search starts from names in order.
    pub fn find_cycle(&self) -> Option<Vec<String>> {
        #[derive(Clone, Copy, PartialEq)]
        enum State {
            New,
            Open,
            Done,
        }
        let mut names: Vec<&String> = self.all.keys().collect();
        names.sort();
        let mut state: HashMap<&str, State> =
            names.iter().map(|n| (n.as_str(), State::New)).collect();
        for start in names {
            if state[start.as_str()] != State::New {
                continue;
            }
            // Iterative depth-first search with an explicit path.
            let mut stack: Vec<(&str, Vec<&str>)> = vec![(start, self.direct(start).collect())];
            state.insert(start, State::Open);
            while let Some((node, pending)) = stack.last_mut() {
                let node = *node;
                match pending.pop() {
                    Some(next) => match state.get(next).copied().unwrap_or(State::Done) {
                        State::New => {
                            state.insert(next, State::Open);
                            let mut deps: Vec<&str> = self.direct(next).collect();
                            deps.reverse();
                            stack.push((next, deps));
                        }
                        State::Open => {
                            let from = stack.iter().position(|(n, _)| *n == next).unwrap_or(0);
                            let mut cycle: Vec<String> =
                                stack[from..].iter().map(|(n, _)| n.to_string()).collect();
                            cycle.push(next.to_string());
                            return Some(cycle);
                        }
                        State::Done => {}
                    },
                    None => {
                        state.insert(node, State::Done);
                        stack.pop();
                    }
                }
            }
        }
        None
    }

    /// Direct dependencies (declared and implied), sorted.
    pub fn direct(&self, service: &str) -> impl Iterator<Item = &str> {
        self.all
            .get(service)
            .into_iter()
            .flatten()
            .map(String::as_str)
    }

    /// Everything `service` requires, transitively, through all edges.
    pub fn requires(&self, service: &str) -> BTreeSet<String> {
        closure(&self.all, service)
    }

    /// Everything `service` requires through `requires` only (link variables).
    pub fn declared_requires(&self, service: &str) -> BTreeSet<String> {
        closure(&self.declared, service)
    }

    /// Every service that requires `service`, transitively.
    pub fn needed_for(&self, service: &str) -> BTreeSet<String> {
        closure(&self.dependents, service)
    }

    /// The `deptree` drawing of the given services (sorted by name), one tree
    /// each with a blank line between; each dependency shown once per tree
    /// unless `recursive`.
    pub fn deptree(&self, services: &[String], recursive: bool) -> String {
        let mut roots: Vec<&String> = services.iter().collect();
        roots.sort();
        roots.dedup();
        let mut out = String::new();
        for (i, root) in roots.iter().enumerate() {
            if i > 0 {
                out.push('\n');
            }
            out.push_str(root);
            out.push('\n');
            let mut shown: BTreeSet<&str> = BTreeSet::new();
            // (service, indent) frames; children computed when a frame opens.
            let mut stack: Vec<(Vec<&str>, String)> = Vec::new();
            let children = self.children(root, recursive, &mut shown);
            stack.push((children, " ".to_string()));
            while let Some((pending, indent)) = stack.last_mut() {
                if pending.is_empty() {
                    stack.pop();
                    continue;
                }
                let dep = pending.remove(0);
                let last = pending.is_empty();
                out.push_str(&format!(
                    "{}{} {}\n",
                    indent,
                    if last { "\\-" } else { "+-" },
                    dep
                ));
                let child_indent = format!("{}{}", indent, if last { "  " } else { "|  " });
                let children = self.children(dep, recursive, &mut shown);
                stack.push((children, child_indent));
            }
        }
        out
    }

    fn children<'a>(
        &'a self,
        service: &str,
        recursive: bool,
        shown: &mut BTreeSet<&'a str>,
    ) -> Vec<&'a str> {
        let deps: Vec<&str> = self
            .all
            .get(service)
            .into_iter()
            .flatten()
            .map(String::as_str)
            .filter(|d| recursive || !shown.contains(d))
            .collect();
        shown.extend(deps.iter().copied());
        deps
    }
}

fn closure(edges: &HashMap<String, BTreeSet<String>>, start: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut todo: Vec<&str> = edges
        .get(start)
        .into_iter()
        .flatten()
        .map(String::as_str)
        .collect();
    while let Some(next) = todo.pop() {
        if seen.insert(next.to_string()) {
            todo.extend(edges.get(next).into_iter().flatten().map(String::as_str));
        }
    }
    seen
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(edges: &[(&str, &[&str])]) -> DependencyGraph {
        let declared = edges
            .iter()
            .map(|(s, d)| (s.to_string(), d.iter().map(|x| x.to_string()).collect()))
            .collect();
        DependencyGraph::new(declared, HashMap::new())
    }

    #[test]
    fn deptree_shape() {
        let g = graph(&[
            ("a", &[]),
            ("b", &["a"]),
            ("c", &[]),
            ("d", &["c"]),
            ("e", &["b", "d"]),
        ]);
        assert_eq!(
            g.deptree(&["e".into()], false),
            "e\n +- b\n |  \\- a\n \\- d\n   \\- c\n"
        );
    }

    #[test]
    fn shown_once_unless_recursive() {
        let g = graph(&[("a", &[]), ("b", &["a"]), ("c", &["a", "b"])]);
        assert_eq!(g.deptree(&["c".into()], false), "c\n +- a\n \\- b\n");
        assert_eq!(
            g.deptree(&["c".into()], true),
            "c\n +- a\n \\- b\n   \\- a\n"
        );
    }

    #[test]
    fn cycles_are_named() {
        let g = graph(&[("a", &["b"]), ("b", &["c"]), ("c", &["a"]), ("d", &[])]);
        assert_eq!(
            g.find_cycle(),
            Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
        );
        let g = graph(&[("a", &["a"])]);
        assert_eq!(g.find_cycle(), Some(vec!["a".into(), "a".into()]));
    }

    #[test]
    fn transitive_sets() {
        let g = graph(&[("a", &[]), ("b", &["a"]), ("c", &["b"])]);
        assert_eq!(
            g.requires("c").into_iter().collect::<Vec<_>>(),
            vec!["a", "b"]
        );
        assert_eq!(
            g.needed_for("a").into_iter().collect::<Vec<_>>(),
            vec!["b", "c"]
        );
    }
}
