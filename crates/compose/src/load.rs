//! Reading the files of a project: each file parsed, interpolated, its
//! `include`s loaded, its services normalized (their `extends` merged onto
//! their bases), its resources read; the files then merged in order.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value as Json};

use crate::convert::{absolute, FileCtx};
use crate::error::{ComposeError, Loc};
use crate::interpolate::interpolate_node;
use crate::session::Session;
use crate::yaml::{self, Node, Value};
use crate::{dotenv, merge, resources, service};

/// What the files say, merged.
#[derive(Debug, Default)]
pub struct Model {
    /// The top-level `name` and where it was written.
    pub name: Option<(String, Loc)>,
    pub services: Map<String, Json>,
    /// Where each service was first defined.
    pub service_locs: BTreeMap<String, Loc>,
    pub networks: Map<String, Json>,
    pub volumes: Map<String, Json>,
    pub secrets: Map<String, Json>,
    pub configs: Map<String, Json>,
    pub extensions: Map<String, Json>,
    /// Where each top-level `x-` key was last written.
    pub extension_locs: BTreeMap<String, Loc>,
}

impl Model {
    /// Merges a later file's model onto this one.
    pub fn merge(&mut self, later: Model) {
        if later.name.is_some() {
            self.name = later.name;
        }
        for (name, svc) in later.services {
            let Json::Object(over) = svc else { continue };
            if over.len() == 1 && over.contains_key(merge::RESET) {
                self.services.remove(&name);
                continue;
            }
            match self.services.get_mut(&name) {
                Some(Json::Object(base)) => merge::service(base, over),
                _ => {
                    self.services.insert(name, Json::Object(over));
                }
            }
        }
        for (name, loc) in later.service_locs {
            self.service_locs.entry(name).or_insert(loc);
        }
        self.extension_locs.extend(later.extension_locs);
        let pairs = [
            (&mut self.networks, later.networks),
            (&mut self.volumes, later.volumes),
            (&mut self.secrets, later.secrets),
            (&mut self.configs, later.configs),
        ];
        for (mine, theirs) in pairs {
            for (k, v) in theirs {
                match mine.get_mut(&k) {
                    Some(old) => merge::value(old, v),
                    None => {
                        mine.insert(k, v);
                    }
                }
            }
        } // Extensions are replaced whole by a later file, as compose-go merges `x-` keys.
        for (k, v) in later.extensions {
            self.extensions.insert(k, v);
        }
    }
}

const TOP_LEVEL: &str =
    "services, networks, volumes, secrets, configs, include, name or an x- extension";

pub struct Loader {
    pub session: Session,
    /// The project directory: names of files under it are shown relative to it.
    pub project_dir: PathBuf,
    extending: Vec<(String, String)>,
    including: Vec<PathBuf>,
}

impl Loader {
    pub fn new(session: Session, project_dir: PathBuf) -> Self {
        Loader {
            session,
            project_dir,
            extending: Vec::new(),
            including: Vec::new(),
        }
    }

    /// How a file that a file names is shown in messages.
    fn display(&self, path: &Path) -> String {
        path.strip_prefix(&self.project_dir)
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_else(|_| path.to_string_lossy().into_owned())
    }

    /// Reads, parses and interpolates one file.
    fn read(&mut self, path: &Path, display: &str) -> Result<Node, ComposeError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ComposeError::in_file(display, format!("cannot read the file: {e}")))?;
        let mut root = yaml::parse(&text, display)?;
        let mut unset = Vec::new();
        let env = &self.session.env;
        interpolate_node(&mut root, display, "", &|n| env.get(n).cloned(), &mut unset)?;
        for (name, loc) in unset {
            self.session.warn(
                loc,
                format!("the variable {name} is not set; using an empty string"),
            );
        }
        Ok(root)
    }

    /// One file (and what it includes), as a model; `dir` resolves its
    /// relative paths.
    pub fn file(&mut self, path: &Path, display: &str, dir: &Path) -> Result<Model, ComposeError> {
        let root = self.read(path, display)?;
        let fc = FileCtx {
            file: display.to_string(),
            dir: dir.to_path_buf(),
        };
        let entries = match &root.value {
            Value::Null => return Ok(Model::default()),
            Value::Map(e) => e,
            _ => return Err(fc.expected(&root, "", "a mapping of top-level keys")),
        };
        let mut model = Model::default();
        let home = self.session.lookup("HOME");
        for (key, knode, v) in entries {
            match key.as_str() {
                "version" => self.session.warn(
                    fc.loc(knode, key),
                    "the top-level `version` is obsolete and ignored",
                ),
                "name" => {
                    let name = fc.string(v, key)?;
                    if !valid_project_name(&name) {
                        return Err(fc.err(v, key, format!("project name `{name}` must contain only lowercase letters, digits, dashes and underscores, and start with a letter or a digit")));
                    }
                    model.name = Some((name, fc.loc(v, key)));
                }
                "services" => self.services(&fc, v, &mut model)?,
                "networks" | "volumes" | "secrets" | "configs" => {
                    let section = resources::section(&fc, key, v, home.as_deref())?;
                    let slot = match key.as_str() {
                        "networks" => &mut model.networks,
                        "volumes" => &mut model.volumes,
                        "secrets" => &mut model.secrets,
                        _ => &mut model.configs,
                    };
                    *slot = section;
                }
                "include" => {}
                x if x.starts_with("x-") => {
                    model.extension_locs.insert(key.clone(), fc.loc(knode, key));
                    model
                        .extensions
                        .insert(key.clone(), crate::convert::to_json(v));
                }
                _ => {
                    return Err(fc.err(
                        knode,
                        key,
                        format!("unknown top-level key `{key}`; expected {TOP_LEVEL}"),
                    ))
                }
            }
        }
        if let Some(include) = root.get("include") {
            self.includes(&fc, include, &mut model)?;
        }
        Ok(model)
    }

    fn services(
        &mut self,
        fc: &FileCtx,
        node: &Node,
        model: &mut Model,
    ) -> Result<(), ComposeError> {
        if matches!(node.value, Value::Null) {
            return Ok(());
        }
        for (name, knode, v) in fc.map(node, "services")? {
            let path = format!("services/{name}");
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
            {
                return Err(fc.err(
                    knode,
                    &path,
                    format!(
                        "invalid service name `{name}`; expected letters, digits, `.`, `_` and `-`"
                    ),
                ));
            }
            model
                .service_locs
                .insert(name.clone(), fc.loc(knode, &path));
            if v.tag.as_deref() == Some("reset") {
                model
                    .services
                    .insert(name.clone(), json!({ merge::RESET: true }));
                continue;
            }
            let svc = self.service(fc, node, name, v, &path)?;
            model.services.insert(name.clone(), Json::Object(svc));
        }
        Ok(())
    }

    /// One service with its `extends` chain merged under it.
    fn service(
        &mut self,
        fc: &FileCtx,
        services: &Node,
        name: &str,
        node: &Node,
        path: &str,
    ) -> Result<Map<String, Json>, ComposeError> {
        let own = service::normalize(&mut self.session, fc, name, node, path)?;
        let Some(ext) = node.get("extends") else {
            return Ok(own);
        };
        let ep = format!("{path}/extends");
        self.extending.push((fc.file.clone(), name.to_string()));
        let base = self.base(fc, services, name, ext, &ep);
        self.extending.pop();
        let mut base = base?;
        merge::service(&mut base, own);
        Ok(base)
    }

    /// The normalized service an `extends` names.
    fn base(
        &mut self,
        fc: &FileCtx,
        services: &Node,
        name: &str,
        ext: &Node,
        ep: &str,
    ) -> Result<Map<String, Json>, ComposeError> {
        let Extends {
            service: base_name,
            file,
            node: name_node,
        } = extends_form(fc, ext, ep)?;
        let Some((file, fnode)) = file else {
            self.check_cycle(fc, name_node, ep, &(fc.file.clone(), base_name.clone()))?;
            let base_node = services.get(&base_name).ok_or_else(|| {
                fc.err(
                    name_node,
                    ep,
                    format!(
                        "service `{name}` extends `{base_name}`, which is not a service of {}",
                        fc.file
                    ),
                )
            })?;
            return self.service(
                fc,
                services,
                &base_name,
                base_node,
                &format!("services/{base_name}"),
            );
        };
        let abs = PathBuf::from(absolute(&fc.dir, &file, None));
        let display = self.display(&abs);
        if !abs.is_file() {
            return Err(fc.err(
                fnode,
                &format!("{ep}/file"),
                format!("extended file {display} not found"),
            ));
        }
        self.check_cycle(fc, name_node, ep, &(display.clone(), base_name.clone()))?;
        let other = self.read(&abs, &display)?;
        let ofc = FileCtx {
            file: display.clone(),
            dir: abs.parent().map(Path::to_path_buf).unwrap_or_default(),
        };
        let osvcs = other
            .get("services")
            .cloned()
            .unwrap_or(Node::null(other.mark));
        let base_node = osvcs.get(&base_name).ok_or_else(|| {
            fc.err(
                name_node,
                ep,
                format!(
                    "service `{name}` extends `{base_name}`, which is not a service of {display}"
                ),
            )
        })?;
        self.service(
            &ofc,
            &osvcs,
            &base_name,
            base_node,
            &format!("services/{base_name}"),
        )
    }

    fn check_cycle(
        &self,
        fc: &FileCtx,
        node: &Node,
        path: &str,
        key: &(String, String),
    ) -> Result<(), ComposeError> {
        if self.extending.contains(key) {
            let chain: Vec<String> = self
                .extending
                .iter()
                .map(|(_, s)| s.clone())
                .chain([key.1.clone()])
                .collect();
            return Err(fc.err(
                node,
                path,
                format!("`extends` makes a cycle: {}", chain.join(" -> ")),
            ));
        }
        Ok(())
    }

    fn includes(
        &mut self,
        fc: &FileCtx,
        node: &Node,
        model: &mut Model,
    ) -> Result<(), ComposeError> {
        for (i, item) in fc.seq(node, "include")?.iter().enumerate() {
            let ip = format!("include[{i}]");
            let IncludeForm {
                paths,
                project_dir,
                env_files,
            } = include_form(fc, item, &ip)?;
            let first = PathBuf::from(fc.host_path(&paths[0].0, None));
            let dir = project_dir
                .map(PathBuf::from)
                .unwrap_or_else(|| first.parent().map(Path::to_path_buf).unwrap_or_default());
            let saved = self.session.env.clone();
            self.include_env(fc, item, &ip, &dir, env_files)?;
            let included = self.included(fc, &ip, &paths, &dir)?;
            self.session.env = saved;
            for name in included.services.keys() {
                if model.services.contains_key(name) {
                    return Err(fc.err(
                        item,
                        &ip,
                        format!(
                            "service `{name}` is defined both here and in the included file {}",
                            paths[0].0
                        ),
                    ));
                }
            }
            let mut merged = included;
            merged.merge(std::mem::take(model));
            *model = merged;
        }
        Ok(())
    }

    /// The variables of an include's env files (its `.env` when it names
    /// none) added to the session's, for reading the included files.
    fn include_env(
        &mut self,
        fc: &FileCtx,
        item: &Node,
        ip: &str,
        dir: &Path,
        env_files: Vec<(String, &Node)>,
    ) -> Result<(), ComposeError> {
        let env_files: Vec<(String, &Node)> = if env_files.is_empty() {
            let dotenv = dir.join(".env");
            if dotenv.is_file() {
                vec![(dotenv.to_string_lossy().into_owned(), item)]
            } else {
                Vec::new()
            }
        } else {
            env_files
        };
        for (f, n) in env_files {
            let text = std::fs::read_to_string(&f)
                .map_err(|_| fc.err(n, ip, format!("env file {f} not found")))?;
            let env = &self.session.env;
            let entries = dotenv::parse(&text, &f, &|k| env.get(k).cloned())?;
            for (k, v) in entries {
                if let Some(v) = v {
                    self.session.env.entry(k).or_insert(v);
                }
            }
        }
        Ok(())
    }

    /// The model of an include's files, merged in order, without a name.
    fn included(
        &mut self,
        fc: &FileCtx,
        ip: &str,
        paths: &[(String, &Node)],
        dir: &Path,
    ) -> Result<Model, ComposeError> {
        let mut included = Model::default();
        for (p, pnode) in paths {
            let abs = PathBuf::from(fc.host_path(p, None));
            let display = self.display(&abs);
            if !abs.is_file() {
                return Err(fc.err(pnode, ip, format!("included file {display} not found")));
            }
            if self.including.contains(&abs) {
                return Err(fc.err(
                    pnode,
                    ip,
                    format!("{display} includes itself through `include`"),
                ));
            }
            self.including.push(abs.clone());
            let m = self.file(&abs, &display, dir);
            self.including.pop();
            included.merge(m?);
        }
        included.name = None;
        Ok(included)
    }
}

/// An `extends`, in either form: the service, its file (with its node)
/// when another, and the node naming the service (for messages).
struct Extends<'n> {
    service: String,
    file: Option<(String, &'n Node)>,
    node: &'n Node,
}

fn extends_form<'n>(fc: &FileCtx, ext: &'n Node, ep: &str) -> Result<Extends<'n>, ComposeError> {
    match &ext.value {
        Value::Str(s) => Ok(Extends {
            service: s.clone(),
            file: None,
            node: ext,
        }),
        Value::Map(_) => {
            let sn = ext
                .get("service")
                .ok_or_else(|| fc.err(ext, ep, "`extends` needs `service`"))?;
            let file = match ext.get("file") {
                Some(f) => Some((fc.string(f, &format!("{ep}/file"))?, f)),
                None => None,
            };
            Ok(Extends {
                service: fc.string(sn, &format!("{ep}/service"))?,
                file,
                node: sn,
            })
        }
        _ => Err(fc.expected(ext, ep, "a service name or a mapping with service and file")),
    }
}

/// An include, in either form: its files, its project directory, its env
/// files (each with its node, for messages).
struct IncludeForm<'n> {
    paths: Vec<(String, &'n Node)>,
    project_dir: Option<String>,
    env_files: Vec<(String, &'n Node)>,
}

fn include_form<'n>(
    fc: &FileCtx,
    item: &'n Node,
    ip: &str,
) -> Result<IncludeForm<'n>, ComposeError> {
    match &item.value {
        Value::Str(p) => Ok(IncludeForm {
            paths: vec![(p.clone(), item)],
            project_dir: None,
            env_files: Vec::new(),
        }),
        Value::Map(_) => {
            let pn = item
                .get("path")
                .ok_or_else(|| fc.err(item, ip, "an include in long form needs `path`"))?;
            let paths = match &pn.value {
                Value::Seq(items) => items
                    .iter()
                    .enumerate()
                    .map(|(j, n)| Ok((fc.string(n, &format!("{ip}/path[{j}]"))?, n)))
                    .collect::<Result<Vec<_>, ComposeError>>()?,
                _ => vec![(fc.string(pn, &format!("{ip}/path"))?, pn)],
            };
            if paths.is_empty() {
                return Err(fc.err(pn, ip, "an include's `path` names no file"));
            }
            let dir = match item.get("project_directory") {
                Some(d) => {
                    Some(fc.host_path(&fc.string(d, &format!("{ip}/project_directory"))?, None))
                }
                None => None,
            };
            let envs = match item.get("env_file") {
                Some(e) => fc
                    .string_or_list(e, &format!("{ip}/env_file"))?
                    .into_iter()
                    .map(|f| (fc.host_path(&f, None), e))
                    .collect(),
                None => Vec::new(),
            };
            Ok(IncludeForm {
                paths,
                project_dir: dir,
                env_files: envs,
            })
        }
        _ => Err(fc.expected(item, ip, "a file path or a mapping with path")),
    }
}

/// A top-level `name` Compose accepts.
pub fn valid_project_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// A directory name as Compose turns it into a project name.
pub fn normalize_project_name(raw: &str) -> String {
    let lower = raw.to_lowercase();
    let kept: String = lower
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-' || *c == '_')
        .collect();
    kept.trim_start_matches(['-', '_']).to_string()
}
